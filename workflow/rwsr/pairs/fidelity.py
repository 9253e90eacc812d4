"""How close synthesized LR images are to the real LR images they imitate: results/pairs/fidelity.csv.

The sets hold different photos, so each quantity is blind to content: a noise level from weakly
textured patches, the high-frequency energy, the JPEG qualities; and, where the hidden kernels
are known (the demo), each estimated kernel's distance to the truth. One quantity compares each
synthesized image with itself instead: the colour shift of its noise and compression steps, which
a real camera's noise does not make.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rwsr.data.demo import hidden_kernel_path
from rwsr.io.atomic import write_csv_atomic
from rwsr.io.images import discover_images, read_image
from rwsr.kernels.kernel_ops import pad_to
from rwsr.ops.noise_level import high_frequency_energy, noise_sigma

log = logging.getLogger(__name__)

FIDELITY_FIELDS = ("quantity", "synthesized", "real", "ratio", "note")
# Synthesized noise within this factor of the real one counts as matched; outside it, a warning.
NOISE_RATIO_RANGE = (0.75, 1.33)
# Mean colour change (largest channel, [0, 1] units) that the noise and compression steps may make
# to an image: zero-mean noise clipped at black or white and JPEG's chroma rounding stay well under
# it; a degrader that tints passes it (the demo's once shifted red by 0.028), and SR trained on
# its pairs learns the opposite tint.
COLOUR_SHIFT_LIMIT = 0.01


def kernel_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Half the L1 distance of two kernels on one grid: the fraction of the mass misplaced (0 to 1)."""
    size = max(estimate.shape[0], truth.shape[0])
    return 0.5 * float(np.abs(pad_to(estimate, size) - pad_to(truth, size)).sum())


def true_kernel_errors(pool, table: str | Path) -> dict[str, float]:
    """Image -> kernel error, for the pool kernels whose image has a hidden kernel in `table`
    (a degradations.csv with kernels/<image>.npy beside it)."""
    table = Path(table)
    with table.open(newline="") as handle:
        known = {row["image"] for row in csv.DictReader(handle)}
    return {name: kernel_error(kernel, np.load(hidden_kernel_path(table, name)))
            for kernel, name in zip(pool.kernels, pool.names) if name in known}  # fmt: skip


def ratio(synthesized: float, real: float) -> float:
    return synthesized / real if real > 0 else float("nan")


