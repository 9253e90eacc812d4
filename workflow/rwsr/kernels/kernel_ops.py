"""Kernel arithmetic in the pipeline's convention (rwsr.ops.degradation): a kernel k at scale s
models LR = blur_subsample(HR, k, s), a *correlation* followed by keeping pixels [0::s, 0::s];
kernels are float32, odd-sized, sum 1, with their centre of mass grid_offset(s) = (s-1)/2 pixels
right of and below the middle pixel, so LR pixels sit on bicubic's grid.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from rwsr.ops.degradation import grid_offset
from rwsr.ops.resize import cubic


def centre_of_mass(kernel: np.ndarray) -> np.ndarray:
    """(row, col) of the kernel's centre of mass, in pixels from its top-left element."""
    kernel = np.asarray(kernel, dtype=np.float64)
    rows, cols = np.indices(kernel.shape)
    total = kernel.sum()
    return np.array([(rows * kernel).sum() / total, (cols * kernel).sum() / total])


def centre_offset(kernel: np.ndarray) -> np.ndarray:
    """How far (rows, cols) the centre of mass lies from the middle pixel; grid_offset(s) on both
    axes for a kernel at scale s."""
    return centre_of_mass(kernel) - (np.array(kernel.shape) - 1) / 2


def second_moments(kernel: np.ndarray) -> np.ndarray:
    """2x2 covariance [[xx, xy], [xy, yy]] of a kernel's mass about its centre of mass, x to the
    right (columns) and y down (rows). Negative entries are clipped first (a raw G kernel's faint
    tails would otherwise make the matrix indefinite)."""
    kernel = np.clip(np.asarray(kernel, dtype=np.float64), 0.0, None)
    total = kernel.sum()
    if total <= 0:
        raise ValueError("kernel has no positive mass")
    rows, cols = np.indices(kernel.shape)
    row_c, col_c = (rows * kernel).sum() / total, (cols * kernel).sum() / total
    dx, dy = cols - col_c, rows - row_c
    xx, yy, xy = ((dx * dx * kernel).sum(), (dy * dy * kernel).sum(), (dx * dy * kernel).sum())
    return np.array([[xx, xy], [xy, yy]]) / total


def kernel_spread(kernel: np.ndarray) -> float:
    """A kernel's size: the variance of its mass summed over both axes (trace of second_moments, pixels^2)."""
    return float(np.trace(second_moments(kernel)))


def kernel_shape(kernel: np.ndarray) -> tuple[float, float]:
    """(major-axis angle in degrees in [0, 180), axis ratio) of a kernel from its second moments.

    The angle is measured from the x axis (to the right) towards y (down), so a horizontally
    elongated kernel has angle 0 and a vertically elongated one 90. The axis ratio is the ratio of
    the covariance's eigenvalues, largest over smallest (variances, not standard deviations: a
    Gaussian with sigmas 2.0 and 0.8 has ratio 6.25); 1 for an isotropic kernel, whose angle is
    then meaningless."""
    (xx, xy), (_, yy) = second_moments(kernel)
    if abs(xy) < 1e-12 * (xx + yy):  # an axis-aligned kernel: avoid -0.0 reading as 180 degrees
        xy = 0.0
    angle = 0.5 * np.degrees(np.arctan2(2.0 * xy, xx - yy)) % 180.0
    spread = np.hypot((xx - yy) / 2.0, xy)
    major, minor = (xx + yy) / 2.0 + spread, (xx + yy) / 2.0 - spread
    return float(angle), float(major / max(minor, 1e-12))


def angle_difference(a: float, b: float) -> float:
    """Smallest difference in degrees between two axis orientations (defined modulo 180)."""
    d = abs(a - b) % 180.0
    return float(min(d, 180.0 - d))


