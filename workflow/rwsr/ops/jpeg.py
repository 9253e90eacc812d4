"""JPEG quality of a file, read back from its quantisation tables.

Real LR photos are JPEGs whose compression the synthesized pairs must reproduce. A file does
not record its quality setting, but libjpeg (IJG) derives its tables from the standard ones
(ITU-T T.81, Annex K) by a known scaling; inverting that scaling recovers the quality exactly
for IJG-encoded files (cameras, OpenCV, Pillow, most software) and the closest IJG quality for
others.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from rwsr.errors import InputError
from rwsr.ops.degradation import jpeg_roundtrip

# Annex K tables, natural (row-major) order, as Pillow's `quantization` returns them.
STANDARD_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float64)  # fmt: skip
STANDARD_CHROMINANCE = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
    *([99] * 32),
], dtype=np.float64)  # fmt: skip


@cache
def ijg_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """The luminance and chrominance tables libjpeg writes at `quality` (1-100, baseline)."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    tables = (np.floor((base * scale + 50) / 100) for base in (STANDARD_LUMINANCE, STANDARD_CHROMINANCE))
    return tuple(np.clip(table, 1, 255) for table in tables)  # type: ignore[return-value]


def quality_from_tables(tables: dict[int, list[int]]) -> int:
    """The IJG quality whose tables are closest (L1) to a file's: exact for IJG files."""
    luma = np.asarray(tables[0], dtype=np.float64)
    chroma = np.asarray(tables[1], dtype=np.float64) if 1 in tables else None

    def distance(quality: int) -> float:
        standard_luma, standard_chroma = ijg_tables(quality)
        error = np.abs(standard_luma - luma).sum()
        return error + (np.abs(standard_chroma - chroma).sum() if chroma is not None else 0.0)

    return min(range(1, 101), key=distance)


def estimate_jpeg_quality(path: str | Path) -> int | None:
    """The JPEG quality a file was saved at, or None when it is not a JPEG file."""
    with Image.open(path) as image:
        if image.format != "JPEG" or not getattr(image, "quantization", None):
            return None
        return quality_from_tables(image.quantization)


@dataclass(frozen=True)
class Compression:
    """The JPEG step of the synthesized degradation: a quality drawn per image from `qualities`
    (None: that image stays uncompressed, as a real PNG or TIFF would)."""

    qualities: tuple[int | None, ...]

    @property
    def enabled(self) -> bool:
        return any(quality is not None for quality in self.qualities)

    def draw(self, rng: np.random.Generator) -> int | None:
        return self.qualities[int(rng.integers(len(self.qualities)))]

    def apply(self, pixels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int | None]:
        """(compressed pixels, the quality drawn)."""
        quality = self.draw(rng)
        return (pixels if quality is None else jpeg_roundtrip(pixels, quality)), quality

    def describe(self) -> str:
        known = sorted(q for q in self.qualities if q is not None)
        if not known:
            return "none"
        plain = len(self.qualities) - len(known)
        return f"jpeg {known[0]}-{known[-1]} ({len(known)} draws" + (f", {plain} uncompressed)" if plain else ")")


NO_COMPRESSION = Compression((None,))


def compression_from_setting(setting: str | Sequence[int], real_lr_qualities: Sequence[int | None] | None,
                             key: str = "pairs.jpeg_quality") -> Compression:  # fmt: skip
    """`auto`: the qualities estimated from the real LR files (one entry per file, None for
    files that are not JPEGs); `none`: no compression; [low, high]: uniform integer range."""
    if setting == "none":
        return NO_COMPRESSION
    if setting == "auto":
        if real_lr_qualities is None:
            raise InputError(f"config key '{key}' is auto but no real LR manifest with JPEG qualities was given")
        return Compression(tuple(real_lr_qualities)) if real_lr_qualities else NO_COMPRESSION
    low, high = setting
    return Compression(tuple(range(int(low), int(high) + 1)))


def read_manifest_qualities(manifest: str | Path) -> list[int | None]:
    """The jpeg_quality column of a data manifest (results/data/real_lr.csv): one entry per image."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise InputError(f"data manifest not found: {manifest} (run the data stage)")
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "jpeg_quality" not in rows[0]:
        raise InputError(f"data manifest {manifest} has no jpeg_quality column; re-run the data stage")
    # Rows without a size are files the data stage saw but skipped (e.g. broken links): not inputs.
    return [int(row["jpeg_quality"]) if row["jpeg_quality"] else None for row in rows if row.get("width")]


def real_lr_qualities(manifest: str | Path | None, folder: str | Path | None) -> list[int | None] | None:
    """The real LR images' JPEG qualities: from the data manifest when given (the prepared PNGs
    have lost them), else read from the files of `folder` (a hand-run command on the originals)."""
    if manifest is not None:
        return read_manifest_qualities(manifest)
    if folder is not None:
        from rwsr.io.images import discover_images

        return [estimate_jpeg_quality(path) for path in discover_images(folder, "real LR folder").values()]
    return None