class FidelityRecorder:
    """Gathers the synthesized whole LR images' measures as they are made, then writes the table."""

    def __init__(self) -> None:
        self.noise: list[float] = []
        self.energy: list[float] = []
        self.qualities: list[int] = []
        self.colour_shifts: list[float] = []
        self.count = 0

    def add(self, lr: np.ndarray, quality: int | str | None, clean: np.ndarray) -> None:
        """One synthesized LR image, with its quality and the same image before noise and compression."""
        self.noise.append(noise_sigma(lr))
        self.energy.append(high_frequency_energy(lr))
        self.colour_shifts.append(colour_shift(lr, clean))
        self.count += 1
        if quality not in (None, ""):
            self.qualities.append(int(quality))

    def write(self, path: str | Path, real_lr_dir: str | Path, pool=None, true_kernels: str | Path | None = None,
              real_qualities: Sequence[int | None] | None = None) -> list[dict]:  # fmt: skip
        real = [read_image(p).pixels for p in discover_images(real_lr_dir, "real LR folder").values()]
        real_noise = float(np.mean([noise_sigma(pixels) for pixels in real]))
        real_energy = float(np.mean([high_frequency_energy(pixels) for pixels in real]))
        synth_noise, synth_energy = float(np.mean(self.noise)), float(np.mean(self.energy))
        rows = [
            {"quantity": "noise_sigma", "synthesized": synth_noise, "real": real_noise, "ratio": ratio(synth_noise, real_noise),
             "note": "blind noise std on weakly textured patches (Liu et al. 2013, Chen et al. 2015), mean over images"},
            {"quantity": "high_frequency_energy", "synthesized": synth_energy, "real": real_energy,
             "ratio": ratio(synth_energy, real_energy), "note": "std of image minus its Gaussian blur (sigma 1.5), mean over images"},
        ]  # fmt: skip
        shift = float(np.mean(self.colour_shifts))
        rows.append({"quantity": "colour_shift", "synthesized": shift, "real": "", "ratio": "",
                     "note": "largest per-channel change of the mean colour made by the noise and compression steps "
                             "(synthesized LR minus the same image before them), mean over images"})  # fmt: skip
        real_jpeg = [q for q in (real_qualities or []) if q is not None]
        rows.append({"quantity": "jpeg_quality", "synthesized": np.mean(self.qualities) if self.qualities else "",
                     "real": np.mean(real_jpeg) if real_jpeg else "", "ratio": "",
                     "note": f"mean quality; {len(self.qualities)} of {self.count} synthesized and "
                             f"{len(real_jpeg)} of {len(real_qualities or [])} real images are JPEGs"})  # fmt: skip
        if pool is not None:
            shares = pool.weights if pool.weights is not None else np.full(len(pool.names), 1.0 / len(pool.names))
            rows += [{"quantity": f"kernel_draw_share:{name}", "synthesized": float(share), "real": "", "ratio": "",
                      "note": "share of the pairs' kernel draws (pool.npz weights; 0: never drawn, for want of edges or as a size outlier)"}
                     for name, share in zip(pool.names, shares)]  # fmt: skip
        if pool is not None and true_kernels is not None:
            errors = true_kernel_errors(pool, true_kernels)
            rows += [{"quantity": f"kernel_error:{name}", "synthesized": error, "real": "", "ratio": "",
                      "note": "half L1 distance to the hidden kernel: fraction of the mass misplaced"}
                     for name, error in sorted(errors.items())]  # fmt: skip
            if errors:
                rows.append({"quantity": "kernel_error_mean", "synthesized": float(np.mean(list(errors.values()))),
                             "real": "", "ratio": "", "note": f"over {len(errors)} images with a known kernel"})  # fmt: skip
        write_csv_atomic(path, FIDELITY_FIELDS, [{k: format_cell(v) for k, v in row.items()} for row in rows])
        noise_ratio = ratio(synth_noise, real_noise)
        low, high = NOISE_RATIO_RANGE
        if not low <= noise_ratio <= high:
            log.warning("!!! SYNTHESIZED NOISE DOES NOT MATCH THE REAL LR: noise level %.4f against %.4f (ratio %.2f, "
                        "outside %.2f-%.2f); SR trained on these pairs will not denoise like the real photos need. "
                        "See %s", synth_noise, real_noise, noise_ratio, low, high, path)  # fmt: skip
        if shift > COLOUR_SHIFT_LIMIT:
            log.warning("!!! THE SYNTHESIZED LR IS TINTED: its noise and compression steps shift the mean colour by "
                        "%.4f (above %.2f); SR trained on these pairs learns the opposite tint. See %s",
                        shift, COLOUR_SHIFT_LIMIT, path)  # fmt: skip
        log.info("fidelity: noise %.4f vs real %.4f (x%.2f), high-frequency energy %.4f vs %.4f (x%.2f), colour shift %.4f",
                 synth_noise, real_noise, noise_ratio, synth_energy, real_energy, ratio(synth_energy, real_energy), shift)  # fmt: skip
        return rows


def colour_shift(image: np.ndarray, before: np.ndarray) -> float:
    """Largest absolute change of a channel's mean between two HxWx3 images of one scene."""
    return float(np.abs(image.mean(axis=(0, 1)) - before.mean(axis=(0, 1))).max())


def format_cell(value) -> str:
    return f"{value:.6g}" if isinstance(value, (float, np.floating)) else str(value)
