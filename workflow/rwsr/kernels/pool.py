"""Kernel pictures, and the pool of every image's kernel that the pairs stage draws from.

pool.npz holds `kernels` (N, K, K) float32, `images` (N,) names, `scale`, and, per kernel, its
`confidence` in [0, 1] (rwsr.kernels.crops.edge_evidence of its LR image, read from the
CONFIDENCE_FILE beside the kernel; 1 when that file is missing), its `spread` (the trace of its
second moments, pixels^2), whether it was `rejected` as a failed estimate (size_outliers), and
`weights` (N,) float64 summing to 1: the probability with which the pairs stage should draw each
kernel (confidence normalised over the kernels not rejected). An image with few edges (flat sky,
star field) gives a kernel its data barely constrain, so it gets a proportionally smaller share of
the pair draws; a kernel far wider or narrower than the rest gets none.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rwsr.errors import InputError
from rwsr.io.atomic import atomic_path, write_text_atomic
from rwsr.io.images import write_image
from rwsr.kernels.kernel_ops import kernel_spread, pad_to, trim_zero_rings
from rwsr.ops.degradation import validate_kernel

log = logging.getLogger(__name__)

# Written by the kernels stage beside each image's kernels (write_kernel_folder).
CONFIDENCE_FILE = "confidence.json"

# A kernel whose log spread lies more than OUTLIER_Z robust standard deviations from the pool's
# median is rejected (Iglewicz and Hoaglin's modified z-score and cut-off: 0.6745 |x - median| / MAD).
OUTLIER_Z = 3.5
# Floor of that median absolute deviation. KernelGAN's size barely follows the true blur's (slope
# about 0, bench/README.md), so spreads far from the rest are failed estimates rather than blurrier
# shots; the floor keeps a pool of near-identical kernels from rejecting one that is merely a bit
# off: with it, only kernels beyond exp(OUTLIER_Z * MIN_LOG_MAD / 0.6745) = 2.8x (or under 1/2.8x)
# the median's variance go, however tight the rest are.
MIN_LOG_MAD = 0.2

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


def check_outdirs(command: str, inputs: Sequence[str | Path], outdirs: Sequence[str | Path]) -> None:
    """An estimator's command takes one output folder per input image, in the same order."""
    if len(inputs) != len(outdirs) or not inputs:
        raise InputError(f"{command}: give one --outdir per --input (got {len(inputs)} inputs, {len(outdirs)} outdirs)")


def write_kernel_folder(outdir: Path, kernels: Mapping[str, np.ndarray], settings: Mapping[str, Any],
                        evidence: Mapping[str, float]) -> None:
    """One image's folder as every estimator writes it and the pool reads it: kernel_{name}.npy
    per scale name ("x2", "x4"), kernel.png, settings.json and CONFIDENCE_FILE. The estimator's own
    record (KernelGAN's log.csv, the spectral fit's fit.json) comes last, from the caller: it marks
    the folder done."""
    outdir.mkdir(parents=True, exist_ok=True)
    for name, kernel in kernels.items():
        with atomic_path(outdir / f"kernel_{name}.npy") as tmp:
            np.save(tmp, kernel)
    write_image(outdir / "kernel.png", kernel_picture(list(kernels.values()), list(kernels), columns=2))
    write_text_atomic(outdir / "settings.json", json.dumps(settings, indent=2) + "\n")
    write_text_atomic(outdir / CONFIDENCE_FILE, json.dumps(evidence, indent=2) + "\n")


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


