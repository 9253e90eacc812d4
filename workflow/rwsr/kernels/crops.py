"""Where KernelGAN looks: crop positions drawn with probability following image gradients.

Flat regions say nothing about the blur (every kernel maps them to themselves), so crops are drawn
where strong edges are, as in the paper: the top 3% gradient magnitudes, box-blurred, averaged
over the central half of each candidate crop.
"""

from __future__ import annotations

import cv2
import numpy as np

from rwsr.io.images import to_array, to_tensor
from rwsr.ops.resize import imresize

# Fraction of pixels kept as "strong edges"; the official implementation's 97th percentile.
EDGE_PERCENTILE = 97.0
# Box blur (pixels) spreading each edge pixel to its neighbourhood, as in the official code.
EDGE_BLUR = 5
# Edge evidence: a pixel is on an edge when its gradient magnitude exceeds this many noise levels.
# Central differences of noise sigma have a Rayleigh magnitude of scale sigma/sqrt(2), exceeding
# 3 sigma with probability exp(-9) ~ 1e-4: noise alone marks almost no pixel.
EDGE_NOISE_FACTOR = 3.0
# The noise estimate's floor: one grey level of an 8-bit file (a clean synthetic flat image would
# otherwise call every rounding step an edge).
NOISE_FLOOR = 1.0 / 255.0


def gray_of(pixels: np.ndarray) -> np.ndarray:
    return pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def noise_level(gray: np.ndarray) -> float:
    """Standard deviation of white noise in a grey image, robustly: the median absolute response
    of Immerkaer's (1996) mask, which cancels planes and ramps and passes noise with gain 6; the
    median ignores the minority of pixels on edges and texture."""
    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    response = cv2.filter2D(gray.astype(np.float32), -1, mask, borderType=cv2.BORDER_REFLECT_101)[1:-1, 1:-1]
    return float(np.median(np.abs(response)) / (0.6745 * 6.0))


def edge_evidence(pixels: np.ndarray) -> dict[str, float]:
    """How much an image can tell KernelGAN about its blur: the fraction of its pixels on real edges
    (gradient magnitude above EDGE_NOISE_FACTOR noise levels), and the confidence in [0, 1] that
    follows from it. The crops are drawn from the top 100 - EDGE_PERCENTILE percent of gradients;
    when fewer pixels than that are real edges, that share of the crops sees only noise or flat
    areas, which every kernel maps to themselves, so the estimate is that much less constrained.
    Confidence is the edge fraction over that share, capped at 1 (a star field or a flat sky: near 0)."""
    gray = gray_of(pixels)
    sigma = max(noise_level(gray), NOISE_FLOOR)
    gy, gx = np.gradient(gray)
    inner = np.s_[EDGE_BLUR:-EDGE_BLUR, EDGE_BLUR:-EDGE_BLUR]  # the edge map's border exclusion
    fraction = float(np.mean(np.hypot(gx, gy)[inner] > EDGE_NOISE_FACTOR * sigma))
    wanted = 1.0 - EDGE_PERCENTILE / 100.0
    return {"edge_fraction": fraction, "noise_sigma": sigma, "confidence": min(1.0, fraction / wanted)}


def edge_map(pixels: np.ndarray) -> np.ndarray:
    """HxW map of where the strongest gradients are (image borders excluded)."""
    gy, gx = np.gradient(gray_of(pixels))
    magnitude = np.hypot(gx, gy)
    border = EDGE_BLUR
    magnitude[:border], magnitude[-border:], magnitude[:, :border], magnitude[:, -border:] = 0, 0, 0, 0
    threshold = np.percentile(magnitude, EDGE_PERCENTILE)
    strong = (magnitude > max(threshold, 1e-6)).astype(np.float32)
    return cv2.blur(strong, (EDGE_BLUR, EDGE_BLUR), borderType=cv2.BORDER_CONSTANT)


def crop_probabilities(weights: np.ndarray, crop: int) -> np.ndarray:
    """Probability of each top-left corner (H-crop+1, W-crop+1) from the mean weight over the
    central half of the crop; uniform when the image has no edges at all."""
    height, width = weights.shape
    half = max(crop // 2, 1)
    integral = cv2.integral(weights.astype(np.float64))
    start = (crop - half) // 2
    tops = np.arange(height - crop + 1)[:, None] + start
    lefts = np.arange(width - crop + 1)[None, :] + start
    score = integral[tops + half, lefts + half] - integral[tops, lefts + half] - integral[tops + half, lefts] + integral[tops, lefts]
    total = score.sum()
    return score / total if total > 0 else np.full(score.shape, 1.0 / score.size)


def draw_corners(probabilities: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 2) top-left corners drawn from `probabilities`."""
    flat = rng.choice(probabilities.size, size=count, p=probabilities.ravel())
    return np.stack(np.unravel_index(flat, probabilities.shape), axis=1)


def crop_corners(pixels: np.ndarray, g_crop: int, d_crop: int, count: int, rng: np.random.Generator):
    """Top-left corners for G's crops and D's crops over `count` iterations.

    G's crops follow the edges of the x2-downscaled image (upsampled back), so that G's output,
    which D judges, shows structure; D's real crops follow the image's own edges."""
    height, width = pixels.shape[:2]
    # (torch imresize: the numpy version's unoptimised einsum takes seconds on a 256px image)
    small = edge_map(to_array(imresize(to_tensor(pixels), 0.5)))
    g_weights = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    g_weights = np.pad(g_weights, ((0, max(0, height - g_weights.shape[0])), (0, max(0, width - g_weights.shape[1]))))
    g_corners = draw_corners(crop_probabilities(g_weights[:height, :width], g_crop), count, rng)
    d_corners = draw_corners(crop_probabilities(edge_map(pixels), d_crop), count, rng)
    return g_corners, d_corners
