"""Blur kernels from the LR image's power spectrum across scales (`kernels.estimator: spectral`).

rwsr's own estimator, beside KernelGAN; no paper's method is claimed. It rests on the assumption
KernelGAN's cross-scale recurrence rests on, read off the spectrum instead of learnt by a
discriminator: natural images are close to scale-invariant, with power spectra near
A(direction) / |f|^alpha (Field 1987; van der Schaaf and van Hateren 1996). The amplitude A depends
on the direction (a street is mostly vertical and horizontal edges); the fall-off alpha barely
does. A Gaussian blur of covariance C (LR pixels) multiplies the spectrum by
exp(-4 pi^2 f^T C f), so along any one direction

    log P(f) - log P(f / 2) = -alpha log 2 - 3 pi^2 f^T C f,

where the photo's direction-dependent amplitude has cancelled. A least-squares fit of that
log-ratio over the frequency plane, linear in (1, fx^2, 2 fx fy, fy^2), gives C: the size,
orientation and axis ratio of the LR image's blur. KernelGAN's 7x7 discriminator barely tells a
kernel from the same kernel turned 90 degrees (bench/README.md); this fit does, on the bench's
anisotropy battery.

The spectrum is the cross-periodogram between colour channels (Welch: Hann-windowed tiles, half
overlapping): noise drawn independently per channel averages out of it, the photo's content,
which the channels share, does not. A greyscale image falls back to its own periodogram, where
noise makes the blur look smaller. JPEG removes high frequencies block by block, which the fit
reads as blur: measure before trusting it on compressed files (bench/README.md).

The kernel at scale s is the Gaussian with covariance s^2 C (HR pixels): what turns a sharp HR
image into an LR image with this blur. An HR set with a blur of its own would add it on top.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rwsr.errors import InputError
from rwsr.io.atomic import write_text_atomic
from rwsr.io.images import read_image
from rwsr.kernels.crops import edge_evidence
from rwsr.kernels.pool import check_outdirs, write_kernel_folder
from rwsr.ops.degradation import anisotropic_gaussian_kernel, grid_offset

log = logging.getLogger(__name__)

# Frequencies (cycles per LR pixel) whose ratio to the half frequency enters the fit. Below the
# lower bound a tile holds too few periods (and the window's leakage dominates); the upper bound
# stays clear of Nyquist, where aliasing folds energy back.
BAND = (0.08, 0.45)
# Smallest tile: 32 pixels leave 7 radial steps of even frequencies inside BAND.
MIN_TILE = 32
# Variances (LR pixels^2) the fitted covariance's eigenvalues are clipped to: a fit that reads a
# negative or vanishing variance (a flat image, noise everywhere) gets the narrowest plausible blur,
# and a runaway one is capped where the kernel array still holds it.
MIN_VARIANCE = 0.05
MAX_VARIANCE = 4.0
FIT_FILE = "fit.json"


@dataclass(frozen=True)
class SpectralFit:
    """The fitted blur covariance C (LR pixels^2, [[xx, xy], [xy, yy]], x right, y down), the
    fall-off alpha, the Welch tile side, the frequency pairs used, the fit's residual (rms of the
    log-ratio, nepers), and whether C had to be clipped into [MIN_VARIANCE, MAX_VARIANCE]."""

    covariance: np.ndarray
    alpha: float
    tile: int
    pairs: int
    residual: float
    clipped: bool

    def as_dict(self) -> dict[str, Any]:
        (xx, xy), (_, yy) = self.covariance
        return {"cov_xx": float(xx), "cov_xy": float(xy), "cov_yy": float(yy), "alpha": self.alpha,
                "tile": self.tile, "pairs": self.pairs, "residual": self.residual, "clipped": self.clipped}


def tile_for(side: int, tile: int) -> int:
    """The configured tile, halved until two fit along the image's shorter side (at least MIN_TILE)."""
    while tile > MIN_TILE and 2 * tile > side:
        tile //= 2
    return tile


def cross_spectrum(pixels: np.ndarray, tile: int) -> np.ndarray:
    """Welch estimate (tile x tile, unshifted frequencies) of the mean cross-periodogram over colour
    channel pairs; a single channel gives its own periodogram."""
    pixels = np.asarray(pixels, dtype=np.float64)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    window = np.outer(np.hanning(tile), np.hanning(tile))[:, :, None]
    channels = pixels.shape[2]
    pairs = [(a, b) for a in range(channels) for b in range(a + 1, channels)] or [(0, 0)]
    total, count = np.zeros((tile, tile)), 0
    step = tile // 2
    for top in range(0, pixels.shape[0] - tile + 1, step):
        for left in range(0, pixels.shape[1] - tile + 1, step):
            patch = pixels[top : top + tile, left : left + tile]
            spectra = np.fft.fft2((patch - patch.mean(axis=(0, 1))) * window, axes=(0, 1))
            total += sum(np.real(spectra[:, :, a] * np.conj(spectra[:, :, b])) for a, b in pairs) / len(pairs)
            count += 1
    return total / count


