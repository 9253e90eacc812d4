"""Side-by-side crops of the same validation images from several SR folders, for the report.

Scores in results/fid.csv say which row is better; the crops show how (oversmoothing, ringing,
noise left in). Every column uses the same crop window, anchored like the SR outputs themselves:
LR pixel i covers HR pixels scale*i .. scale*i+scale-1 (bicubic's grid), so SR outputs and ground
truth line up from the top-left corner even where their sizes differ by the crop-to-multiple
remainder. Tiles are enlarged `zoom` times without smoothing, so ringing and invented texture show.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from rwsr.errors import InputError
from rwsr.io.images import discover_images, read_image, write_image

# Band above the columns holding their labels, and the white gap between tiles.
LABEL_HEIGHT = 28
GAP = 4
GROUND_TRUTH_LABEL = "ground truth"
# The report shows images at their size; narrower ones are padded with white to this width.
MIN_WIDTH = 512


def layout_size(columns: int, rows: int, tile: int) -> tuple[int, int]:
    """(height, width) of the comparison image: a label band, then `rows` x `columns` tiles of
    `tile` pixels (crop times zoom), at least MIN_WIDTH wide."""
    return LABEL_HEIGHT + rows * tile + (rows - 1) * GAP, max(columns * tile + (columns - 1) * GAP, MIN_WIDTH)


def _draw_label(band: np.ndarray, text: str, left: int, width: int) -> None:
    """Centre `text` in the band over one column, shrinking the font until it fits the column."""
    font, thickness, scale = cv2.FONT_HERSHEY_SIMPLEX, 1, 0.7
    (text_w, text_h), _ = cv2.getTextSize(text, font, scale, thickness)
    while text_w > width - 4 and scale > 0.2:
        scale -= 0.05
        (text_w, text_h), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = (left + max((width - text_w) // 2, 0), (LABEL_HEIGHT + text_h) // 2)
    cv2.putText(band, text, origin, font, scale, (0, 0, 0), thickness, cv2.LINE_AA)


def compare_crops(
    rows: Sequence[str | Path],
    labels: Sequence[str],
    out: str | Path,
    ground_truth: str | Path | None = None,
    crop: int = 48,
    count: int = 3,
    zoom: int = 4,
) -> tuple[int, int]:
    """Write a grid: one line per validation image (first `count` sorted stems of the first
    folder), one column per folder in `rows` (then the ground truth), a central `crop` square
    of each, enlarged `zoom` times (nearest neighbour). The crop shrinks to the smallest image
    side when an image is smaller. Returns the (height, width) written."""
    if not rows:
        raise InputError("compare-crops: --rows names no folder")
    if len(labels) != len(rows):
        raise InputError(f"compare-crops: {len(rows)} folders in --rows but {len(labels)} names in --labels")
    if crop < 8 or count < 1 or zoom < 1:
        raise InputError(f"compare-crops: --crop must be at least 8 (got {crop}), --count and --zoom at least 1 "
                         f"(got {count}, {zoom})")  # fmt: skip
    folders = [Path(folder) for folder in rows]
    columns = list(zip(labels, folders))
    if ground_truth is not None:
        columns.append((GROUND_TRUTH_LABEL, Path(ground_truth)))
    found = [discover_images(folder, f"compare-crops folder for {label!r}") for label, folder in columns]
    stems = sorted(found[0])[:count]
    pixels = []
    for (label, folder), images in zip(columns, found):
        missing = [stem for stem in stems if stem not in images]
        if missing:
            raise InputError(f"compare-crops: {folder} ({label}) has no image named {missing[0]!r}, which {folders[0]} has")
        pixels.append([read_image(images[stem]).pixels for stem in stems])

    # One window for every column of a line, so the columns show the same scene content.
    side = min(crop, *(min(image.shape[:2]) for column in pixels for image in column))
    tile = side * zoom
    height, width = layout_size(len(columns), len(stems), tile)
    canvas = np.ones((height, width, 3), dtype=np.float32)
    for line, stem in enumerate(stems):
        small_h = min(column[line].shape[0] for column in pixels)
        small_w = min(column[line].shape[1] for column in pixels)
        top, left = (small_h - side) // 2, (small_w - side) // 2
        y = LABEL_HEIGHT + line * (tile + GAP)
        for col, column in enumerate(pixels):
            x = col * (tile + GAP)
            window = column[line][top : top + side, left : left + side]
            canvas[y : y + tile, x : x + tile] = window.repeat(zoom, axis=0).repeat(zoom, axis=1)
    # OpenCV draws text on 8-bit images only.
    band = np.full((LABEL_HEIGHT, width, 3), 255, dtype=np.uint8)
    for col, (label, _) in enumerate(columns):
        _draw_label(band, label, col * (tile + GAP), tile)
    canvas[:LABEL_HEIGHT] = band / 255.0
    write_image(out, canvas)
    return height, width
