"""The bundled demo set: disjoint photos, a hidden degradation, reproducible from the seed."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from rwsr.config import validate_config
from rwsr.data.demo import DEMO_PHOTOS, build_demo, demo_files
from rwsr.io.images import read_image
from rwsr.ops.degradation import grid_offset


@pytest.fixture(scope="module")
def small_config():
    return validate_config({"data": {"demo": {"crop": 128, "max_crops_per_photo": 1}}})


@pytest.fixture(scope="module")
def demo(tmp_path_factory, small_config):
    root = tmp_path_factory.mktemp("demo")
    build_demo(small_config, root)
    return root


def test_groups_use_disjoint_photographs():
    groups = [set(photos) for photos in DEMO_PHOTOS.values()]
    assert sum(len(g) for g in groups) == len(set().union(*groups))


def test_every_listed_file_is_written_with_lr_exactly_hr_over_scale(demo, small_config):
    files = demo_files(small_config, demo)
    for members in files.values():
        for path in members.values():
            assert path.is_file(), path
    for stem in files["val_lr"]:
        lr = read_image(files["val_lr"][stem]).pixels
        hr = read_image(files["val_hr"][stem]).pixels
        assert hr.shape[0] == lr.shape[0] * 4 and hr.shape[1] == lr.shape[1] * 4


def test_hidden_kernels_are_on_the_bicubic_grid_normalised_and_recorded(demo, small_config):
    rows = list(csv.DictReader((demo / "degradations.csv").open()))
    lr_stems = set(demo_files(small_config, demo)["real_lr"]) | set(demo_files(small_config, demo)["val_lr"])
    assert {row["image"] for row in rows} == lr_stems
    for row in rows:
        kernel = np.load(demo / "kernels" / f"{row['image']}.npy")
        assert kernel.dtype == np.float32 and kernel.shape[0] % 2 == 1
        assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
        ys, xs = np.mgrid[: kernel.shape[0], : kernel.shape[1]]
        centre = kernel.shape[0] // 2 + grid_offset(int(row["scale"]))
        # 3-sigma truncation, one side nearer the offset centre, moves the mass by < 0.005 pixels.
        assert (kernel * ys).sum() == pytest.approx(centre, abs=5e-3)
        assert (kernel * xs).sum() == pytest.approx(centre, abs=5e-3)
        assert 70 <= int(row["jpeg_quality"]) <= 90


def test_real_lr_carries_the_configured_noise(demo, small_config):
    """Flat-region residual of the degraded images is near the hidden noise sigma (JPEG smooths a little)."""
    path = next(iter(demo_files(small_config, demo)["real_lr"].values()))
    lr = read_image(path).pixels
    residual = lr - np.mean([np.roll(lr, shift, axis) for shift in (-1, 1) for axis in (0, 1)], axis=0)
    noise = np.median(np.abs(residual)) / 0.6745 / np.sqrt(1 + 1 / 4)
    assert 0.3 * 0.03 < noise < 2.0 * 0.03


def test_same_seed_same_files_other_seed_other_degradation(demo, small_config, tmp_path):
    build_demo(small_config, tmp_path / "again")
    for name in ("hr", "real_lr"):
        for path in (demo / name).iterdir():
            assert path.read_bytes() == (tmp_path / "again" / name / path.name).read_bytes()
    build_demo(validate_config({**small_config, "seed": 1}), tmp_path / "other")
    stem = next(iter(demo_files(small_config, demo)["real_lr"]))
    assert not np.array_equal(np.load(demo / "kernels" / f"{stem}.npy"), np.load(tmp_path / "other" / "kernels" / f"{stem}.npy"))