def read_confidence(kernel_path: str | Path) -> float | None:
    """The confidence recorded beside a kernel file, or None when there is none."""
    path = Path(kernel_path).parent / CONFIDENCE_FILE
    if not path.is_file():
        return None
    try:
        value = float(json.loads(path.read_text())["confidence"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"cannot read the kernel confidence in {path}: {error}") from error
    if not 0.0 <= value <= 1.0:
        raise InputError(f"kernel confidence in {path} is {value}, outside [0, 1]")
    return value


def size_outliers(spreads: Sequence[float], images: Sequence[str]) -> np.ndarray:
    """(N,) bool: kernels whose spread is an outlier of the pool's on a log scale (OUTLIER_Z,
    MIN_LOG_MAD), each logged. With fewer than three kernels none is (no majority to judge by)."""
    logs = np.log(np.asarray(spreads, dtype=np.float64))
    if logs.size < 3:
        return np.zeros(logs.size, dtype=bool)
    median = np.median(logs)
    mad = max(float(np.median(np.abs(logs - median))), MIN_LOG_MAD)
    z = 0.6745 * np.abs(logs - median) / mad
    outliers = z > OUTLIER_Z
    for name, spread, score in zip(np.asarray(images)[outliers], np.exp(logs[outliers]), z[outliers]):
        log.warning("kernel pool: rejected %s: its spread %.1f px^2 is %.1fx the pool's median %.1f (robust z %.1f > %.1f), "
                    "a failed estimate; it is never drawn", name, spread, spread / np.exp(median), np.exp(median), score, OUTLIER_Z)
    return outliers


def pool_weights(confidences: Sequence[float], images: Sequence[str], rejected: np.ndarray | None = None) -> np.ndarray:
    """Draw probabilities (sum 1) proportional to each kernel's confidence, 0 for `rejected`
    kernels; every other kernel whose share falls below the equal share of the kept ones is logged
    with its confidence."""
    kept = ~rejected if rejected is not None else np.ones(len(confidences), dtype=bool)
    confidence = np.where(kept, np.asarray(confidences, dtype=np.float64), 0.0)
    equal = 1.0 / kept.sum()
    if confidence.sum() <= 0:
        log.warning("kernel pool: no image has any edge evidence; drawing all %d kept kernels equally", kept.sum())
        return np.where(kept, equal, 0.0)
    weights = confidence / confidence.sum()
    for name, c, w in zip(np.asarray(images)[kept], confidence[kept], weights[kept]):
        if w < equal * (1 - 1e-9):
            log.warning("kernel pool: down-weighted %s: confidence %.3f (few edges), draw weight %.4f instead of %.4f", name, c, w, equal)
    return weights


def write_pool(paths: Sequence[str | Path], scale: int, output: str | Path, montage: str | Path | None = None) -> None:
    """Write the pool file (arrays kernels, images, scale, confidence, spread, rejected, weights) and, optionally,
    its montage PNG."""
    kernels, images = gather_pool(paths)
    confidences = []
    for path, name in zip(paths, images):
        value = read_confidence(path)
        if value is None:
            log.warning("kernel pool: %s has no %s beside it; confidence 1", path, CONFIDENCE_FILE)
            value = 1.0
        confidences.append(value)
    names = [str(n) for n in images]
    spreads = np.array([kernel_spread(k) for k in kernels])
    rejected = size_outliers(spreads, names)
    weights = pool_weights(confidences, names, rejected)
    with atomic_path(output) as tmp:
        with tmp.open("wb") as handle:
            np.savez(handle, kernels=kernels, images=images, scale=np.int64(scale), confidence=np.asarray(confidences, dtype=np.float32),
                     spread=spreads.astype(np.float32), rejected=rejected, weights=weights)
    if montage:
        write_image(montage, kernel_picture(list(kernels), names))


def load_pool(path: str | Path) -> tuple[np.ndarray, list[str], int]:
    """Read a pool written by `write_pool`: (kernels (N, K, K), image names, scale)."""
    with np.load(path) as data:
        return data["kernels"].astype(np.float32), [str(n) for n in data["images"]], int(data["scale"])


def load_pool_weights(path: str | Path) -> np.ndarray:
    """The pool's draw probabilities (N,), summing to 1; uniform for a pool written before weights."""
    with np.load(path) as data:
        if "weights" in data:
            return data["weights"].astype(np.float64)
        return np.full(len(data["images"]), 1.0 / len(data["images"]))
