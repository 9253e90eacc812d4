"""Synthesize aligned LR/HR training pairs from clean HR images.

    whole HR image -> blur with a kernel drawn from the KernelGAN pool (or MATLAB bicubic)
        -> subsample -> realistic noise (DSGAN degrader, real noise patches, or none)
        -> JPEG like the real LR's -> LR; then aligned tiles (HR at scale * t, LR at t)

Whole images are degraded before tiling, so no tile edge ever sees a padded border that the
real photos do not have: the blur and the degrader get real context everywhere.
Blur and subsampling go through rwsr.ops.degradation.blur_subsample, the model under which
KernelGAN estimated the kernels, so the synthetic LR follows the real LR's geometry exactly.
`oracle` mode replaces every estimated part with the demo's hidden degradation, the ceiling the
pipeline is judged against.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rwsr.config import DEGRADER_SOURCE_FOR_KERNEL
from rwsr.data.demo import hidden_kernel_path
from rwsr.errors import InputError
from rwsr.io.atomic import write_csv_atomic
from rwsr.io.images import discover_images, read_image, write_image
from rwsr.kernels.pool import load_pool, load_pool_weights
from rwsr.ops.degradation import add_gaussian_noise, blur_subsample, crop_to_multiple, validate_kernel
from rwsr.ops.jpeg import Compression, compression_from_setting
from rwsr.ops.resize import imresize_array
from rwsr.pairs.fidelity import FidelityRecorder
from rwsr.pairs.noise_patches import collect_noise_patches, inject_noise

log = logging.getLogger(__name__)

PAIR_FIELDS = ("pair", "hr_image", "tile", "sample", "kernel", "kernel_index", "noise", "noise_detail", "jpeg_quality")
# Separates this stage's random stream from other stages that share the config seed.
STAGE_STREAM = 5


@dataclass(frozen=True)
class KernelPool:
    """Kernels (N x K x K), the image each was estimated on, and draw weights (None: uniform)."""

    kernels: np.ndarray
    names: list[str]
    weights: np.ndarray | None = None

    def draws(self, rng: np.random.Generator) -> Iterator[int]:
        """Kernel indices. Uniform pools (no weights, or all non-zero weights equal) go through
        successive random permutations of the kernels with a weight, so every kernel is used once
        before any is used twice; weighted pools draw by their weights."""
        active = np.arange(len(self.kernels)) if self.weights is None else np.flatnonzero(self.weights > 0)
        uniform = self.weights is None or np.allclose(self.weights[active], self.weights[active[0]])
        while True:
            if uniform:
                yield from (int(active[i]) for i in rng.permutation(len(active)))
            else:
                yield int(rng.choice(len(self.kernels), p=self.weights))


def load_kernel_pool(path: str | Path, scale: int) -> KernelPool:
    """The kernels stage's pool.npz (rwsr.kernels.pool's readers), checked for this run's scale."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"kernel pool not found: {path} (run the kernels stage, or set config key 'pairs.kernel' to bicubic)")
    kernels, names, pool_scale = load_pool(path)
    if pool_scale != scale:
        raise InputError(f"kernel pool {path} holds x{pool_scale} kernels but config key 'scale' is {scale}")
    if len(kernels) == 0:
        raise InputError(f"kernel pool {path} is empty")
    for kernel, name in zip(kernels, names):
        validate_kernel(kernel, name=f"kernel of {name} in {path}")
    weights = load_pool_weights(path)
    if weights.shape != (len(kernels),) or not np.all(weights >= 0) or weights.sum() <= 0:
        raise InputError(f"kernel pool {path}: weights must be {len(kernels)} non-negative numbers, not all 0")
    return KernelPool(kernels, names, weights / weights.sum())


