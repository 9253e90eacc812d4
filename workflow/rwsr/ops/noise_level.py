"""Blind measures of a degradation: sensor-noise level and high-frequency energy.

They compare the synthesized LR with the real LR it imitates (results/pairs/fidelity.csv) and SR
outputs with their ground truth (fid.csv's hf_ratio), on images of different content.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Patch side of the PCA noise estimator (Chen et al. use 7 or 8) and the Gaussian of the
# high-pass split (the issue tracker's and the report's definition of high-frequency energy).
NOISE_PATCH = 7
HIGH_PASS_SIGMA = 1.5
# Pixels within this of 0 or 1 count as clipped (half an 8-bit step).
CLIP_MARGIN = 0.5 / 255


def gradient_energy_form(patch: int) -> np.ndarray:
    """Dh'Dh + Dv'Dv for central differences [-1/2, 0, 1/2] inside a patch x patch patch: the
    quadratic form whose value on a flattened patch is its gradient energy."""
    index = np.arange(patch * patch).reshape(patch, patch)
    pairs = [(index[:, :-2], index[:, 2:]), (index[:-2, :], index[2:, :])]  # horizontal, vertical
    rows = []
    for before, after in pairs:
        for left, right in zip(before.ravel(), after.ravel()):
            row = np.zeros(patch * patch)
            row[left], row[right] = -0.5, 0.5
            rows.append(row)
    operator = np.array(rows)
    return operator.T @ operator


def pure_noise_variance(eigenvalues: np.ndarray) -> float:
    """Chen, Zhu and Heng (ICCV 2015): drop the largest covariance eigenvalues one by one until
    the rest have their mean as their median (the signature of a pure-noise set); that mean is
    the noise variance. Unlike the smallest eigenvalue it is unbiased for finite samples."""
    eigenvalues = np.sort(np.clip(eigenvalues, 0.0, None))[::-1]
    for start in range(len(eigenvalues)):
        tail = eigenvalues[start:]
        tau = tail.mean()
        if np.sum(tail > tau) == np.sum(tail < tau):
            return float(tau)
    return float(eigenvalues[-1])


def channel_noise_sigma(channel: np.ndarray, patch: int = NOISE_PATCH, iterations: int = 3,
                        confidence: float = 0.99) -> float:  # fmt: skip
    """Noise std of one HxW channel from its weakly textured patches.

    Liu, Tanaka and Okutomi, "Single-Image Noise Level Estimation for Blind Denoising" (TIP 2013):
    a patch of pure noise with std sigma has a gradient energy below sigma^2 times a Gamma
    quantile; patches under that threshold are the flat ones. The threshold needs sigma and
    sigma needs the patches, so the two are refined in turn. The variance of the selected
    patches comes from Chen et al.'s eigenvalue rule.
    """
    from scipy.stats import gamma

    if min(channel.shape) < 2 * patch:
        raise ValueError(f"image of {channel.shape[1]}x{channel.shape[0]} pixels is too small to estimate noise")
    patches = sliding_window_view(channel.astype(np.float64), (patch, patch)).reshape(-1, patch * patch)
    # Clipping at black and white removes noise: saturated patches would look cleaner than they are.
    unclipped = patches[(patches.min(axis=1) > CLIP_MARGIN) & (patches.max(axis=1) < 1 - CLIP_MARGIN)]
    patches = unclipped if len(unclipped) >= 2 * patch * patch else patches
    form = gradient_energy_form(patch)
    gradient_energy = np.einsum("ni,ij,nj->n", patches, form, patches)
    rank = np.linalg.matrix_rank(form)
    threshold = gamma.ppf(confidence, rank / 2, scale=2 * np.trace(form) / rank)
    variance = pure_noise_variance(np.linalg.eigvalsh(np.cov(patches, rowvar=False)))
    for _ in range(iterations):
        flat = patches[gradient_energy < variance * threshold]
        if len(flat) < 2 * patch * patch:
            break
        variance = pure_noise_variance(np.linalg.eigvalsh(np.cov(flat, rowvar=False)))
    return float(np.sqrt(variance))


def noise_sigma(pixels: np.ndarray) -> float:
    """Mean noise std over the channels of an HxWxC image in [0, 1]."""
    return float(np.mean([channel_noise_sigma(pixels[:, :, c]) for c in range(pixels.shape[2])]))


def high_frequency_energy(pixels: np.ndarray, sigma: float = HIGH_PASS_SIGMA) -> float:
    """Std of the image minus its Gaussian blur (sigma in pixels): noise, edges and fine texture."""
    pixels = pixels.astype(np.float32)
    return float(np.std(pixels - cv2.GaussianBlur(pixels, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)))
