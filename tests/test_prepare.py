"""The data stage validates and normalises user folders before anything trains."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from rwsr.config import validate_config
from rwsr.data.prepare import downscale_folder, prepare_image, prepare_inputs, read_rows, write_manifest, write_row
from rwsr.errors import InputError
from rwsr.io.images import read_image
from rwsr.ops.resize import imresize_array


def noise(height, width, channels=3, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    high = 65536 if dtype == np.uint16 else 256
    shape = (height, width, channels) if channels > 1 else (height, width)
    return rng.integers(0, high, size=shape).astype(dtype)


def folders(tmp_path, scale=2):
    """hr, real_lr, val_lr, val_hr folders holding one of each odd kind of file."""
    hr, real, val_lr, val_hr = (tmp_path / name for name in ("hr", "real", "val_lr", "val_hr"))
    for folder in (hr, real, val_lr, val_hr):
        folder.mkdir()
    cv2.imwrite(str(hr / "gray.png"), noise(64, 80, channels=1))
    cv2.imwrite(str(hr / "deep.TIF"), noise(64, 64, dtype=np.uint16))
    cv2.imwrite(str(real / "rgba.png"), noise(40, 40, channels=4))
    cv2.imwrite(str(real / "photo.JPG"), noise(40, 48))
    cv2.imwrite(str(val_lr / "v.png"), noise(32, 32))
    cv2.imwrite(str(val_hr / "v.png"), noise(32 * scale, 32 * scale))
    config = validate_config({"scale": scale, "data": {"hr": str(hr), "real_lr": str(real), "val_lr": str(val_lr),
                                                        "val_hr": str(val_hr), "min_lr_side": 16}})
    return config


def test_odd_files_are_converted_and_noted_in_the_manifest(tmp_path):
    config = folders(tmp_path)
    out = tmp_path / "out"
    prepare_inputs(config, tmp_path / "unused-demo", out)
    assert sorted(p.name for p in (out / "hr").iterdir()) == ["deep.png", "gray.png"]
    assert read_image(out / "hr" / "deep.png").bit_depth == 16
    rows = {row["image"]: row for row in csv.DictReader((out / "hr.csv").open())}
    assert "grayscale" in rows["gray"]["notes"] and rows["deep"]["bit_depth"] == "16"
    real = {row["image"]: row for row in csv.DictReader((out / "real_lr.csv").open())}
    assert "alpha" in real["rgba"]["notes"] or "transparent" in real["rgba"]["notes"]


def test_all_problems_are_reported_together_naming_files(tmp_path):
    config = folders(tmp_path)
    (tmp_path / "hr" / "broken.png").write_bytes(b"\x89PNG garbage")
    cv2.imwrite(str(tmp_path / "real" / "tiny.png"), noise(8, 8))
    with pytest.raises(InputError) as caught:
        prepare_inputs(config, tmp_path / "unused-demo", tmp_path / "out")
    message = str(caught.value)
    assert "2 input problem(s)" in message and "broken.png" in message and "tiny.png" in message


def test_wrong_scale_between_validation_pairs_is_named(tmp_path):
    config = folders(tmp_path, scale=2)
    config = validate_config({**config, "scale": 4})
    with pytest.raises(InputError, match=r"validation pair 'v'.*scale"):
        prepare_inputs(config, tmp_path / "unused-demo", tmp_path / "out")


def test_missing_folder_names_the_config_key(tmp_path):
    config = folders(tmp_path)
    config["data"]["real_lr"] = str(tmp_path / "nowhere")
    with pytest.raises(InputError, match="data.real_lr.*folder not found"):
        prepare_inputs(config, tmp_path / "unused-demo", tmp_path / "out")


def test_downscale_is_matlab_bicubic_of_the_cropped_image(tmp_path):
    (tmp_path / "in").mkdir()
    pixels = noise(50, 66).astype(np.float32) / 255.0
    cv2.imwrite(str(tmp_path / "in" / "a.png"), np.rint(pixels * 255).astype(np.uint8))
    downscale_folder(tmp_path / "in", tmp_path / "out", 4)
    lr = read_image(tmp_path / "out" / "a.png").pixels
    assert lr.shape == (12, 16, 3)
    expected = imresize_array(read_image(tmp_path / "in" / "a.png").pixels[:48, :64], 0.25)
    np.testing.assert_allclose(lr, np.clip(expected, 0, 1), atol=0.5 / 255 + 1e-6)


def test_one_image_is_prepared_alone_and_a_rejected_one_writes_nothing(tmp_path):
    config = folders(tmp_path, scale=2)
    lr = tmp_path / "out" / "val_lr" / "v.png"
    row = prepare_image(config, "val_lr", tmp_path / "val_lr" / "v.png", lr)
    assert (row["image"], row["width"], row["height"]) == ("v", 32, 32) and lr.is_file()
    hr = tmp_path / "out" / "val_hr" / "v.png"
    prepare_image(config, "val_hr", tmp_path / "val_hr" / "v.png", hr, lr_partner=lr)
    assert read_image(hr).pixels.shape[:2] == (64, 64)
    hr.unlink()
    with pytest.raises(InputError, match=r"validation pair 'v'.*scale 4"):
        prepare_image(validate_config({**config, "scale": 4}), "val_hr", tmp_path / "val_hr" / "v.png", hr, lr)
    assert not hr.exists()


def test_the_manifest_gathers_rows_in_order_and_lists_skipped_links(tmp_path):
    config = folders(tmp_path)
    (tmp_path / "real" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    rows = []
    for stem, source in (("photo", "photo.JPG"), ("rgba", "rgba.png")):
        rows.append(tmp_path / "rows" / f"{stem}.csv")
        write_row(rows[-1], prepare_image(config, "real_lr", tmp_path / "real" / source, tmp_path / "out" / f"{stem}.png"))
    write_manifest(config, "real_lr", read_rows(rows), tmp_path / "real_lr.csv")
    manifest = list(csv.DictReader((tmp_path / "real_lr.csv").open()))
    assert [row["image"] for row in manifest] == ["photo", "rgba", "gone"]
    assert int(manifest[0]["jpeg_quality"]) > 0 and manifest[1]["jpeg_quality"] == "" and not manifest[2]["width"]


def test_the_cli_knows_the_sets_the_data_stage_knows():
    from rwsr.data.cli import SETS
    from rwsr.data.sets import DATASETS

    assert SETS == DATASETS
