"""Validate and normalise every input image once, before any training starts.

Each image is decoded, checked (corrupt, too small, wrong scale between val_lr and val_hr) and
converted (grayscale, alpha, 16-bit: logged) into `results/data/<set>/<stem>.png`, so every later
stage reads one kind of file. Broken symlinks are logged and listed in the manifest as skipped. All problems are gathered and reported together, naming each file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
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


def prepare_inputs(config: Mapping[str, Any], demo_root: str | Path, outdir: str | Path) -> None:
    """Write `outdir/<set>/<stem>.png` and a manifest `outdir/<set>.csv` for every active set."""
    outdir = Path(outdir)
    limits = min_sides(config)
    errors: list[str] = []
    sizes: dict[tuple[str, str], tuple[int, int]] = {}
    for name, members in source_images(config, demo_root).items():
        rows = []
        for stem, path in members.items():
            try:
                image = read_image(path, min_side=limits[name])
            except ImageError as error:
                errors.append(str(error))
                continue
            height, width = image.pixels.shape[:2]
            sizes[name, stem] = (height, width)
            for note in image.notes:
                log.warning("%s: %s", path, note)
            write_image(outdir / name / f"{stem}.png", image.pixels, bit_depth=16 if image.bit_depth > 8 else 8)
            rows.append({"image": stem, "source": str(path), "width": width, "height": height,
                         "bit_depth": image.bit_depth, "jpeg_quality": estimate_jpeg_quality(path) or "",
                         "notes": "; ".join(image.notes)})
        if config["data"][name] != DEMO:
            # Broken symlinks are not inputs, but the manifest says they were seen and skipped.
            for path, reason in skipped_entries(config["data"][name]):
                log.warning("%s: %s", path, reason)
                rows.append({"image": path.stem, "source": str(path), "notes": reason})
        write_csv_atomic(outdir / f"{name}.csv", MANIFEST_FIELDS, rows)
    errors += scale_mismatches(sizes, config["scale"])
    if errors:
        raise ImageError(f"{len(errors)} input problem(s), nothing was trained:\n  " + "\n  ".join(errors))


def scale_mismatches(sizes: Mapping[tuple[str, str], tuple[int, int]], scale: int) -> list[str]:
    """Validation ground truth must be exactly `scale` times its LR image."""
    problems = []
    for (name, stem), (hr_h, hr_w) in sizes.items():
        if name != "val_hr" or ("val_lr", stem) not in sizes:
            continue
        lr_h, lr_w = sizes["val_lr", stem]
        if (hr_h, hr_w) != (lr_h * scale, lr_w * scale):
            problems.append(
                f"validation pair {stem!r}: HR is {hr_w}x{hr_h} but LR {lr_w}x{lr_h} times scale {scale} "
                f"is {lr_w * scale}x{lr_h * scale}; check config key 'scale'"
            )
    return problems


def downscale_folder(input_dir: str | Path, output_dir: str | Path, scale: int) -> None:
    """MATLAB-bicubic downscale of every image (cropped to a multiple of `scale` first)."""
    for stem, path in discover_images(input_dir, what="downscale input").items():
        image = read_image(path)
        lr = imresize_array(crop_to_multiple(image.pixels, scale), 1.0 / scale)
        write_image(Path(output_dir) / f"{stem}.png", lr, bit_depth=16 if image.bit_depth > 8 else 8)
