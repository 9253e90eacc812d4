"""`rwsr kernelgan`: images in, per-image kernel folders out.

Images are trained in batches (rwsr.kernels.train): all images given to one call share kernel
launches, `batch_size` at a time. Each output folder gets kernel_x2.npy, kernel_x4.npy (scale 4),
kernel.png, log.csv, settings.json (the effective settings, as BasicSR keeps beside a run) and
confidence.json (the image's edge evidence, rwsr.kernels.crops.edge_evidence, which the pool
weighs draws by).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rwsr.errors import InputError
from rwsr.io.images import read_image
from rwsr.io.losslog import LossLog
from rwsr.kernels.crops import edge_evidence
from rwsr.kernels.kernel_ops import compose_x4, post_process
from rwsr.kernels.pool import check_outdirs, write_kernel_folder
from rwsr.io.progress import progress_bar
from rwsr.kernels.train import LOG_FIELDS, KernelGANSettings, image_seed, train_batch

log = logging.getLogger(__name__)

# Smallest crop that still trains: G's 13x13 kernel and stride 2 leave (crop-13)//2+1 = 10 pixels
# for D, whose 7x7 receptive field then still sees 4x4 positions.
MIN_CROP = 32


def effective_crop(path: Path, pixels: np.ndarray, crop: int) -> int:
    """The configured crop, or (documented fallback) the image's shorter side when it is smaller."""
    side = min(pixels.shape[:2])
    if side >= crop:
        return crop
    if side < MIN_CROP:
        raise InputError(
            f"image {path} is too small for KernelGAN: {pixels.shape[1]}x{pixels.shape[0]} pixels, "
            f"need at least {MIN_CROP} on each side (config key kernels.crop is {crop})"
        )
    log.warning("%s: shorter side %d < kernels.crop %d; using %dx%d crops", path, side, crop, side, side)
    return side


def write_outputs(outdir: Path, raw: np.ndarray, scale: int, settings: KernelGANSettings, meta: dict[str, Any],
                  evidence: dict[str, float]) -> np.ndarray:
    """Post-process the raw kernel and write the folder's files; returns the kernel at `scale`."""
    kernel_x2 = post_process(raw, settings.keep_largest)
    kernels = {"x2": kernel_x2}
    if scale == 4:
        kernels["x4"] = compose_x4(kernel_x2)
    write_kernel_folder(outdir, kernels, {**meta, "kernels": settings.as_dict()}, evidence)
    return kernels[f"x{scale}"]


def run_kernelgan(
    inputs: Sequence[str | Path],
    outdirs: Sequence[str | Path],
    config: Mapping[str, Any],
    iterations: int | None = None,
) -> dict[str, np.ndarray]:
    """Estimate each input's kernel into its output folder; returns name -> kernel at config scale."""
    import torch

    from rwsr.device import resolve_device

    check_outdirs("kernelgan", inputs, outdirs)
    # What ran is KernelGAN, whichever estimator the config names (settings.json records it).
    overrides = {"estimator": "kernelgan", **({"iterations": iterations} if iterations is not None else {})}
    settings = KernelGANSettings.from_config(config, **overrides)
    device, scale = resolve_device(config["device"]), config["scale"]
    torch.manual_seed(config["seed"])  # nothing should draw from it; belt and braces

    jobs = []
    for path, outdir in zip(map(Path, inputs), map(Path, outdirs)):
        pixels = read_image(path).pixels
        jobs.append((path, outdir, pixels, effective_crop(path, pixels, settings.crop), image_seed(config["seed"], path.stem)))
    # Images of one crop size train together, batch_size at a time.
    jobs.sort(key=lambda job: job[3])
    batches = [
        chunk
        for crop in sorted({job[3] for job in jobs})
        for same in [[job for job in jobs if job[3] == crop]]
        for chunk in (same[i : i + settings.batch_size] for i in range(0, len(same), settings.batch_size))
    ]

    results: dict[str, np.ndarray] = {}
    # Over images (a batch at a time); train_batch's own bar counts the iterations within a batch.
    images_bar = progress_bar(total=len(jobs), desc="KernelGAN images", unit="image", enabled=len(batches) >= 2)
    for number, batch in enumerate(batches, 1):
        logs = []
        for _, outdir, *_ in batch:
            outdir.mkdir(parents=True, exist_ok=True)
            logs.append(LossLog(outdir / ".log.csv.part", LOG_FIELDS))
            logs[-1].start()
        start = time.perf_counter()
        raw = train_batch(
            [job[2] for job in batch],
            [job[4] for job in batch],
            settings,
            device,
            crop=batch[0][3],
            on_log=lambda b, step, values: logs[b].write(step, values),
            progress=f"KernelGAN batch {number}/{len(batches)}" if len(batches) > 1 else f"KernelGAN {', '.join(job[0].stem for job in batch)}",
        )
        seconds = time.perf_counter() - start
        log.info("KernelGAN on %d image(s), %d iterations, %s: %.1f s", len(batch), settings.iterations, device, seconds)
        for b, (path, outdir, pixels, crop, seed) in enumerate(batch):
            meta = {"input": str(path), "seed": seed, "device": str(device), "scale": scale, "crop": crop,
                    "batch": len(batch), "seconds": round(seconds, 2)}
            evidence = edge_evidence(pixels)
            if evidence["confidence"] < 1.0:
                log.warning("%s: few edges (%.2f%% of pixels), kernel confidence %.3f", path, 100 * evidence["edge_fraction"], evidence["confidence"])
            results[path.stem] = write_outputs(outdir, raw[b], scale, settings, meta, evidence)
            os.replace(logs[b].path, outdir / "log.csv")  # last: a finished log means a finished folder
        images_bar.update(len(batch))
    images_bar.close()
    return results
