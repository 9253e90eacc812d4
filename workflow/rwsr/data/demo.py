"""The bundled demo set, built from photographs that ship inside the scikit-image wheel.

Disjoint photos feed the clean HR set, the real-LR set and the validation set. Real and
validation LR images get a degradation the pipeline is never told about (rwsr.ops.degradation):
a random anisotropic Gaussian kernel per image, subsampling by `scale`, Gaussian sensor noise,
and JPEG (the file is written as .jpg at the drawn quality). The hidden kernels and settings are
kept in kernels/ and degradations.csv so tests can score the estimates.
"""

from __future__ import annotations

import logging
from functools import cache
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rwsr.io.atomic import atomic_path, write_csv_atomic
from rwsr.io.images import write_image
from rwsr.ops.degradation import add_gaussian_noise, blur_subsample, random_kernel

log = logging.getLogger(__name__)

# Which photographs feed which set; no photo appears twice. The clean HR set holds everyday
# photos with detail at every scale (the deep field's isolated stars would teach the SR model
# that noise specks are stars to sharpen, so it serves as real LR, where it shows the blur).
DEMO_PHOTOS: dict[str, tuple[str, ...]] = {
    "hr": ("astronaut", "rocket", "motorcycle"),
    "real_lr": ("chelsea", "immunohistochemistry", "hubble_deep_field"),
    "val": ("coffee", "retina"),
}
# Crop sides are multiples of 4 so that both scales divide them.
SIDE_MULTIPLE = 4


@cache
def load_photo(name: str) -> np.ndarray:
    """An RGB float32 photograph from skimage.data (no download); treat as read-only."""
    import skimage.data

    photo = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    return photo.astype(np.float32) / 255.0


def crop_boxes(height: int, width: int, crop: int, max_crops: int) -> list[tuple[int, int, int]]:
    """(top, left, side) of up to max_crops disjoint square tiles of a grid centred on the photo."""
    side = min(crop, height, width) // SIDE_MULTIPLE * SIDE_MULTIPLE
    rows, cols = height // side, width // side
    top0, left0 = (height - rows * side) // 2, (width - cols * side) // 2
    boxes = [(top0 + r * side, left0 + c * side, side) for r in range(rows) for c in range(cols)]
    return boxes[:max_crops]


def demo_crops(settings: Mapping[str, Any]) -> dict[str, dict[str, tuple[str, tuple[int, int, int]]]]:
    """For each photo group, image stem -> (photo name, crop box)."""
    groups: dict[str, dict[str, tuple[str, tuple[int, int, int]]]] = {}
    for group, photos in DEMO_PHOTOS.items():
        groups[group] = {}
        for photo in photos:
            height, width = load_photo(photo).shape[:2]
            for index, box in enumerate(crop_boxes(height, width, settings["crop"], settings["max_crops_per_photo"])):
                groups[group][f"{photo}_{index}"] = (photo, box)
    return groups


def demo_files(config: Mapping[str, Any], root: str | Path) -> dict[str, dict[str, Path]]:
    """Data set name (hr, real_lr, val_lr, val_hr) -> stem -> the file `build_demo` writes."""
    root = Path(root)
    crops = demo_crops(config["data"]["demo"])
    return {
        "hr": {stem: root / "hr" / f"{stem}.png" for stem in crops["hr"]},
        "real_lr": {stem: root / "real_lr" / f"{stem}.jpg" for stem in crops["real_lr"]},
        "val_lr": {stem: root / "val_lr" / f"{stem}.jpg" for stem in crops["val"]},
        "val_hr": {stem: root / "val_hr" / f"{stem}.png" for stem in crops["val"]},
    }


def hidden_kernel_path(table: str | Path, image: str) -> Path:
    """Where `build_demo` keeps an image's hidden kernel, next to its degradations.csv `table`."""
    return Path(table).parent / "kernels" / f"{image}.npy"


def hidden_degradation(hr: np.ndarray, rng: np.random.Generator, scale: int, settings: Mapping[str, Any]):
    """Apply the demo's secret degradation; returns the LR pixels, the kernel and a record."""
    kernel, params = random_kernel(rng, scale, tuple(settings["kernel_sigma"]))
    lr = add_gaussian_noise(blur_subsample(hr, kernel, scale), settings["noise_sigma"], rng)
    quality = int(rng.integers(settings["jpeg_quality"][0], settings["jpeg_quality"][1] + 1))
    return lr, kernel, {**params, "noise_sigma": settings["noise_sigma"], "jpeg_quality": quality}


def build_demo(config: Mapping[str, Any], root: str | Path) -> None:
    """Write the demo set under `root`; the same config (seed) gives the same files."""
    root = Path(root)
    settings, scale = config["data"]["demo"], config["scale"]
    files = demo_files(config, root)
    crops = demo_crops(settings)
    records = []
    for index, (group, members) in enumerate(crops.items()):
        for number, (stem, (photo, (top, left, side))) in enumerate(members.items()):
            hr = load_photo(photo)[top : top + side, left : left + side]
            if group == "hr":
                write_image(files["hr"][stem], hr)
                continue
            rng = np.random.default_rng([config["seed"], index, number])
            lr, kernel, record = hidden_degradation(hr, rng, scale, settings)
            lr_set = "real_lr" if group == "real_lr" else "val_lr"
            if group == "val":
                write_image(files["val_hr"][stem], hr)
            write_image(files[lr_set][stem], lr, jpeg_quality=record["jpeg_quality"])
            with atomic_path(hidden_kernel_path(root / "degradations.csv", stem)) as tmp:
                np.save(tmp, kernel)
            records.append({"set": lr_set, "image": stem, "scale": scale, **record})
            log.info("demo %s/%s: %dx%d LR, hidden kernel %s", lr_set, stem, lr.shape[1], lr.shape[0], record)
    write_csv_atomic(root / "degradations.csv", list(records[0]), records)
