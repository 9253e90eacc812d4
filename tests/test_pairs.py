"""The pairs stage: exact geometry, the kernel convention, reproducibility, pool coverage, noise."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from rwsr.config import validate_config
from rwsr.errors import InputError
from rwsr.io.images import read_image, write_image
from rwsr.kernels.kernel_ops import bicubic_kernel
from rwsr.ops.degradation import anisotropic_gaussian_kernel
from rwsr.pairs.make import aligned_tiles, load_kernel_pool, make_pairs
from rwsr.pairs.noise_patches import collect_noise_patches, inject_noise


def delta(size=5):
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, size // 2] = 1.0
    return kernel


def shifted_delta(size=5, dy=1, dx=0):
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2 + dy, size // 2 + dx] = 1.0
    return kernel


@pytest.fixture
def hr_dir(tmp_path):
    folder = tmp_path / "hr"
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a": (50, 66), "b": (64, 64)}.items():
        write_image(folder / f"{name}.png", rng.random((h, w, 3), dtype=np.float32))
    return folder


def save_pool(path, kernels, scale=2):
    np.savez(path, kernels=np.stack(kernels), images=np.array([f"k{i}" for i in range(len(kernels))]), scale=scale)
    return path


def config(**pairs):
    return validate_config({"scale": 2, "pairs": {"noise": "none", "tile": 0, "jpeg_quality": "none", **pairs}})


def test_delta_kernel_reproduces_exact_pixels_with_exact_size(tmp_path, hr_dir):
    pool = save_pool(tmp_path / "pool.npz", [delta()])
    make_pairs(config(), hr_dir, tmp_path / "out", kernel_pool=pool)
    for pair in ("a_t000_s0", "b_t000_s0"):
        hr = read_image(tmp_path / "out" / "hr" / f"{pair}.png").pixels
        lr = read_image(tmp_path / "out" / "lr" / f"{pair}.png").pixels
        assert lr.shape[0] * 2 == hr.shape[0] and lr.shape[1] * 2 == hr.shape[1]
        np.testing.assert_array_equal(lr, hr[::2, ::2])
    assert read_image(tmp_path / "out" / "hr" / "a_t000_s0.png").pixels.shape == (50, 66, 3)


def test_kernels_are_applied_as_correlation_like_cv2_filter2d(tmp_path, hr_dir):
    """An off-centre delta exposes the convention: correlation with k picks pixel (y+1, x)."""
    kernel = shifted_delta(dy=1)
    kernel_pool = save_pool(tmp_path / "pool.npz", [kernel])
    make_pairs(config(), hr_dir, tmp_path / "out", kernel_pool=kernel_pool)
    hr = read_image(tmp_path / "out" / "hr" / "b_t000_s0.png").pixels
    lr = read_image(tmp_path / "out" / "lr" / "b_t000_s0.png").pixels
    np.testing.assert_array_equal(lr[:-1], hr[1::2, ::2][:-1])
    gaussian = anisotropic_gaussian_kernel(9, 1.5, 0.7, 0.6)
    make_pairs(config(), hr_dir, tmp_path / "g", kernel_pool=save_pool(tmp_path / "g.npz", [gaussian]))
    hr = read_image(tmp_path / "g" / "hr" / "b_t000_s0.png").pixels
    lr = read_image(tmp_path / "g" / "lr" / "b_t000_s0.png").pixels
    expected = cv2.filter2D(hr, -1, gaussian, borderType=cv2.BORDER_REFLECT_101)[::2, ::2]
    np.testing.assert_allclose(lr, expected, atol=0.5 / 255 + 1e-6)


def test_pool_and_bicubic_options_share_bicubics_grid(tmp_path, hr_dir):
    """A pool holding the bicubic kernel gives the pairs `kernel: bicubic` (MATLAB imresize) gives:
    both routes put LR pixel i on the centre of HR block 2i..2i+1, so their pairs are interchangeable."""
    make_pairs(config(), hr_dir, tmp_path / "pool", kernel_pool=save_pool(tmp_path / "k.npz", [bicubic_kernel(2)]))
    make_pairs(config(kernel="bicubic"), hr_dir, tmp_path / "bicubic")
    for path in (tmp_path / "bicubic" / "lr").iterdir():
        ours = read_image(tmp_path / "pool" / "lr" / path.name).pixels[3:-3, 3:-3]
        theirs = read_image(path).pixels[3:-3, 3:-3]
        assert np.abs(ours - theirs).max() <= 1.0 / 255 + 1e-6  # 8-bit rounding only
    # The check can fail: the same kernel one HR pixel to the right is off the grid.
    shifted = np.roll(np.pad(bicubic_kernel(2), 1), 1, axis=1)
    make_pairs(config(), hr_dir, tmp_path / "off", kernel_pool=save_pool(tmp_path / "o.npz", [shifted]))
    off = read_image(tmp_path / "off" / "lr" / "b_t000_s0.png").pixels[3:-3, 3:-3]
    assert np.abs(off - read_image(tmp_path / "bicubic" / "lr" / "b_t000_s0.png").pixels[3:-3, 3:-3]).max() > 0.05


def test_same_seed_same_pairs_and_draws_cover_the_pool(tmp_path, hr_dir):
    kernels = [anisotropic_gaussian_kernel(7, s, s, 0.0) for s in (0.5, 0.8, 1.1, 1.4)]
    pool = save_pool(tmp_path / "pool.npz", kernels)
    settings = config(tile=16, samples_per_image=3)
    rows = make_pairs(settings, hr_dir, tmp_path / "one", kernel_pool=pool)
    again = make_pairs(settings, hr_dir, tmp_path / "two", kernel_pool=pool)
    assert rows == again
    for path in (tmp_path / "one" / "lr").iterdir():
        assert path.read_bytes() == (tmp_path / "two" / "lr" / path.name).read_bytes()

    def draws(rows):  # one kernel per whole image and sample; its tiles share it
        return list({(row["hr_image"], row["sample"]): row["kernel_index"] for row in rows}.values())

    used = draws(rows)
    assert len(used) == 6 and set(used) == {0, 1, 2, 3}
    assert sorted(used[:4]) == [0, 1, 2, 3]  # every kernel before any repeats
    other = make_pairs(validate_config({**settings, "seed": 7}), hr_dir, tmp_path / "three", kernel_pool=pool)
    assert draws(other) != used
    table = list(csv.DictReader((tmp_path / "one" / "pairs.csv").open()))
    assert [row["pair"] for row in table] == [row["pair"] for row in rows]


def test_tiles_are_disjoint_aligned_multiples_of_scale():
    hr = np.random.default_rng(0).random((48, 72, 3)).astype(np.float32)
    lr = hr[::4, ::4]
    tiles = list(aligned_tiles(hr, lr, 24, 4))
    assert len(tiles) == 2 * 3 and all(h.shape == (24, 24, 3) and l.shape == (6, 6, 3) for h, l in tiles)
    for hr_tile, lr_tile in tiles:
        np.testing.assert_array_equal(hr_tile[::4, ::4], lr_tile)  # HR pixel 4i is LR pixel i
    assert [(h.shape, l.shape) for h, l in aligned_tiles(hr, lr, 0, 4)] == [((48, 72, 3), (12, 18, 3))]


def test_whole_images_are_degraded_before_tiling_so_tiles_have_no_seams(tmp_path, hr_dir):
    """Tiles are crops of the whole degraded image: a tile edge sees the real neighbours, never a
    padded border (degrading tile by tile would reflect the image at every tile edge)."""
    pool = save_pool(tmp_path / "pool.npz", [anisotropic_gaussian_kernel(9, 1.8, 0.6, 0.5)])
    make_pairs(config(), hr_dir, tmp_path / "whole", kernel_pool=pool)
    make_pairs(config(tile=16), hr_dir, tmp_path / "tiles", kernel_pool=pool)
    whole = read_image(tmp_path / "whole" / "lr" / "b_t000_s0.png").pixels
    for index, (top, left) in enumerate((y, x) for y in range(0, 64 - 15, 16) for x in range(0, 64 - 15, 16)):
        tile = read_image(tmp_path / "tiles" / "lr" / f"b_t{index:03d}_s0.png").pixels
        np.testing.assert_array_equal(tile, whole[top // 2 : top // 2 + 8, left // 2 : left // 2 + 8])


def test_pairs_are_compressed_like_the_real_lr_and_record_the_quality(tmp_path, hr_dir):
    from rwsr.ops.degradation import blur_subsample, jpeg_roundtrip

    pool = save_pool(tmp_path / "pool.npz", [delta()])
    rows = make_pairs(config(jpeg_quality="auto"), hr_dir, tmp_path / "out", kernel_pool=pool, real_lr_qualities=[60, 60])
    assert {row["jpeg_quality"] for row in rows} == {60}
    hr = read_image(tmp_path / "out" / "hr" / "b_t000_s0.png").pixels
    lr = read_image(tmp_path / "out" / "lr" / "b_t000_s0.png").pixels
    np.testing.assert_array_equal(lr, jpeg_roundtrip(blur_subsample(hr, delta(), 2), 60))
    table = list(csv.DictReader((tmp_path / "out" / "pairs.csv").open()))
    assert {row["jpeg_quality"] for row in table} == {"60"}
    # Real LR that are not JPEGs leave their share of the pairs uncompressed.
    rows = make_pairs(config(jpeg_quality="auto", samples_per_image=8), hr_dir, tmp_path / "mixed", kernel_pool=pool,
                      real_lr_qualities=[None, 90])  # fmt: skip
    assert {row["jpeg_quality"] for row in rows} == {"", 90}
    with pytest.raises(InputError, match="pairs.jpeg_quality"):
        make_pairs(config(jpeg_quality="auto"), hr_dir, tmp_path / "none", kernel_pool=pool)


def test_oracle_pairs_use_the_hidden_degradation(tmp_path, hr_dir):
    truth = tmp_path / "demo"
    kernels = {"r1": anisotropic_gaussian_kernel(9, 1.6, 0.7, 0.4, 2), "r2": anisotropic_gaussian_kernel(9, 0.9, 1.2, 2.0, 2)}
    for name, kernel in kernels.items():
        (truth / "kernels").mkdir(parents=True, exist_ok=True)
        np.save(truth / "kernels" / f"{name}.npy", kernel)
    np.save(truth / "kernels" / "v1.npy", delta(9))
    (truth / "degradations.csv").write_text(
        "set,image,scale,sigma_x,sigma_y,theta,noise_sigma,jpeg_quality\n"
        "real_lr,r1,2,1.6,0.7,0.4,0.05,70\nreal_lr,r2,2,0.9,1.2,2.0,0.05,74\nval_lr,v1,2,1,1,0,0.05,99\n"
    )
    rows = make_pairs(config(samples_per_image=2), hr_dir, tmp_path / "out", oracle=truth / "degradations.csv")
    assert {row["kernel"] for row in rows} == {"true r1", "true r2"}  # the real LR's kernels, not the validation's
    assert {row["noise"] for row in rows} == {"gaussian"} and {row["noise_detail"] for row in rows} == {"sigma 0.05"}
    assert all(70 <= row["jpeg_quality"] <= 74 for row in rows)


def test_fidelity_table_compares_noise_and_warns_when_it_is_off(tmp_path, hr_dir, caplog):
    from rwsr.ops.degradation import add_gaussian_noise

    rng = np.random.default_rng(5)
    real = tmp_path / "real"
    for index in range(2):
        smooth = cv2.GaussianBlur(rng.random((64, 64, 3)).astype(np.float32), (0, 0), 4) * 0.5 + 0.25
        write_image(real / f"r{index}.png", add_gaussian_noise(smooth, 0.04, rng))
    pool = tmp_path / "pool.npz"
    kernels = [anisotropic_gaussian_kernel(9, 1.5, 1.5, 0.0), anisotropic_gaussian_kernel(9, 1.2, 1.2, 0.0)]
    np.savez(pool, kernels=np.stack(kernels), images=np.array(["k0", "k1"]), scale=2, weights=np.array([1.0, 0.0]))
    make_pairs(config(), hr_dir, tmp_path / "clean", kernel_pool=pool, real_lr_dir=real)
    table = {row["quantity"]: row for row in csv.DictReader((tmp_path / "clean" / "fidelity.csv").open())}
    # Each pool kernel's share of the draws, for the report's kernel figure (0: never drawn).
    assert [float(table[f"kernel_draw_share:k{i}"]["synthesized"]) for i in range(2)] == [1.0, 0.0]
    assert float(table["noise_sigma"]["real"]) == pytest.approx(0.04, rel=0.15)
    assert float(table["noise_sigma"]["ratio"]) < 0.5  # blurred clean pairs carry none of the real noise
    assert "SYNTHESIZED NOISE DOES NOT MATCH" in caplog.text
    assert float(table["colour_shift"]["synthesized"]) < 1e-3 and "IS TINTED" not in caplog.text


def test_fidelity_flags_a_degradation_that_tints(tmp_path, caplog):
    """The colour shift compares each synthesized image with itself before noise and compression:
    clipped zero-mean noise and JPEG stay under the limit, a red shift (a degrader once made one)
    does not."""
    from rwsr.ops.degradation import add_gaussian_noise
    from rwsr.ops.jpeg import Compression
    from rwsr.pairs.fidelity import COLOUR_SHIFT_LIMIT, FidelityRecorder

    rng = np.random.default_rng(2)
    real = tmp_path / "real"
    write_image(real / "r.png", rng.random((48, 48, 3)).astype(np.float32))
    # Dark and bright regions, where clipping biases zero-mean noise the most.
    clean = [np.clip(cv2.GaussianBlur(rng.random((96, 96, 3)).astype(np.float32), (0, 0), 3) * 3 - 1, 0, 1) for _ in range(3)]
    honest, tinting = FidelityRecorder(), FidelityRecorder()
    for image in clean:
        noisy, quality = Compression((70,)).apply(add_gaussian_noise(image, 0.03, rng), rng)
        honest.add(noisy, quality, image)
        tinted = noisy.copy()
        tinted[..., 0] = np.clip(tinted[..., 0] - 0.025, 0, 1)
        tinting.add(tinted, quality, image)
    rows = {row["quantity"]: row for row in honest.write(tmp_path / "honest.csv", real)}
    assert rows["colour_shift"]["synthesized"] < 0.5 * COLOUR_SHIFT_LIMIT
    assert "IS TINTED" not in caplog.text
    rows = {row["quantity"]: row for row in tinting.write(tmp_path / "tinting.csv", real)}
    assert rows["colour_shift"]["synthesized"] > 1.5 * COLOUR_SHIFT_LIMIT
    assert "IS TINTED" in caplog.text


def test_bicubic_pairs_use_matlab_downscaling(tmp_path, hr_dir):
    from rwsr.ops.resize import imresize_array

    make_pairs(config(kernel="bicubic"), hr_dir, tmp_path / "out")
    hr = read_image(tmp_path / "out" / "hr" / "b_t000_s0.png").pixels
    lr = read_image(tmp_path / "out" / "lr" / "b_t000_s0.png").pixels
    np.testing.assert_allclose(lr, np.clip(imresize_array(hr, 0.5), 0, 1), atol=0.5 / 255 + 1e-6)


def test_noise_patches_carry_the_real_noise_level(tmp_path):
    rng = np.random.default_rng(3)
    sigma = 0.02
    flat = np.full((64, 64, 3), 0.5, np.float32) + rng.normal(0, sigma, (64, 64, 3)).astype(np.float32)
    edge = np.zeros((64, 64, 3), np.float32)
    edge[:, 32:] = 1.0  # textured: never flat
    settings = {"patch_size": 16, "sub_patches": 2, "max_variance": 0.004, "mean_tolerance": 0.2,
                "variance_tolerance": 0.6}
    patches = collect_noise_patches([flat, edge], settings)
    assert len(patches) > 0
    assert abs(patches.std() - sigma) < 0.25 * sigma
    np.testing.assert_allclose(patches.mean(axis=(1, 2)), 0, atol=1e-6)
    clean = np.full((40, 40, 3), 0.5, np.float32)
    noisy, drawn = inject_noise(clean, patches, np.random.default_rng(0))
    assert abs((noisy - clean).std() - sigma) < 0.25 * sigma and len(drawn) == 9
    with pytest.raises(InputError, match="pairs.noise_patches.max_variance"):
        collect_noise_patches([edge], settings)


def test_patch_noise_pairs_from_a_real_lr_folder(tmp_path, hr_dir):
    rng = np.random.default_rng(4)
    real = tmp_path / "real"
    write_image(real / "r.png", np.clip(0.4 + rng.normal(0, 0.03, (48, 48, 3)), 0, 1))
    settings = config(kernel="bicubic", noise="patches",
                      noise_patches={"patch_size": 16, "sub_patches": 2, "max_variance": 0.004,
                                     "mean_tolerance": 0.2, "variance_tolerance": 0.6})
    rows = make_pairs(settings, hr_dir, tmp_path / "out", real_lr_dir=real)
    assert all(row["noise_detail"].startswith("patches ") for row in rows)


def test_bad_pool_and_settings_are_named(tmp_path, hr_dir):
    pool = save_pool(tmp_path / "pool.npz", [delta()], scale=4)
    with pytest.raises(InputError, match="x4 kernels but config key 'scale' is 2"):
        load_kernel_pool(pool, 2)
    with pytest.raises(InputError, match="kernel pool not found"):
        make_pairs(config(), hr_dir, tmp_path / "out", kernel_pool=tmp_path / "missing.npz")
    with pytest.raises(InputError, match="pairs.tile"):
        make_pairs(config(tile=15), hr_dir, tmp_path / "out", kernel_pool=pool)
    with pytest.raises(InputError, match="degrader checkpoint is missing"):
        make_pairs(config(noise="dsgan"), hr_dir, tmp_path / "out", kernel_pool=save_pool(tmp_path / "p2.npz", [delta()]),
                   degrader=tmp_path / "none.pt")


def test_pool_weights_steer_the_kernel_draws(tmp_path, hr_dir):
    """The kernels stage down-weights images with few edges (pool.npz `weights`): their kernels are drawn less."""
    kernels = [delta(), anisotropic_gaussian_kernel(5, 1.0, 1.0, 0.0)]
    pool = tmp_path / "pool.npz"
    np.savez(pool, kernels=np.stack(kernels), images=np.array(["flat_sky", "photo"]), scale=2, weights=np.array([0.0, 1.0]))
    rows = make_pairs(config(samples_per_image=4), hr_dir, tmp_path / "out", kernel_pool=pool)
    assert {row["kernel"] for row in rows} == {"photo"}
    np.savez(pool, kernels=np.stack(kernels), images=np.array(["a", "b"]), scale=2, weights=np.array([-1.0, 1.0]))
    with pytest.raises(InputError, match="weights"):
        load_kernel_pool(pool, 2)