def fit_covariance(spectrum: np.ndarray) -> SpectralFit:
    """Least-squares fit of log P(f) - log P(f/2) = c - 3 pi^2 f^T C f over the even frequencies in
    BAND (where the cross-periodogram is positive at both)."""
    tile = spectrum.shape[0]
    ratios, features = [], []
    for ky in range(-tile // 2 + 2, tile // 2, 2):
        for kx in range(-tile // 2 + 2, tile // 2, 2):
            fx, fy = kx / tile, ky / tile
            if not BAND[0] <= math.hypot(fx, fy) <= BAND[1]:
                continue
            full, half = spectrum[ky % tile, kx % tile], spectrum[(ky // 2) % tile, (kx // 2) % tile]
            if full > 0 and half > 0:
                ratios.append(math.log(full / half))
                features.append((1.0, fx * fx, 2 * fx * fy, fy * fy))
    if len(ratios) < 8:
        raise ValueError(f"only {len(ratios)} usable frequency pairs (the image may be flat or pure noise)")
    design, target = np.array(features), np.array(ratios)
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    xx, xy, yy = -coefficients[1:] / (3 * math.pi**2)
    covariance = np.array([[xx, xy], [xy, yy]])
    values, vectors = np.linalg.eigh(covariance)
    kept = np.clip(values, MIN_VARIANCE, MAX_VARIANCE)
    residual = float(np.sqrt(np.mean((design @ coefficients - target) ** 2)))
    return SpectralFit(vectors @ np.diag(kept) @ vectors.T, float(-coefficients[0] / math.log(2)), tile, len(ratios),
                       residual, bool(np.any(kept != values)))


def estimate_covariance(pixels: np.ndarray, tile: int = 64) -> SpectralFit:
    """The LR image's blur covariance (LR pixels^2), from tiles of `tile` (or smaller, tile_for)."""
    side = min(pixels.shape[:2])
    if side < MIN_TILE:
        raise ValueError(f"{pixels.shape[1]}x{pixels.shape[0]} pixels; the spectral estimator needs at least "
                         f"{MIN_TILE} on each side")
    if side < 2 * MIN_TILE:
        log.warning("%dx%d pixels: under %d on a side, the spectrum averages few tiles and the fit is rough",
                    pixels.shape[1], pixels.shape[0], 2 * MIN_TILE)
    return fit_covariance(cross_spectrum(pixels, tile_for(side, tile)))


def gaussian_kernel(covariance: np.ndarray, scale: int) -> np.ndarray:
    """The Gaussian kernel of covariance `covariance` (HR pixels^2) at `scale`, in the pipeline's
    convention (centre of mass grid_offset(scale) from the middle pixel), wide enough for 4 standard
    deviations of its major axis."""
    values, vectors = np.linalg.eigh(covariance)
    major, minor = math.sqrt(values[1]), math.sqrt(values[0])
    theta = math.atan2(vectors[1, 1], vectors[0, 1])
    size = 2 * math.ceil(4 * major + grid_offset(scale)) + 1
    return anisotropic_gaussian_kernel(size, major, minor, theta, scale)


def run_spectral(inputs: Sequence[str | Path], outdirs: Sequence[str | Path], config: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Estimate each input's kernel into its output folder (kernel_x2.npy, kernel_x4.npy at scale 4,
    kernel.png, fit.json, settings.json, confidence.json); returns name -> kernel at config scale."""
    check_outdirs("spectral kernels", inputs, outdirs)
    scale, tile = config["scale"], config["kernels"]["spectral_tile"]
    results = {}
    for path, outdir in zip(map(Path, inputs), map(Path, outdirs)):
        pixels = read_image(path).pixels
        try:
            fit = estimate_covariance(pixels, tile)
        except ValueError as error:
            raise InputError(f"image {path}: {error} (config key kernels.estimator is spectral)") from error
        if fit.clipped:
            log.warning("%s: the spectral fit's blur variances were clipped into [%g, %g] LR px^2; "
                        "its kernel is unreliable", path, MIN_VARIANCE, MAX_VARIANCE)
        kernels = {f"x{s}": gaussian_kernel(s * s * fit.covariance, s) for s in sorted({2, scale})}
        settings = {"input": str(path), "scale": scale, "estimator": "spectral", "tile": fit.tile}
        write_kernel_folder(outdir, kernels, settings, edge_evidence(pixels))
        write_text_atomic(outdir / FIT_FILE, json.dumps(fit.as_dict(), indent=2) + "\n")  # last: marks the folder done
        log.info("%s: blur covariance %s LR px^2 (residual %.3f over %d pairs)", path.name,
                 np.round(fit.covariance, 3).tolist(), fit.residual, fit.pairs)
        results[path.stem] = kernels[f"x{scale}"]
    return results
