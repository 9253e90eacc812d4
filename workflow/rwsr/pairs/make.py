"""Synthesize aligned LR/HR training pairs from clean HR images.

    HR tile -> blur with a kernel drawn from the KernelGAN pool (or MATLAB bicubic) -> subsample
            -> realistic noise (DSGAN degrader, real noise patches, or none) -> LR

Blur and subsampling go through rwsr.ops.degradation.blur_subsample, the model under which
KernelGAN estimated the kernels, so the synthetic LR follows the real LR's geometry exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rwsr.errors import InputError
from rwsr.io.atomic import write_csv_atomic
from rwsr.io.images import discover_images, read_image, write_image
from rwsr.ops.degradation import blur_subsample, crop_to_multiple, validate_kernel
from rwsr.ops.resize import imresize_array
from rwsr.pairs.noise_patches import collect_noise_patches, inject_noise

log = logging.getLogger(__name__)

PAIR_FIELDS = ("pair", "hr_image", "tile", "sample", "kernel", "kernel_index", "noise", "noise_detail")
# Separates this stage's random stream from other stages that share the config seed.
STAGE_STREAM = 5


def load_kernel_pool(path: str | Path, scale: int) -> tuple[np.ndarray, list[str]]:
    """Kernels (N x K x K) and their image names from the kernels stage's pool.npz."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"kernel pool not found: {path} (run the kernels stage, or set config key 'pairs.kernel' to bicubic)")
    with np.load(path) as pool:
        kernels, names, pool_scale = pool["kernels"], [str(n) for n in pool["images"]], int(pool["scale"])
    if pool_scale != scale:
        raise InputError(f"kernel pool {path} holds x{pool_scale} kernels but config key 'scale' is {scale}")
    if len(kernels) == 0:
        raise InputError(f"kernel pool {path} is empty")
    for kernel, name in zip(kernels, names):
        validate_kernel(kernel, name=f"kernel of {name} in {path}")
    return kernels.astype(np.float32), names


def hr_tiles(pixels: np.ndarray, tile: int, scale: int) -> Iterator[np.ndarray]:
    """Disjoint tile x tile crops (whole image when tile is 0 or larger than the image),
    each a multiple of `scale` so the LR is exactly HR / scale."""
    pixels = crop_to_multiple(pixels, scale)
    height, width = pixels.shape[:2]
    if tile == 0 or tile > min(height, width):
        yield pixels
        return
    for top in range(0, height - tile + 1, tile):
        for left in range(0, width - tile + 1, tile):
            yield pixels[top : top + tile, left : left + tile]


def kernel_draws(rng: np.random.Generator, pool_size: int) -> Iterator[int]:
    """Kernel indices in successive random permutations of the pool: every kernel is used once
    before any is used twice, so the draws cover the pool."""
    while True:
        yield from (int(i) for i in rng.permutation(pool_size))


class NoiseModel:
    """The configured noise step: `apply(lr, rng)` -> (noisy LR, description for pairs.csv)."""

    def __init__(self, kind: str, settings: Mapping[str, Any], degrader: str | Path | None,
                 real_lr_dir: str | Path | None, device: str):
        self.kind = kind
        if kind == "dsgan":
            if degrader is None or not Path(degrader).is_file():
                raise InputError(f"config key 'pairs.noise' is dsgan but the degrader checkpoint is missing: {degrader}")
            from rwsr.degrader.apply import load_degrader
            from rwsr.device import resolve_device

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
            from rwsr.degrader.apply import degrade_pixels

            return degrade_pixels(self.generator, lr, self.device, tile=self.tile), self.source
        if self.kind == "patches":
            noisy, drawn = inject_noise(lr, self.patches, rng)
            return noisy, "patches " + " ".join(map(str, drawn))
        return lr, ""


def make_pairs(
    config: Mapping[str, Any],
    hr_dir: str | Path,
    outdir: str | Path,
    kernel_pool: str | Path | None = None,
    degrader: str | Path | None = None,
    real_lr_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Write outdir/lr/<pair>.png, outdir/hr/<pair>.png and outdir/pairs.csv; return the rows."""
    settings, scale, seed = config["pairs"], config["scale"], config["seed"]
    outdir = Path(outdir)
    if settings["tile"] % scale:
        raise InputError(f"config key 'pairs.tile' ({settings['tile']}) must be a multiple of scale {scale}")
    if settings["kernel"] == "pool":
        if kernel_pool is None:
            raise InputError("config key 'pairs.kernel' is pool but no kernel pool file was given")
        kernels, kernel_names = load_kernel_pool(kernel_pool, scale)
        draws = kernel_draws(np.random.default_rng([seed, STAGE_STREAM]), len(kernels))
    noise = NoiseModel(settings["noise"], settings, degrader, real_lr_dir, config["device"])

    rows = []
    for image_index, (stem, path) in enumerate(sorted(discover_images(hr_dir, "clean HR folder").items())):
        for tile_index, hr in enumerate(hr_tiles(read_image(path).pixels, settings["tile"], scale)):
            for sample in range(settings["samples_per_image"]):
                if settings["kernel"] == "pool":
                    kernel_index = next(draws)
                    lr, kernel_name = blur_subsample(hr, kernels[kernel_index], scale), kernel_names[kernel_index]
                else:
                    kernel_index, kernel_name = -1, "bicubic"
                    lr = np.clip(imresize_array(hr, 1.0 / scale), 0.0, 1.0)
                rng = np.random.default_rng([seed, STAGE_STREAM, image_index, tile_index, sample])
                lr, noise_detail = noise.apply(lr, rng)
                pair = f"{stem}_t{tile_index:03d}_s{sample}"
                write_image(outdir / "hr" / f"{pair}.png", hr)
                write_image(outdir / "lr" / f"{pair}.png", lr)
                rows.append({"pair": pair, "hr_image": stem, "tile": tile_index, "sample": sample,
                             "kernel": kernel_name, "kernel_index": kernel_index, "noise": settings["noise"],
                             "noise_detail": noise_detail})
    write_csv_atomic(outdir / "pairs.csv", PAIR_FIELDS, rows)  # last: its presence means the set is complete  # last: its presence means the set is complete
    log.info("wrote %d pairs to %s (kernel %s, noise %s)", len(rows), outdir, settings["kernel"], settings["noise"])
    return rows
