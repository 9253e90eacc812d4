"""Every image name discovery accepts works end to end (spaces, quotes, unicode, shell characters);
names Snakemake cannot carry are refused at discovery, naming the file; broken symlinks are
reported, not silently dropped; an unreadable file is reported as a permission problem."""

from __future__ import annotations

import csv
import logging
import os

import numpy as np
import pytest

from conftest import run_snakemake
from rwsr.data.prepare import prepare_inputs
from rwsr.io import images
from rwsr.io.images import ImageError, discover_images, read_image, write_image

ODD_NAMES = ["my lr", "ünï cødé", "it's $(x) & [y];*?", "-dash"]


def random_image(side: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((side, side, 3)).astype(np.float32)


def test_braces_and_control_characters_are_refused_naming_the_files(tmp_path):
    for name in ("x{y}.png", "new\nline.png", "fine name.png"):
        write_image(tmp_path / name, random_image(8, 0))
    with pytest.raises(ImageError, match=r"2 file name\(s\) cannot be used") as error:
        discover_images(tmp_path, "config key 'data.real_lr'")
    message = str(error.value)
    assert "x{y}.png" in message and "wildcard syntax" in message and "new\nline.png" in message
    assert "fine name" not in message


def test_broken_symlinks_are_logged_and_listed_in_the_manifest(tmp_path, caplog):
    folder = tmp_path / "real_lr"
    write_image(folder / "good.png", random_image(40, 1))
    (folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    caplog.set_level(logging.WARNING)
    assert list(discover_images(folder)) == ["good"]
    assert "gone.png skipped: a dangling symlink" in caplog.text and "loop.png skipped: a symlink loop" in caplog.text
    config = {"scale": 4, "data": {"hr": "demo", "real_lr": str(folder), "val_lr": "demo", "val_hr": "demo",
                                   "min_lr_side": 16}}  # fmt: skip
    from rwsr.config import load_config

    config = load_config(config)
    from rwsr.data.demo import build_demo

    build_demo(config, tmp_path / "demo")
    prepare_inputs(config, tmp_path / "demo", tmp_path / "out")
    rows = {row["image"]: row for row in csv.DictReader((tmp_path / "out" / "real_lr.csv").open())}
    assert rows["good"]["width"] == "40" and not rows["good"]["notes"]
    assert rows["gone"]["notes"].startswith("skipped: a dangling symlink") and rows["loop"]["notes"] == "skipped: a symlink loop"


def test_an_unreadable_file_is_a_permission_error_not_a_corrupt_one(tmp_path, monkeypatch):
    write_image(tmp_path / "locked.png", random_image(8, 2))
    if os.geteuid() != 0:
        (tmp_path / "locked.png").chmod(0)
    else:  # root reads everything: make the open fail as it would for a user
        real_open = images.os.open

        def deny(path, flags, *args):
            if str(path).endswith("locked.png"):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, flags, *args)

        monkeypatch.setattr(images.os, "open", deny)
    with pytest.raises(ImageError, match=r"cannot read image .*locked\.png: permission denied"):
        read_image(tmp_path / "locked.png")


def test_odd_names_go_through_data_and_kernels_rules(tmp_path):
    """A real run of the per-image KernelGAN jobs (and the data stage before them) on files named
    with spaces, unicode, quotes and shell characters."""
    folder = tmp_path / "real lr folder"
    for index, name in enumerate(ODD_NAMES):
        write_image(folder / f"{name}.png", random_image(48, index))
    config = {"data": {"real_lr": str(folder), "demo": {"crop": 128, "max_crops_per_photo": 1}},
              "kernels": {"iterations": 20}}  # fmt: skip
    (tmp_path / "run").mkdir()
    result = run_snakemake(tmp_path / "run", "--cores", "2", "results/kernels/pool.npz", config=config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name in ODD_NAMES:
        assert (tmp_path / "run" / "results/kernels" / name / "kernel_x4.npy").is_file(), name
        assert (tmp_path / "run" / "logs/kernels" / f"{name}.log").is_file(), name
    assert sorted(path.name for path in (tmp_path / "run" / "logs/kernels").iterdir()) == sorted(
        [f"{name}.log" for name in ODD_NAMES] + ["pool.log"]
    )  # no stray files from split arguments
