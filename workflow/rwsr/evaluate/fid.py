"""FID and KID on fixed random crops: pytorch-fid's InceptionV3 features, its Frechet distance
formula, and the kernel inception distance on the same features.

Validation sets hold a handful of images, and FID of a few whole images (each squeezed to
299x299) says little: the 2048-d Gaussian fit needs many samples. So each side of the distance
is a set of `crop_count` square crops of `crop_size` pixels, at positions drawn from the config
seed uniformly over all crop positions of the set (an image is picked in proportion to how many
crop positions it has, about its area). The same seed and images give the same crops, so a set
compared with itself scores 0, and the protocol (crop size, count, seed, Inception weights)
travels with every statistic and every score.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage

from rwsr.errors import InputError
from rwsr.io.atomic import atomic_path
from rwsr.io.images import discover_images, read_image
from rwsr.io.progress import progress_bar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CropProtocol:
    """How crops are drawn; two statistics are comparable only under the same protocol."""

    crop_size: int
    crop_count: int
    seed: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "CropProtocol":
        section = config["evaluate"]
        return cls(section["crop_size"], section["crop_count"], config["seed"])


@dataclass(frozen=True)
class SetStatistics:
    """The pool3 features of one set's crops (float32, for KID), their mean and covariance (for
    FID), with their provenance."""

    features: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    protocol: CropProtocol
    inception_weights: str
    n_images: int
    sources: tuple[str, ...]  # the folders the crops came from


def collect_images(folders: Sequence[str | Path], what: str) -> list[Path]:
    """Every image of the folders, folder by folder in the given order, stems sorted."""
    paths: list[Path] = []
    for folder in folders:
        paths.extend(discover_images(folder, what=what).values())
    return paths


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header, so a large reference set is not decoded twice."""
    try:
        with PILImage.open(path) as image:
            width, height = image.size
    except Exception:  # formats Pillow cannot parse still go through OpenCV
        height, width = read_image(path).pixels.shape[:2]
    return height, width


def crop_positions(sizes: Sequence[tuple[int, int]], protocol: CropProtocol) -> np.ndarray:
    """crop_count rows of (image index, top, left), sorted by image, drawn from the seed.

    Picking images in proportion to their number of crop positions, then a position uniformly
    within the image, makes every crop position of the whole set equally likely.
    """
    size = protocol.crop_size
    heights = np.array([h for h, _ in sizes], dtype=np.int64) - size + 1
    widths = np.array([w for _, w in sizes], dtype=np.int64) - size + 1
    positions = (heights * widths).astype(np.float64)
    rng = np.random.default_rng(protocol.seed)
    index = rng.choice(len(sizes), size=protocol.crop_count, p=positions / positions.sum())
    tops = np.floor(rng.random(protocol.crop_count) * heights[index]).astype(np.int64)
    lefts = np.floor(rng.random(protocol.crop_count) * widths[index]).astype(np.int64)
    order = np.argsort(index, kind="stable")  # one pass over the files, each read once
    return np.stack([index, tops, lefts], axis=1)[order]


def iter_crops(paths: Sequence[Path], protocol: CropProtocol, what: str) -> Iterator[np.ndarray]:
    """The protocol's crops (HxWx3 float32), reading each image at most once."""
    sizes = [image_size(path) for path in paths]
    for path, (height, width) in zip(paths, sizes):
        if min(height, width) < protocol.crop_size:
            raise InputError(
                f"{what}: image {path} is {width}x{height} pixels, smaller than the FID crops "
                f"(config key 'evaluate.crop_size' is {protocol.crop_size})"
            )
    plan = crop_positions(sizes, protocol)
    size = protocol.crop_size
    for image_index in np.unique(plan[:, 0]):
        pixels = read_image(paths[image_index]).pixels
        for _, top, left in plan[plan[:, 0] == image_index]:
            yield pixels[top : top + size, left : left + size]


@torch.inference_mode()
def crop_features(
    model: torch.nn.Module, crops: Iterator[np.ndarray], batch_size: int, device: torch.device,
    total: int | None = None, desc: str = "FID features",
) -> np.ndarray:  # fmt: skip
    """N x 2048 float64 pool3 features of the crops, computed batch by batch (with a progress bar
    over the `total` crops)."""
    features, batch = [], []
    bar = progress_bar(total=total, desc=desc, unit="crop")

    def flush() -> None:
        tensor = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).to(device)
        features.append(model(tensor).double().cpu().numpy())
        bar.update(len(batch))
        batch.clear()

    for crop in crops:
        batch.append(crop)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    bar.close()
    return np.concatenate(features)


