"""Kernel pictures, and the pool of every image's kernel that the pairs stage draws from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from rwsr.errors import InputError
from rwsr.io.atomic import atomic_path
from rwsr.io.images import write_image
from rwsr.kernels.kernel_ops import pad_to, trim_zero_rings
from rwsr.ops.degradation import validate_kernel

CELL = 120  # side of one kernel's tile in a picture, pixels
LABEL = 18  # height of the caption strip above each tile


def kernel_picture(kernels: Sequence[np.ndarray], labels: Sequence[str], columns: int = 8) -> np.ndarray:
    """A grid of kernels (each scaled to its own peak, viridis colours) with captions: HxWx3 [0, 1]."""
    rows = -(-len(kernels) // columns)
    columns = min(columns, len(kernels))
    canvas = np.full((rows * (CELL + LABEL), columns * CELL, 3), 255, dtype=np.uint8)
    for index, (kernel, label) in enumerate(zip(kernels, labels)):
        kernel = np.asarray(kernel, dtype=np.float32)
        tile = np.clip(kernel / max(float(kernel.max()), 1e-12), 0.0, 1.0)
        zoom = max(1, (CELL - 8) // kernel.shape[0])
        tile = cv2.resize((tile * 255).astype(np.uint8), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
        tile = cv2.applyColorMap(tile, cv2.COLORMAP_VIRIDIS)[:, :, ::-1]
        top = (index // columns) * (CELL + LABEL) + LABEL + (CELL - tile.shape[0]) // 2
        left = (index % columns) * CELL + (CELL - tile.shape[1]) // 2
        canvas[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
        text = f"{label} {kernel.shape[0]}px"[:20]
        origin = ((index % columns) * CELL + 3, (index // columns) * (CELL + LABEL) + LABEL - 5)
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas.astype(np.float32) / 255.0


def load_kernel(path: str | Path) -> np.ndarray:
    path = Path(path)
    try:
        return validate_kernel(np.load(path), name=f"kernel file {path}")
    except (OSError, ValueError) as error:
        raise InputError(f"cannot use kernel file {path}: {error}") from error


def gather_pool(paths: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, K) kernels zero-padded to one odd size K (same centre offsets, sum 1) and (N,) image names.

    The image name is the kernel file's folder (results/kernels/{image}/kernel_x4.npy)."""
    if not paths:
        raise InputError("kernel pool: no kernel files given")
    kernels = [trim_zero_rings(load_kernel(p)) for p in paths]
    size = max(k.shape[0] for k in kernels)
    stacked = np.stack([pad_to(k, size) for k in kernels]).astype(np.float32)
    return stacked, np.array([Path(p).parent.name for p in paths])


def write_pool(paths: Sequence[str | Path], scale: int, output: str | Path, montage: str | Path | None = None) -> None:
    """Write the pool file (arrays kernels, images, scale) and, optionally, its montage PNG."""
    kernels, images = gather_pool(paths)
    with atomic_path(output) as tmp:
        with tmp.open("wb") as handle:
            np.savez(handle, kernels=kernels, images=images, scale=np.int64(scale))
    if montage:
        write_image(montage, kernel_picture(list(kernels), [str(n) for n in images]))


def load_pool(path: str | Path) -> tuple[np.ndarray, list[str], int]:
    """Read a pool written by `write_pool`: (kernels (N, K, K), image names, scale)."""
    with np.load(path) as data:
        return data["kernels"].astype(np.float32), [str(n) for n in data["images"]], int(data["scale"])
