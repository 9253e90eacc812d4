"""Noise injection of Ji et al. (RealSR, CVPRW 2020): real sensor noise taken from flat patches
of the real LR images and added, zero-mean, to synthesized LR.

A patch counts as flat when its variance is low and every sub-patch has nearly the same mean and
variance as the whole patch: then what varies inside it is noise, not texture or edges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from rwsr.errors import InputError


def is_flat(patch: np.ndarray, sub_size: int, max_variance: float, mean_tolerance: float, variance_tolerance: float) -> bool:
    mean, variance = float(patch.mean()), float(patch.var())
    if variance >= max_variance or variance == 0.0:
        return False
    size = patch.shape[0]
    for top in range(0, size - sub_size + 1, sub_size):
        for left in range(0, size - sub_size + 1, sub_size):
            sub = patch[top : top + sub_size, left : left + sub_size]
            if abs(sub.mean() - mean) > mean_tolerance * mean or abs(sub.var() - variance) > variance_tolerance * variance:
                return False
    return True


def collect_noise_patches(images: Iterable[np.ndarray], settings: Mapping[str, Any]) -> np.ndarray:
    """Zero-mean (per channel) noise patches, N x P x P x 3, from the flat regions of `images`."""
    size = settings["patch_size"]
    sub_size = max(size // settings["sub_patches"], 2)
    patches = []
    for pixels in images:
        height, width = pixels.shape[:2]
        for top in range(0, height - size + 1, size // 2):
            for left in range(0, width - size + 1, size // 2):
                patch = pixels[top : top + size, left : left + size]
                if is_flat(patch, sub_size, settings["max_variance"], settings["mean_tolerance"], settings["variance_tolerance"]):
                    patches.append(patch - patch.mean(axis=(0, 1), keepdims=True))
    if not patches:
        raise InputError(
            "no flat patches found in the real LR images for noise injection; raise config key "
            "'pairs.noise_patches.max_variance' or lower 'pairs.noise_patches.patch_size'"
        )
    return np.stack(patches).astype(np.float32)


def inject_noise(lr: np.ndarray, patches: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Add noise tiled from randomly drawn, randomly flipped patches; returns the image and patch indices."""
    size = patches.shape[1]
    height, width = lr.shape[:2]
    field = np.zeros_like(lr)
    drawn = []
    for top in range(0, height, size):
        for left in range(0, width, size):
            index = int(rng.integers(len(patches)))
            drawn.append(index)
            patch = patches[index]
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            if rng.random() < 0.5:
                patch = patch[::-1]
            block = field[top : top + size, left : left + size]
            block[...] = patch[: block.shape[0], : block.shape[1]]
    return np.clip(lr + field, 0.0, 1.0), drawn