def aligned_tiles(hr: np.ndarray, lr: np.ndarray, tile: int, scale: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Disjoint (HR tile x tile, LR tile/scale) crops at the same place (HR pixel scale*i is
    LR pixel i); the whole pair when tile is 0 or larger than the image."""
    height, width = hr.shape[:2]
    if tile == 0 or tile > min(height, width):
        yield hr, lr
        return
    small = tile // scale
    for top in range(0, height - tile + 1, tile):
        for left in range(0, width - tile + 1, tile):
            lr_top, lr_left = top // scale, left // scale
            yield (hr[top : top + tile, left : left + tile], lr[lr_top : lr_top + small, lr_left : lr_left + small])


class NoiseModel:
    """The noise step: `apply(lr, rng)` -> (noisy LR, description for pairs.csv)."""

    def __init__(self, kind: str, settings: Mapping[str, Any], degrader: str | Path | None = None,
                 real_lr_dir: str | Path | None = None, device: str = "cpu", sigma: float = 0.0,
                 input_domain: str | None = None):  # fmt: skip
        self.kind = kind
        self.sigma = sigma
        if kind == "dsgan":
            if degrader is None or not Path(degrader).is_file():
                raise InputError(f"config key 'pairs.noise' is dsgan but the degrader checkpoint is missing: {degrader}")
            from rwsr.degrader.apply import load_degrader, trained_input_domain
            from rwsr.device import resolve_device

            domain = trained_input_domain(degrader)
            if input_domain is not None and domain != input_domain:
                raise InputError(
                    f"degrader {degrader} was trained on {domain} LR but the pairs degrade {input_domain} LR; "
                    f"make config keys 'degrader.source' and 'pairs.kernel' agree (kernel with pool, bicubic with bicubic)"
                )
            self.device = resolve_device(device)
            self.generator = load_degrader(degrader, self.device)
            self.tile = settings["degrader_tile"]
            self.source = str(degrader)
        elif kind == "patches":
            if real_lr_dir is None:
                raise InputError("config key 'pairs.noise' is patches but no real LR folder was given")
            images = (read_image(path).pixels for path in discover_images(real_lr_dir, "real LR folder").values())
            self.patches = collect_noise_patches(images, settings["noise_patches"])
            log.info("collected %d flat noise patches from %s", len(self.patches), real_lr_dir)

    def apply(self, lr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        if self.kind == "dsgan":
            import torch

            from rwsr.degrader.apply import check_degrader_output, degrade_pixels

            torch.manual_seed(int(rng.integers(2**31)))  # the generator's noise input, if it has one
            degraded = degrade_pixels(self.generator, lr, self.device, tile=self.tile)
            check_degrader_output(degraded, f"an image degraded by {self.source}", source=lr)
            return degraded, self.source
        if self.kind == "patches":
            noisy, drawn = inject_noise(lr, self.patches, rng)
            return noisy, "patches " + " ".join(map(str, drawn))
        if self.kind == "gaussian":
            return add_gaussian_noise(lr, self.sigma, rng), f"sigma {self.sigma:g}"
        return lr, ""


@dataclass
class Synthesis:
    """The degradation chain of one pair set: blur + subsample, noise, compression."""

    scale: int
    noise: NoiseModel
    compression: Compression
    pool: KernelPool | None = None  # None: MATLAB bicubic downscaling

    def degrade(self, hr: np.ndarray, kernel_index: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:  # fmt: skip
        """The LR of a whole HR image (a multiple of scale), the same LR before noise and
        compression (what fidelity compares the colours with), and its pairs.csv fields."""
        if self.pool is not None:
            clean = blur_subsample(hr, self.pool.kernels[kernel_index], self.scale)
            kernel_name = self.pool.names[kernel_index]
        else:
            clean, kernel_name, kernel_index = np.clip(imresize_array(hr, 1.0 / self.scale), 0.0, 1.0), "bicubic", -1
        lr, noise_detail = self.noise.apply(clean, rng)
        lr, quality = self.compression.apply(lr, rng)
        fields = {"kernel": kernel_name, "kernel_index": kernel_index, "noise": self.noise.kind,
                  "noise_detail": noise_detail, "jpeg_quality": "" if quality is None else quality}  # fmt: skip
        return lr, clean, fields


def configured_synthesis(config: Mapping[str, Any], kernel_pool: str | Path | None, degrader: str | Path | None,
                         real_lr_dir: str | Path | None, real_lr_qualities: Sequence[int | None] | None) -> Synthesis:  # fmt: skip
    """The chain the config's pairs section describes."""
    settings, scale = config["pairs"], config["scale"]
    pool = None
    if settings["kernel"] == "pool":
        if kernel_pool is None:
            raise InputError("config key 'pairs.kernel' is pool but no kernel pool file was given")
        pool = load_kernel_pool(kernel_pool, scale)
    noise = NoiseModel(settings["noise"], settings, degrader, real_lr_dir, config["device"],
                       input_domain=DEGRADER_SOURCE_FOR_KERNEL[settings["kernel"]])  # fmt: skip
    compression = compression_from_setting(settings["jpeg_quality"], real_lr_qualities)
    return Synthesis(scale, noise, compression, pool)


def oracle_synthesis(config: Mapping[str, Any], table: str | Path) -> Synthesis:
    """The hidden degradation of the demo's real LR set (degradations.csv and kernels/ beside
    it): its true kernels, its Gaussian noise level, its JPEG quality range."""
    table = Path(table)
    if not table.is_file():
        raise InputError(f"oracle pairs need the hidden degradation table, not found: {table}")
    with table.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["set"] == "real_lr"]
    if not rows:
        raise InputError(f"{table} records no real LR degradation")
    kernels = np.stack([validate_kernel(np.load(hidden_kernel_path(table, row["image"]))) for row in rows])
    sigmas = {float(row["noise_sigma"]) for row in rows}
    if len(sigmas) != 1:
        raise InputError(f"{table}: oracle pairs assume one noise level, found {sorted(sigmas)}")
    qualities = [int(row["jpeg_quality"]) for row in rows]
    pool = KernelPool(kernels, [f"true {row['image']}" for row in rows])
    noise = NoiseModel("gaussian", config["pairs"], sigma=sigmas.pop())
    compression = Compression(tuple(range(min(qualities), max(qualities) + 1)))
    return Synthesis(config["scale"], noise, compression, pool)


