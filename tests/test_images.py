"""Input discovery and reading: odd files are converted with a note or rejected naming the file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rwsr.io.images import ImageError, discover_images, read_image, to_array, to_tensor, write_image


def bgr(height=40, width=50):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def test_discovery_accepts_every_suffix_in_any_letter_case(tmp_path):
    for name in ["a.PNG", "b.jpg", "c.JPEG", "d.bmp", "e.Tif", "f.tiff", "g.webp"]:
        assert cv2.imwrite(str(tmp_path / name), bgr())
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"")
    assert sorted(discover_images(tmp_path)) == list("abcdefg")


def test_duplicate_stems_are_rejected_naming_both_files(tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), bgr())
    cv2.imwrite(str(tmp_path / "x.jpg"), bgr())
    with pytest.raises(ImageError, match=r"duplicate image name 'x'.*x\.jpg.*x\.png|duplicate image name 'x'.*x\.png.*x\.jpg"):
        discover_images(tmp_path)


def test_missing_and_empty_folders_name_the_config_key(tmp_path):
    with pytest.raises(ImageError, match="data.hr.*folder not found"):
        discover_images(tmp_path / "missing", what="config key 'data.hr'")
    with pytest.raises(ImageError, match="no images"):
        discover_images(tmp_path)


def test_rgb_round_trip_keeps_channel_order(tmp_path):
    pixels = np.zeros((8, 9, 3), np.float32)
    pixels[..., 0] = 1.0  # pure red
    write_image(tmp_path / "red.png", pixels)
    image = read_image(tmp_path / "red.png")
    assert image.pixels.shape == (8, 9, 3) and image.bit_depth == 8 and image.notes == []
    np.testing.assert_array_equal(image.pixels, pixels)


def test_grayscale_is_converted_with_a_note(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), bgr()[:, :, 0])
    image = read_image(tmp_path / "g.png")
    assert image.pixels.shape == (40, 50, 3)
    assert np.all(image.pixels[..., 0] == image.pixels[..., 2])
    assert any("grayscale" in note for note in image.notes)


def test_rgba_is_composited_over_white_with_a_note(tmp_path):
    bgra = np.zeros((10, 10, 4), np.uint8)
    bgra[..., 2] = 255  # red
    bgra[:, :5, 3] = 255  # left half opaque, right half transparent
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    image = read_image(tmp_path / "a.png")
    np.testing.assert_allclose(image.pixels[0, 0], [1, 0, 0])
    np.testing.assert_allclose(image.pixels[0, 9], [1, 1, 1])
    assert any("transparent" in note for note in image.notes)


def test_16_bit_keeps_its_precision(tmp_path):
    data = np.full((12, 12, 3), 1000, np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), data)
    image = read_image(tmp_path / "deep.png")
    assert image.bit_depth == 16
    np.testing.assert_allclose(image.pixels, 1000 / 65535, rtol=1e-6)
    write_image(tmp_path / "back.png", image.pixels, bit_depth=16)
    assert cv2.imread(str(tmp_path / "back.png"), cv2.IMREAD_UNCHANGED).max() == 1000


def test_corrupt_and_truncated_files_are_rejected_naming_the_file(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"this is not a png")
    with pytest.raises(ImageError, match="junk.png.*corrupt"):
        read_image(tmp_path / "junk.png")
    cv2.imwrite(str(tmp_path / "whole.jpg"), bgr(64, 64))
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:20])
    with pytest.raises(ImageError, match="cut.jpg"):
        read_image(tmp_path / "cut.jpg")


def test_tiny_images_are_rejected_naming_the_size(tmp_path):
    cv2.imwrite(str(tmp_path / "tiny.png"), bgr(5, 7))
    with pytest.raises(ImageError, match=r"tiny.png is too small: 7x5"):
        read_image(tmp_path / "tiny.png", min_side=16)


def test_tensor_conversion_round_trip():
    pixels = np.random.default_rng(1).random((5, 6, 3), dtype=np.float32)
    tensor = to_tensor(pixels)
    assert tensor.shape == (1, 3, 5, 6)
    np.testing.assert_array_equal(to_array(tensor), pixels)


def test_writes_are_atomic_leaving_no_temporary_files(tmp_path):
    write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
