"""Kernel arithmetic in the pipeline's convention (rwsr.ops.degradation): a kernel k at scale s
models LR = blur_subsample(HR, k, s), a *correlation* followed by keeping pixels [0::s, 0::s];
kernels are float32, odd-sized, centred (centre of mass on the middle pixel), sum 1.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from rwsr.ops.resize import cubic


def centre_of_mass(kernel: np.ndarray) -> np.ndarray:
    """(row, col) of the kernel's centre of mass, in pixels from its top-left element."""
    kernel = np.asarray(kernel, dtype=np.float64)
    rows, cols = np.indices(kernel.shape)
    total = kernel.sum()
    return np.array([(rows * kernel).sum() / total, (cols * kernel).sum() / total])


def centre_offset(kernel: np.ndarray) -> np.ndarray:
    """How far the centre of mass lies from the middle pixel (0, 0 for a centred kernel)."""
    return centre_of_mass(kernel) - (np.array(kernel.shape) - 1) / 2


def pad_to(kernel: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad an odd kernel to size x size; stays centred and sums the same."""
    margin = (size - kernel.shape[0]) // 2
    if margin < 0 or (size - kernel.shape[0]) % 2:
        raise ValueError(f"cannot pad a {kernel.shape[0]}x{kernel.shape[0]} kernel to {size}x{size}")
    return np.pad(kernel, margin)


def trim_zero_rings(kernel: np.ndarray) -> np.ndarray:
    """Drop outer rings that are exactly zero (both sides at once, so the kernel stays odd and centred)."""
    while kernel.shape[0] > 1 and not np.any(kernel[0]) and not np.any(kernel[-1]) and not np.any(kernel[:, 0]) and not np.any(kernel[:, -1]):
        kernel = kernel[1:-1, 1:-1]
    return kernel


def bicubic_kernel(scale: int) -> np.ndarray:
    """MATLAB's antialiased bicubic downscaling kernel as a centred odd kernel.

    imresize puts LR pixel i at HR position s*i + (s-1)/2 (the block centre), half a pixel off
    our grid for even s; sampling the same continuous kernel, cubic(x/s)/s, at integer offsets
    gives the bicubic assumption on the grid blur_subsample uses, so PSNRs compare like with like.
    """
    taps = np.arange(-2 * scale, 2 * scale + 1, dtype=np.float64)
    line = cubic(taps / scale) / scale
    line = line / line.sum()
    return trim_zero_rings(np.outer(line, line)).astype(np.float32)


def drop_negligible(kernel: np.ndarray, keep_largest: int) -> np.ndarray:
    """KernelGAN's clean-up: subtract 0.75 x the `keep_largest`-th largest value and clip at 0, so
    the learned kernel's faint negative/positive tails (noise of the deep linear product) vanish."""
    values = np.sort(kernel.ravel())
    floor = 0.75 * values[-min(keep_largest, values.size - 1) - 1]
    cleaned = np.clip(kernel - floor, 0.0, None)
    if cleaned.sum() <= 0:  # degenerate (e.g. all-negative) kernel: fall back to its peak
        cleaned = (kernel == kernel.max()).astype(np.float64)
    return cleaned / cleaned.sum()


def recentre(kernel: np.ndarray) -> np.ndarray:
    """Shift the kernel so its centre of mass lies on the middle pixel (the blur's position is
    not identifiable from one LR image; our convention says the LR pixel sits on HR pixel s*i).

    Linear interpolation moves mass exactly by the shift, keeps it non-negative and keeps the sum;
    the kernel is padded first so nothing falls off the edge."""
    offset = centre_offset(kernel)
    margin = int(np.ceil(np.abs(offset).max())) + 1
    padded = np.pad(np.asarray(kernel, dtype=np.float64), margin)
    shifted = np.clip(ndimage.shift(padded, -offset, order=1, mode="constant"), 0.0, None)
    return shifted / shifted.sum()


def post_process(kernel: np.ndarray, keep_largest: int = 40) -> np.ndarray:
    """Raw correlation kernel from G -> the pipeline's kernel: non-negative, sum 1, centred, odd."""
    cleaned = recentre(drop_negligible(np.asarray(kernel, dtype=np.float64), keep_largest))
    return trim_zero_rings(cleaned).astype(np.float32)


def compose_x4(kernel_x2: np.ndarray) -> np.ndarray:
    """The x4 kernel equal to two x2 steps with `kernel_x2` (the paper's analytic x4 kernel).

    blur_subsample(blur_subsample(x, k, 2), k, 2)[j] = sum_{u,v} k[v] k[u] x[4j + 2v + u], so
    k4 is k correlated with k dilated by 2: size 3K-2, centred when k is, sum 1 when k sums to 1.
    """
    k = np.asarray(kernel_x2, dtype=np.float64)
    size = k.shape[0]
    big = np.zeros((3 * size - 2, 3 * size - 2))
    for r in range(size):
        for c in range(size):
            big[2 * r : 2 * r + size, 2 * c : 2 * c + size] += k[r, c] * k
    return trim_zero_rings(big).astype(np.float32)
