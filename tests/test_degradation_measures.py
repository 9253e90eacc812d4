"""The blind measures that judge a synthesized degradation: JPEG quality read from a file's
quantisation tables, the noise level of weakly textured patches, the high-frequency energy."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from rwsr.ops.degradation import add_gaussian_noise, jpeg_roundtrip
from rwsr.ops.jpeg import Compression, compression_from_setting, estimate_jpeg_quality, read_manifest_qualities
from rwsr.ops.noise_level import high_frequency_energy, noise_sigma


def photo(name: str, side: int = 128) -> np.ndarray:
    pixels = getattr(skimage.data, name)().astype(np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return cv2.resize(np.ascontiguousarray(pixels[:, :, :3]), (side, side), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("quality", [60, 75, 90, 37])
def test_jpeg_quality_is_read_back_from_the_quantisation_tables(tmp_path, quality):
    pixels = (photo("coffee") * 255).astype(np.uint8)
    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert abs(estimate_jpeg_quality(path) - quality) <= 5
    assert estimate_jpeg_quality(path) == quality  # IJG-encoded files invert exactly
    gray = tmp_path / "gray.jpg"  # one table only
    cv2.imwrite(str(gray), pixels[:, :, 0], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert estimate_jpeg_quality(gray) == quality
    cv2.imwrite(str(tmp_path / "photo.png"), pixels)
    assert estimate_jpeg_quality(tmp_path / "photo.png") is None


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket", "camera"])
@pytest.mark.parametrize("sigma", [0.02, 0.03, 0.06])
def test_noise_level_of_photos_with_known_gaussian_noise_within_10_percent(name, sigma):
    # Known limits (not asserted): sigma 0.01 on furry or textured 128-px photos reads up to 19% low,
    # and a 96-px histology slide, texture everywhere, up to 15% high at sigma 0.03.
    rng = np.random.default_rng(0)
    noisy = add_gaussian_noise(photo(name, 128), sigma, rng)
    assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.10)


def test_noise_level_ignores_texture_and_saturated_regions():
    clean = photo("astronaut", 128)  # textured, with clipped white and black areas
    assert noise_sigma(clean) < 0.006
    assert noise_sigma(add_gaussian_noise(clean, 0.03, np.random.default_rng(1))) == pytest.approx(0.03, rel=0.1)


def test_high_frequency_energy_grows_with_noise_and_falls_with_blur():
    clean = photo("coffee", 96)
    noisy = add_gaussian_noise(clean, 0.05, np.random.default_rng(2))
    blurred = cv2.GaussianBlur(clean, (0, 0), 1.5)
    assert high_frequency_energy(noisy) > 1.15 * high_frequency_energy(clean) > 1.3 * high_frequency_energy(blurred)


def test_compression_settings_and_draws(tmp_path):
    rng = np.random.default_rng(0)
    assert not compression_from_setting("none", None).enabled
    ranged = compression_from_setting([70, 72], None)
    assert {ranged.draw(rng) for _ in range(50)} == {70, 71, 72}
    from_files = compression_from_setting("auto", [80, None])
    assert {from_files.draw(rng) for _ in range(50)} == {80, None}
    assert not compression_from_setting("auto", []).enabled
    image = photo("coffee", 32)
    compressed, quality = Compression((50,)).apply(image, rng)
    np.testing.assert_array_equal(compressed, jpeg_roundtrip(image, 50))
    assert quality == 50
    manifest = tmp_path / "real_lr.csv"
    manifest.write_text("image,source,width,height,bit_depth,jpeg_quality,notes\na,a.jpg,8,8,8,81,\nb,b.png,8,8,8,,\n")
    assert read_manifest_qualities(manifest) == [81, None]
