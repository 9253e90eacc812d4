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


def edge_map(pixels: np.ndarray) -> np.ndarray:
    """HxW map of where the strongest gradients are (image borders excluded)."""
    gray = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    gy, gx = np.gradient(gray)
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