def set_statistics(
    folders: Sequence[str | Path],
    protocol: CropProtocol,
    model: torch.nn.Module,
    batch_size: int,
    device: torch.device,
    what: str = "FID image set",
) -> SetStatistics:
    """Fit the Gaussian of one image set's crop features (model: rwsr.nn.inception.FIDInception)."""
    paths = collect_images(folders, what)
    features = crop_features(model, iter_crops(paths, protocol, what), batch_size, device, protocol.crop_count, what)
    return SetStatistics(
        features=features.astype(np.float32),
        mu=features.mean(axis=0),
        sigma=np.cov(features, rowvar=False),
        protocol=protocol,
        inception_weights=model.weights.describe(),
        n_images=len(paths),
        sources=tuple(str(folder) for folder in folders),
    )


def require_protocol(stats: SetStatistics, protocol: CropProtocol, inception_weights: str, where: str) -> None:
    """Distances between statistics of different protocols or networks mean nothing."""
    if stats.protocol != protocol or stats.inception_weights != inception_weights:
        raise InputError(
            f"{where}: FID statistics were made with crops {asdict(stats.protocol)} and Inception weights "
            f"{stats.inception_weights}, but the current ones are {asdict(protocol)} and {inception_weights}; "
            "recompute them"
        )


def frechet_moments(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2): pytorch-fid's `calculate_frechet_distance`,
    computed another way.

    pytorch-fid takes the matrix square root of S1 S2 with scipy's sqrtm: over 20 s for 2048-d
    on one core, and inaccurate (it warns) when fewer crops than dimensions make S1, S2 singular.
    Only the trace of that root is needed: with S1 = B B^T (B = V sqrt(w) from S1's eigenvectors),
    S1 S2 has the nonzero eigenvalues of the small symmetric PSD B^T S2 B, whose side is the rank
    of S1 (one less than the crop count when that is below 2048). One eigendecomposition of S1 and
    a small one give the trace exactly; tests/test_fid.py checks it against pytorch-fid's.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"feature dimensions differ: {mu1.shape} vs {mu2.shape}")
    values, vectors = np.linalg.eigh(sigma1)
    # Eigenvalues below this are rounding noise of a rank-deficient covariance, not variance.
    keep = values > max(values.max(), 0.0) * len(values) * np.finfo(np.float64).eps
    basis = vectors[:, keep] * np.sqrt(values[keep])
    small = basis.T @ sigma2 @ basis
    trace_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((small + small.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean)


def frechet_distance(a: SetStatistics, b: SetStatistics) -> float:
    """FID between two sets' statistics; refuses statistics of different protocols."""
    require_protocol(b, a.protocol, a.inception_weights, "frechet_distance")
    return frechet_moments(a.mu, a.sigma, b.mu, b.sigma)


def kernel_inception_distance(
    a: SetStatistics, b: SetStatistics, subsets: int, subset_size: int, seed: int
) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): the unbiased MMD^2 between two sets' features under the cubic
    polynomial kernel k(x, y) = (x.y / d + 1)^3, as mean and standard deviation over `subsets`
    random subsets of `subset_size` crops per side (capped at the smaller set), as torch-fidelity
    computes it. Unlike FID it has no bias from fewer samples than feature dimensions, so it is the
    companion that says whether a small FID gap is real. ~0 for a set against itself."""
    require_protocol(b, a.protocol, a.inception_weights, "kernel_inception_distance")
    x, y = a.features.astype(np.float64), b.features.astype(np.float64)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise InputError(f"KID needs at least 2 crops per side, got {len(x)} and {len(y)}")
    # The kernel between every pair of crops once; each subset then only sums a block of it.
    dim = x.shape[1]
    k_xx, k_yy, k_xy = ((p @ q.T / dim + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for index in range(subsets):
        i, j = rng.choice(len(x), size, replace=False), rng.choice(len(y), size, replace=False)
        xx, yy = k_xx[np.ix_(i, i)], k_yy[np.ix_(j, j)]
        within = (xx.sum() - np.trace(xx) + yy.sum() - np.trace(yy)) / (size * (size - 1))
        values[index] = within - 2 * k_xy[np.ix_(i, j)].mean()
    return float(values.mean()), float(values.std())


def save_statistics(path: str | Path, stats: SetStatistics) -> None:
    """npz with the features, mu, sigma and the provenance as JSON (atomic: an interrupted job
    leaves nothing)."""
    meta = {
        "protocol": asdict(stats.protocol),
        "inception_weights": stats.inception_weights,
        "n_images": stats.n_images,
        "sources": list(stats.sources),
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, features=stats.features, mu=stats.mu, sigma=stats.sigma, meta=np.array(json.dumps(meta)))


def load_statistics(path: str | Path) -> SetStatistics:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return SetStatistics(
                features=data["features"],
                mu=data["mu"],
                sigma=data["sigma"],
                protocol=CropProtocol(**meta["protocol"]),
                inception_weights=meta["inception_weights"],
                n_images=int(meta["n_images"]),
                sources=tuple(meta["sources"]),
            )
    except Exception as error:
        raise InputError(f"cannot read FID statistics from {path}: {error}") from error
