"""Validate and normalise every input image once, before any training starts.

Each image is decoded, checked (corrupt, too small, wrong scale between val_lr and val_hr) and
converted (grayscale, alpha, 16-bit: logged) into `results/data/<set>/<stem>.png`, so every later
stage reads one kind of file. The workflow does it one job per image, so adding an image prepares
only that one; each job writes the image's manifest row, and a cheap job per set gathers the rows
into `results/data/<set>.csv`. Broken symlinks are logged and listed in the manifest as skipped.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rwsr.data.sets import DEMO, source_images
from rwsr.io.atomic import write_csv_atomic
from rwsr.io.images import ImageError, discover_images, read_image, skipped_entries, write_image
from rwsr.ops.degradation import crop_to_multiple
from rwsr.ops.jpeg import estimate_jpeg_quality
from rwsr.ops.resize import imresize_array

log = logging.getLogger(__name__)

# jpeg_quality: the source file's JPEG quality from its quantisation tables (empty for other
# formats); the written PNG loses it, and the pairs stage needs it to compress like the real LR.
MANIFEST_FIELDS = ("image", "source", "width", "height", "bit_depth", "jpeg_quality", "notes")


def min_sides(config: Mapping[str, Any]) -> dict[str, int]:
    lr_side = config["data"]["min_lr_side"]
    hr_side = lr_side * config["scale"]
    return {"hr": hr_side, "val_hr": hr_side, "real_lr": lr_side, "val_lr": lr_side}


def prepare_image(config: Mapping[str, Any], name: str, source: str | Path, output: str | Path,
                  lr_partner: str | Path | None = None) -> dict[str, Any]:  # fmt: skip
    """Validate and normalise one image of set `name` into the PNG `output`; its manifest row.

    `lr_partner`, for a val_hr image, is its validation LR image: the two must differ by exactly
    the scale. Nothing is written when the image is rejected."""
    image = read_image(source, min_side=min_sides(config)[name])
    height, width = image.pixels.shape[:2]
    if lr_partner is not None:
        lr_height, lr_width = read_image(lr_partner).pixels.shape[:2]
        mismatch = scale_mismatch(Path(output).stem, (height, width), (lr_height, lr_width), config["scale"])
        if mismatch:
            raise ImageError(mismatch)
    for note in image.notes:
        log.warning("%s: %s", source, note)
    write_image(output, image.pixels, bit_depth=16 if image.bit_depth > 8 else 8)
    return {"image": Path(output).stem, "source": str(source), "width": width, "height": height,
            "bit_depth": image.bit_depth, "jpeg_quality": estimate_jpeg_quality(source) or "",
            "notes": "; ".join(image.notes)}  # fmt: skip


def write_row(path: str | Path, row: Mapping[str, Any]) -> None:
    """One image's manifest row, kept beside the others until the set's manifest gathers them."""
    write_csv_atomic(path, MANIFEST_FIELDS, [row])


def write_manifest(config: Mapping[str, Any], name: str, rows: Iterable[Mapping[str, Any]], out: str | Path) -> None:
    """The set's manifest `out`: its images' rows, then the image-named entries of its folder that
    were seen and skipped (broken symlinks: not inputs, but the manifest says so)."""
    rows = list(rows)
    if config["data"][name] != DEMO:
        for path, reason in skipped_entries(config["data"][name]):
            log.warning("%s: %s", path, reason)
            rows.append({"image": path.stem, "source": str(path), "notes": reason})
    write_csv_atomic(out, MANIFEST_FIELDS, rows)


def read_rows(paths: Iterable[str | Path]) -> list[dict[str, str]]:
    """The rows that write_row wrote, in the order given."""
    rows = []
    for path in paths:
        with Path(path).open(newline="") as handle:
            rows += list(csv.DictReader(handle))
    return rows


def prepare_inputs(config: Mapping[str, Any], demo_root: str | Path, outdir: str | Path) -> None:
    """Write `outdir/<set>/<stem>.png` and a manifest `outdir/<set>.csv` for every active set, in
    one go (`rwsr prepare-data`; the workflow runs prepare_image per image instead). Every problem
    is gathered and reported together."""
    outdir = Path(outdir)
    errors: list[str] = []
    for name, members in source_images(config, demo_root).items():
        rows = []
        for stem, path in members.items():
            partner = outdir / "val_lr" / f"{stem}.png" if name == "val_hr" else None
            if partner is not None and not partner.is_file():
                continue  # its validation LR image was rejected, and named, already
            try:
                rows.append(prepare_image(config, name, path, outdir / name / f"{stem}.png", partner))
            except ImageError as error:
                errors.append(str(error))
        write_manifest(config, name, rows, outdir / f"{name}.csv")
    if errors:
        raise ImageError(f"{len(errors)} input problem(s), nothing was trained:\n  " + "\n  ".join(errors))


def scale_mismatch(stem: str, hr_size: tuple[int, int], lr_size: tuple[int, int], scale: int) -> str | None:
    """Validation ground truth must be exactly `scale` times its LR image."""
    (hr_h, hr_w), (lr_h, lr_w) = hr_size, lr_size
    if (hr_h, hr_w) == (lr_h * scale, lr_w * scale):
        return None
    return (f"validation pair {stem!r}: HR is {hr_w}x{hr_h} but LR {lr_w}x{lr_h} times scale {scale} "
            f"is {lr_w * scale}x{lr_h * scale}; check config key 'scale'")  # fmt: skip


def downscale_folder(input_dir: str | Path, output_dir: str | Path, scale: int) -> None:
    """MATLAB-bicubic downscale of every image (cropped to a multiple of `scale` first)."""
    for stem, path in discover_images(input_dir, what="downscale input").items():
        image = read_image(path)
        lr = imresize_array(crop_to_multiple(image.pixels, scale), 1.0 / scale)
        write_image(Path(output_dir) / f"{stem}.png", lr, bit_depth=16 if image.bit_depth > 8 else 8)
