"""The degradation model shared by the demo data, KernelGAN's evaluation and the pairs stage.

    LR = JPEG( subsample_s( HR (*) k ) + n )

Conventions, fixed here once:
- The grid is bicubic's (MATLAB imresize, PIL, area averaging): LR pixel i covers HR pixels
  s*i .. s*i+s-1 and is centred on HR position s*i + (s-1)/2. SR models trained on our pairs
  therefore output images aligned with their input's bicubic upscaling and with real photos.
- A kernel at scale s is float32, odd-sized, sums to 1, and its centre of mass lies
  `grid_offset(s)` = (s-1)/2 pixels right of and below its middle pixel (KernelGAN's convention).
- `blur` is a *correlation* with the kernel (cv2.filter2D), mirrored borders (reflect-101).
  For point-symmetric kernels correlation and convolution agree; for estimated kernels they do
  not, and every stage goes through this function.
- `subsample` keeps pixels [0::s, 0::s]. With the kernel's mass offset by (s-1)/2, LR pixel i is
  a weighted mean centred on s*i + (s-1)/2. Two x2 steps compose into one x4 step (offsets
  0.5 + 2 * 0.5 = 1.5), which is how KernelGAN's x4 kernel is derived.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def grid_offset(scale: int) -> float:
    """How far right of and below its middle pixel a kernel at `scale` has its centre of mass."""
    return (scale - 1) / 2


def anisotropic_gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, scale: int = 1) -> np.ndarray:
    """A size x size Gaussian with std sigma_x, sigma_y along axes rotated by theta (radians),
    centred `grid_offset(scale)` pixels right of and below the middle pixel (scale 1: centred)."""
    if size % 2 == 0:
        raise ValueError(f"kernel size must be odd, got {size}")
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    covariance = rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T
    precision = np.linalg.inv(covariance)
    half = size // 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1] - grid_offset(scale)
    points = np.stack([xx, yy], axis=-1).astype(np.float64)
    kernel = np.exp(-0.5 * np.einsum("...i,ij,...j->...", points, precision, points))
    return (kernel / kernel.sum()).astype(np.float32)


def random_kernel(rng: np.random.Generator, scale: int, sigma_range: tuple[float, float]) -> tuple[np.ndarray, dict]:
    """A random anisotropic Gaussian as in DIV2KRK: each axis' std drawn from sigma_range (given
    for x2, stretched by scale/2), random orientation; size covers three standard deviations
    around the (offset) centre."""
    low, high = (s * scale / 2 for s in sigma_range)
    sigma_x, sigma_y = rng.uniform(low, high, size=2)
    theta = rng.uniform(0.0, math.pi)
    size = 2 * math.ceil(3 * high + grid_offset(scale)) + 1
    params = {"sigma_x": float(sigma_x), "sigma_y": float(sigma_y), "theta": float(theta)}
    return anisotropic_gaussian_kernel(size, sigma_x, sigma_y, theta, scale), params


def validate_kernel(kernel: np.ndarray, name: str = "kernel") -> np.ndarray:
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"{name} must be a square odd-sized 2-D array, got shape {kernel.shape}")
    if not np.isclose(kernel.sum(), 1.0, atol=1e-3):
        raise ValueError(f"{name} must sum to 1, sums to {kernel.sum():.4f}")
    return kernel


def blur(pixels: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate an HxWxC float image with a 2-D kernel, mirrored borders."""
    kernel = validate_kernel(kernel)
    return cv2.filter2D(pixels.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def crop_to_multiple(pixels: np.ndarray, scale: int) -> np.ndarray:
    height, width = pixels.shape[:2]
    return pixels[: height - height % scale, : width - width % scale]


def subsample(pixels: np.ndarray, scale: int) -> np.ndarray:
    return pixels[::scale, ::scale]


def blur_subsample(pixels: np.ndarray, kernel: np.ndarray, scale: int) -> np.ndarray:
    """The blur + subsampling of the degradation model; the image is first cropped to a
    multiple of `scale`, so LR size is exactly HR size / scale."""
    return np.ascontiguousarray(subsample(blur(crop_to_multiple(pixels, scale), kernel), scale))


def add_gaussian_noise(pixels: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noisy = pixels + rng.normal(0.0, sigma, size=pixels.shape).astype(np.float32)
    return np.clip(noisy, 0.0, 1.0)


def jpeg_roundtrip(pixels: np.ndarray, quality: int) -> np.ndarray:
    """Encode to JPEG at `quality` and decode again, as a camera or web upload would."""
    data = np.clip(np.rint(pixels[:, :, ::-1] * 255.0), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", data, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32) / 255.0
