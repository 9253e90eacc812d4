"""PSNR and SSIM on the luma channel, as the SR literature reports them.

The field's numbers come from MATLAB: `rgb2ycbcr` (BT.601, Y in [16, 235]), scores on Y only,
`scale` pixels shaved off every border (where upscalers have no neighbours to work from), and
Wang et al.'s SSIM (11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03) over the region where
the window fits. Y stays unrounded, as in BasicSR's evaluation of float images.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from rwsr.errors import InputError
from rwsr.io.images import discover_images, read_image
from rwsr.ops.noise_level import high_frequency_energy

# MATLAB rgb2ycbcr's luma row for RGB in [0, 1]; the result is Y on the 0-255 scale.
Y_WEIGHTS = np.array([65.481, 128.553, 24.966])
Y_OFFSET = 16.0
DATA_RANGE = 255.0
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5


def rgb_to_y(pixels: np.ndarray) -> np.ndarray:
    """HxWx3 RGB in [0, 1] -> HxW float64 luma in [16, 235]."""
    return np.asarray(pixels, dtype=np.float64) @ Y_WEIGHTS + Y_OFFSET


def shave(image: np.ndarray, border: int) -> np.ndarray:
    if border == 0:
        return image
    if min(image.shape[:2]) <= 2 * border:
        height, width = image.shape[:2]
        raise ValueError(f"image of {width}x{height} pixels has nothing left after a {border}-pixel border")
    return image[border:-border, border:-border]


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = DATA_RANGE) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical images)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = DATA_RANGE) -> float:
    """Mean SSIM of two single-channel images over the window-valid region."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    g = cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA)
    window = g @ g.T
    pad = SSIM_WINDOW // 2

    def local_mean(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window, borderType=cv2.BORDER_REFLECT)[pad:-pad, pad:-pad]

    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mu_a**2
    var_b = local_mean(b * b) - mu_b**2
    cov = local_mean(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def psnr_ssim_y(sr: np.ndarray, gt: np.ndarray, border: int) -> tuple[float, float]:
    """(PSNR, SSIM) of two RGB [0, 1] images on Y, `border` pixels shaved off each side."""
    if sr.shape != gt.shape:
        raise ValueError(f"shapes differ: {sr.shape} vs {gt.shape}")
    y_sr, y_gt = shave(rgb_to_y(sr), border), shave(rgb_to_y(gt), border)
    if min(y_sr.shape) < SSIM_WINDOW:
        raise ValueError(f"{y_sr.shape[1]}x{y_sr.shape[0]} pixels after the border is smaller than the SSIM window")
    return psnr(y_sr, y_gt), ssim(y_sr, y_gt)


def read_matched(sr_dir: str | Path, gt_dir: str | Path) -> list[tuple[Path, np.ndarray, np.ndarray]]:
    """(SR file, SR pixels, ground-truth pixels) for images matched by stem, sorted; every image
    needs its counterpart of the same size."""
    sr_files = discover_images(sr_dir, what="SR output folder")
    gt_files = discover_images(gt_dir, what="ground-truth folder")
    if set(sr_files) != set(gt_files):
        only_sr, only_gt = sorted(set(sr_files) - set(gt_files)), sorted(set(gt_files) - set(sr_files))
        raise InputError(
            f"SR outputs in {sr_dir} and ground truth in {gt_dir} must hold the same image names; "
            f"only SR: {', '.join(only_sr) or '-'}; only ground truth: {', '.join(only_gt) or '-'}"
        )
    matched = []
    for stem in sorted(sr_files):
        sr, gt = read_image(sr_files[stem]).pixels, read_image(gt_files[stem]).pixels
        if sr.shape != gt.shape:
            raise InputError(
                f"SR output {sr_files[stem]} is {sr.shape[1]}x{sr.shape[0]} but its ground truth "
                f"{gt_files[stem]} is {gt.shape[1]}x{gt.shape[0]}; they must be the same size"
            )
        matched.append((sr_files[stem], sr, gt))
    return matched


def score_pairs(matched: list[tuple[Path, np.ndarray, np.ndarray]], border: int) -> dict[str, float | int]:
    """Mean PSNR/SSIM (Y) and high-frequency ratio over `read_matched`'s pairs."""
    scores = []
    for path, sr, gt in matched:
        try:
            scores.append((*psnr_ssim_y(sr, gt, border), high_frequency_ratio(sr, gt, border)))
        except ValueError as error:
            raise InputError(f"cannot score {path}: {error}") from error
    values = np.array(scores)
    return {"psnr_y": float(values[:, 0].mean()), "ssim_y": float(values[:, 1].mean()),
            "hf_ratio": float(values[:, 2].mean()), "n_pairs": len(scores)}  # fmt: skip


def score_folder(sr_dir: str | Path, gt_dir: str | Path, border: int) -> dict[str, float | int]:
    """Mean PSNR/SSIM (Y) and high-frequency ratio over images matched by stem."""
    return score_pairs(read_matched(sr_dir, gt_dir), border)


def high_frequency_ratio(sr: np.ndarray, gt: np.ndarray, border: int) -> float:
    """The SR output's high-frequency energy over its ground truth's: above 1 it invents or
    amplifies detail and noise, below 1 it is smoother than the truth."""
    truth = high_frequency_energy(shave(gt, border))
    return high_frequency_energy(shave(sr, border)) / truth if truth > 0 else math.nan