def pad_to(kernel: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad an odd kernel to size x size on all sides: same centre offset, same sum."""
    margin = (size - kernel.shape[0]) // 2
    if margin < 0 or (size - kernel.shape[0]) % 2:
        raise ValueError(f"cannot pad a {kernel.shape[0]}x{kernel.shape[0]} kernel to {size}x{size}")
    return np.pad(kernel, margin)


def trim_zero_rings(kernel: np.ndarray) -> np.ndarray:
    """Drop outer rings that are exactly zero (both sides at once, so the kernel stays odd and its
    centre offset is kept)."""
    while kernel.shape[0] > 1 and not np.any(kernel[0]) and not np.any(kernel[-1]) and not np.any(kernel[:, 0]) and not np.any(kernel[:, -1]):
        kernel = kernel[1:-1, 1:-1]
    return kernel


def bicubic_kernel(scale: int) -> np.ndarray:
    """MATLAB's antialiased bicubic downscaling kernel in our convention: blur_subsample with it
    equals imresize(x, 1/scale) away from the borders (KernelGAN's bicubic constraint and baseline).

    imresize weighs HR pixel p for LR pixel i by cubic((p - c)/s)/s around the block centre
    c = s*i + (s-1)/2; relative to s*i, that is the continuous kernel sampled at taps - offset."""
    reach = 2 * scale + int(np.ceil(grid_offset(scale)))  # cubic's support is 2 LR pixels
    taps = np.arange(-reach, reach + 1, dtype=np.float64)
    line = cubic((taps - grid_offset(scale)) / scale) / scale
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


def _shift(kernel: np.ndarray, shift: np.ndarray, order: int) -> np.ndarray:
    margin = int(np.ceil(np.abs(shift).max())) + 1
    padded = np.pad(np.asarray(kernel, dtype=np.float64), margin)
    shifted = np.clip(ndimage.shift(padded, shift, order=order, mode="constant"), 0.0, None)
    if order > 1:  # the spline's ringing reaches past the moved support: keep the linear support
        shifted[ndimage.shift(padded, shift, order=1, mode="constant") <= 0] = 0.0
    return shifted / shifted.sum()


def recentre(kernel: np.ndarray, scale: int) -> np.ndarray:
    """Shift the kernel so its centre of mass lies grid_offset(scale) from the middle pixel (the
    blur's position is not identifiable from one LR image; the convention puts LR pixels on
    bicubic's grid, KernelGAN's kernel_shift).

    A cubic spline moves the kernel without changing its shape (the official code's choice).
    Linear interpolation would add f(1 - f) px^2 of variance along each axis shifted by a fraction
    f: up to 0.25 px^2 on one axis and none on the other, which turns a narrow round kernel into an
    elongated one along whichever axis happened to need a half-pixel shift. The spline's small
    negative ringing is clipped, which moves the centre by a few hundredths of a pixel; a linear
    shift by that residual (negligible widening) puts it exactly on the offset. The kernel is
    padded first so nothing falls off the edge."""
    shifted = _shift(kernel, grid_offset(scale) - centre_offset(kernel), order=3)
    return _shift(shifted, grid_offset(scale) - centre_offset(shifted), order=1)


def post_process(kernel: np.ndarray, keep_largest: int = 40, scale: int = 2) -> np.ndarray:
    """Raw correlation kernel from G (x2) -> the pipeline's kernel: non-negative, sum 1, odd, its
    centre of mass on the grid offset."""
    cleaned = recentre(drop_negligible(np.asarray(kernel, dtype=np.float64), keep_largest), scale)
    return trim_zero_rings(cleaned).astype(np.float32)


def compose_x4(kernel_x2: np.ndarray) -> np.ndarray:
    """The x4 kernel equal to two x2 steps with `kernel_x2` (the paper's analytic x4 kernel).

    blur_subsample(blur_subsample(x, k, 2), k, 2)[j] = sum_{u,v} k[v] k[u] x[4j + 2v + u], so
    k4 is k correlated with k dilated by 2: size 3K-2, sum 1 when k sums to 1, and its centre of
    mass 3 x k's from the top-left, i.e. offset 0.5 + 2 * 0.5 = 1.5 = grid_offset(4) from the middle.
    """
    k = np.asarray(kernel_x2, dtype=np.float64)
    size = k.shape[0]
    big = np.zeros((3 * size - 2, 3 * size - 2))
    for r in range(size):
        for c in range(size):
            big[2 * r : 2 * r + size, 2 * c : 2 * c + size] += k[r, c] * k
    return trim_zero_rings(big).astype(np.float32)