def make_pairs(
    config: Mapping[str, Any],
    hr_dir: str | Path,
    outdir: str | Path,
    kernel_pool: str | Path | None = None,
    degrader: str | Path | None = None,
    real_lr_dir: str | Path | None = None,
    real_lr_qualities: Sequence[int | None] | None = None,
    oracle: str | Path | None = None,
    true_kernels: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Write outdir/lr/<pair>.png, outdir/hr/<pair>.png and outdir/pairs.csv; return the rows.

    With `real_lr_dir`, also outdir/fidelity.csv: how close the synthesized LR is to the real
    LR (noise level, high-frequency energy, JPEG quality; kernel errors against `true_kernels`,
    a degradations.csv, when the truth is known) and the colour shift of the noise and
    compression steps."""
    settings, scale, seed = config["pairs"], config["scale"], config["seed"]
    outdir = Path(outdir)
    if settings["tile"] % scale:
        raise InputError(f"config key 'pairs.tile' ({settings['tile']}) must be a multiple of scale {scale}")
    if oracle is not None:
        synthesis = oracle_synthesis(config, oracle)
    else:
        synthesis = configured_synthesis(config, kernel_pool, degrader, real_lr_dir, real_lr_qualities)
    draws = synthesis.pool.draws(np.random.default_rng([seed, STAGE_STREAM])) if synthesis.pool is not None else None
    fidelity = FidelityRecorder()

    rows = []
    for image_index, (stem, path) in enumerate(sorted(discover_images(hr_dir, "clean HR folder").items())):
        hr = crop_to_multiple(read_image(path).pixels, scale)
        for sample in range(settings["samples_per_image"]):
            rng = np.random.default_rng([seed, STAGE_STREAM, image_index, sample])
            lr, clean, fields = synthesis.degrade(hr, next(draws) if draws is not None else -1, rng)
            fidelity.add(lr, fields["jpeg_quality"], clean)
            for tile_index, (hr_tile, lr_tile) in enumerate(aligned_tiles(hr, lr, settings["tile"], scale)):
                pair = f"{stem}_t{tile_index:03d}_s{sample}"
                write_image(outdir / "hr" / f"{pair}.png", hr_tile)
                write_image(outdir / "lr" / f"{pair}.png", lr_tile)
                rows.append({"pair": pair, "hr_image": stem, "tile": tile_index, "sample": sample, **fields})
    if real_lr_dir is not None:
        pool = synthesis.pool if oracle is None else None
        fidelity.write(outdir / "fidelity.csv", real_lr_dir, pool, true_kernels, real_lr_qualities)
    write_csv_atomic(outdir / "pairs.csv", PAIR_FIELDS, rows)  # last: its presence means the set is complete
    log.info("wrote %d pairs to %s (kernel %s, noise %s, compression %s)", len(rows), outdir,
             "pool" if synthesis.pool is not None else "bicubic", synthesis.noise.kind, synthesis.compression.describe())  # fmt: skip
    return rows


# Separates the degrader-source draws from the pairs' own.
KERNEL_LR_STREAM = 6


def write_kernel_lr(config: Mapping[str, Any], hr_dir: str | Path, kernel_pool: str | Path, output: str | Path) -> None:
    """`output/<stem>.png`: every whole HR image blurred with a pool kernel and subsampled, no
    noise. The degrader learns from these what the pairs' kernel blur leaves out of the real LR."""
    scale = config["scale"]
    pool = load_kernel_pool(kernel_pool, scale)
    draws = pool.draws(np.random.default_rng([config["seed"], KERNEL_LR_STREAM]))
    for stem, path in sorted(discover_images(hr_dir, "clean HR folder").items()):
        index = next(draws)
        write_image(Path(output) / f"{stem}.png", blur_subsample(read_image(path).pixels, pool.kernels[index], scale))
        log.info("%s: blurred with the kernel of %s", stem, pool.names[index])
