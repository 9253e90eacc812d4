"""KernelGAN (the kernels stage): kernel convention, x4 derivation, post-processing, batching,
accuracy against the bicubic assumption, CLI files and the pool."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from scipy import ndimage

from rwsr.cli import main
from rwsr.io.images import read_image, write_image
from rwsr.kernels.kernel_ops import (
    angle_difference, bicubic_kernel, centre_offset, compose_x4, kernel_shape, pad_to, post_process, recentre, second_moments,
)
from rwsr.kernels.pool import load_pool, write_pool
from rwsr.kernels.train import KernelGANSettings, train_batch
from rwsr.nn.kernelgan import KernelGenerator
from rwsr.ops.degradation import anisotropic_gaussian_kernel, blur_subsample, grid_offset, jpeg_roundtrip, validate_kernel
from rwsr.ops.resize import imresize_array

REPO = Path(__file__).resolve().parents[1]
# Small networks and few iterations: enough to exercise every code path in seconds.
TINY = {"g_channels": 8, "d_channels": 8, "iterations": 30}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def photo(name: str, side: int = 256) -> np.ndarray:
    import skimage.data

    pixels = getattr(skimage.data, name)().astype(np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
    return np.ascontiguousarray(pixels[top : top + side, left : left + side, :3])


def random_generator(seed: int = 0) -> KernelGenerator:
    """A generator with large random weights: an asymmetric, off-centre kernel, so a flip or a
    one-pixel shift in the convention would show."""
    net = KernelGenerator(n_nets=1, channels=4, seeds=(seed,)).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for weight in net.weights:
            weight.copy_(torch.randn(weight.shape, generator=gen) * 0.5)
    return net


def test_generator_is_blur_subsample_with_extracted_kernel():
    net = random_generator()
    image = np.random.default_rng(0).random((48, 52, 3), dtype=np.float32)
    with torch.no_grad():
        deep = net.forward_layers(torch.from_numpy(image).permute(2, 0, 1).unsqueeze(1))  # colours as batch
        kernel = net.kernels()[0].numpy()
    deep = deep[:, 0].permute(1, 2, 0).numpy()
    # G's output pixel j sits on input pixel 2j + 6 (the middle of its 13x13 window), i.e. LR pixel j + 3.
    half = net.kernel_size // 2 // 2
    total = kernel.sum()
    ours = blur_subsample(image, kernel / total, 2) * total
    assert np.abs(deep - ours[half : half + deep.shape[0], half : half + deep.shape[1]]).max() < 1e-4
    # The same through cv2.filter2D directly (a correlation): our kernel is the correlation kernel.
    direct = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)[::2, ::2]
    assert np.abs(deep - direct[half : half + deep.shape[0], half : half + deep.shape[1]]).max() < 1e-4
    # The flipped (convolution) kernel does not reproduce G: the convention is not vacuous.
    flipped = cv2.filter2D(image, -1, kernel[::-1, ::-1].copy(), borderType=cv2.BORDER_REFLECT_101)[::2, ::2]
    assert np.abs(deep - flipped[half : half + deep.shape[0], half : half + deep.shape[1]]).max() > 1e-2
    # The cheap forward (one conv with the composite kernel) equals the deep layers.
    with torch.no_grad():
        fast = net(torch.from_numpy(image).permute(2, 0, 1).unsqueeze(1))
    assert torch.allclose(fast[:, 0].permute(1, 2, 0), torch.from_numpy(deep), atol=1e-4)


@pytest.mark.parametrize("sigma_x, sigma_y, theta, angle", [
    (2.0, 0.8, 0.0, 0.0),  # horizontal
    (0.8, 2.0, 0.0, 90.0),  # vertical
    (2.0, 0.8, np.pi / 4, 45.0),  # x right, y down: towards the bottom right
    (2.0, 0.8, 3 * np.pi / 4, 135.0),
    (1.5, 0.9, np.radians(160.0), 160.0),
])
def test_kernel_shape_of_known_gaussians(sigma_x, sigma_y, theta, angle):
    kernel = anisotropic_gaussian_kernel(25, sigma_x, sigma_y, theta, scale=2)  # large: no truncation
    measured, ratio = kernel_shape(kernel)
    assert angle_difference(measured, angle) < 0.5, measured
    assert ratio == pytest.approx((max(sigma_x, sigma_y) / min(sigma_x, sigma_y)) ** 2, rel=0.01)  # variances, major / minor
    # The measure follows the array's axes: transposing mirrors the angle about the diagonal.
    assert angle_difference(kernel_shape(kernel.T.copy())[0], 90.0 - angle) < 0.5
    assert 0.0 <= measured < 180.0


def test_kernel_shape_of_isotropic_kernel_and_angle_difference():
    assert kernel_shape(anisotropic_gaussian_kernel(21, 1.3, 1.3, 0.7, scale=2))[1] == pytest.approx(1.0, abs=1e-3)
    assert angle_difference(179.0, 1.0) == pytest.approx(2.0)
    assert angle_difference(10.0, 100.0) == pytest.approx(90.0)
    assert angle_difference(45.0, 405.0) == pytest.approx(0.0)


def test_post_process_cleans_and_recentres():
    """An off-centre kernel with a faint negative tail (as G learns them) becomes a non-negative
    kernel: the same blur, moved so its centre of mass is half a pixel past the middle (x2 grid)."""
    blob = anisotropic_gaussian_kernel(9, 1.6, 0.8, 0.5)
    off_centre = np.zeros((13, 13), np.float32)
    off_centre[0:9, 4:13] = blob  # centre of mass 2 rows up, 3 columns right of the middle
    off_centre -= 0.002
    processed = post_process(off_centre, keep_largest=40)
    validate_kernel(processed)
    assert processed.dtype == np.float32 and processed.shape[0] % 2 == 1 and processed.min() >= 0
    np.testing.assert_allclose(centre_offset(processed), [0.5, 0.5], atol=1e-5)
    centred = np.zeros((13, 13), np.float32)
    centred[2:11, 2:11] = blob
    expected = post_process(centred - 0.002, keep_largest=40)
    size = max(expected.shape[0], processed.shape[0])
    np.testing.assert_allclose(pad_to(processed, size), pad_to(expected, size), atol=1e-6)
    flipped = post_process(off_centre[::-1].copy(), keep_largest=40)
    size = max(size, flipped.shape[0])
    assert not np.allclose(pad_to(processed, size), pad_to(flipped, size))


def sampled_gaussian(size: int, sigma_x: float, sigma_y: float, theta: float, offset: tuple[float, float]) -> np.ndarray:
    """A Gaussian sampled with its centre `offset` (rows, cols) from the middle pixel."""
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    precision = np.linalg.inv(rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T)
    yy, xx = np.mgrid[: size, : size] - size // 2 - np.array(offset)[:, None, None]
    points = np.stack([xx, yy], axis=-1)
    kernel = np.exp(-0.5 * np.einsum("...i,ij,...j->...", points, precision, points))
    return kernel / kernel.sum()


def test_recentre_keeps_the_kernel_shape():
    """Moving a kernel by a fraction of a pixel must not widen it along the moved axis (linear
    interpolation adds up to 0.25 px^2 there: a narrow round kernel would come out elongated)."""
    for sigma_x, sigma_y, theta in ((0.8, 0.8, 0.0), (1.2, 0.8, 0.4), (2.0, 0.8, 1.9)):
        target = second_moments(sampled_gaussian(17, sigma_x, sigma_y, theta, (0.5, 0.5)))
        for offset in ((0.0, 0.5), (0.5, 0.0), (0.0, 0.0), (0.2, -0.4)):
            moved = recentre(sampled_gaussian(17, sigma_x, sigma_y, theta, offset), 2)
            np.testing.assert_allclose(centre_offset(moved), [0.5, 0.5], atol=1e-6)
            np.testing.assert_allclose(second_moments(moved), target, atol=0.03)  # linear: +0.25 px^2


def test_x4_kernel_equals_two_x2_steps():
    rng = np.random.default_rng(2)
    raw = rng.random((13, 13)).astype(np.float32) * anisotropic_gaussian_kernel(13, 2.5, 1.0, 0.4)
    k2 = post_process(raw, keep_largest=60)
    k4 = compose_x4(k2)
    validate_kernel(k4)
    assert k4.shape[0] == 3 * k2.shape[0] - 2 or k4.shape[0] < 3 * k2.shape[0] - 2
    np.testing.assert_allclose(centre_offset(k4), [1.5, 1.5], atol=1e-4)  # grid_offset(4)
    image = rng.random((128, 124, 3), dtype=np.float32)
    two_steps = blur_subsample(blur_subsample(image, k2, 2), k2, 2)
    one_step = blur_subsample(image, k4, 4)
    margin = k4.shape[0] // 4 + 1  # mirrored borders differ between the two routes
    assert np.abs(two_steps - one_step)[margin:-margin, margin:-margin].max() < 1e-5
    # A wrong derivation (plain self-convolution, no dilation) fails this check.
    wrong = cv2.filter2D(np.pad(k2, k2.shape[0] // 2), -1, k2, borderType=cv2.BORDER_CONSTANT)
    assert np.abs(two_steps - blur_subsample(image, wrong / wrong.sum(), 4))[margin:-margin, margin:-margin].max() > 1e-3


def test_bicubic_kernel_is_matlab_imresize_on_our_grid():
    # MATLAB's antialiased x1/2 taps (cubic((x - 0.5) / 2) / 2 at x = -3..4), with a zero at x = -4.
    line = np.array([0, -0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875])
    np.testing.assert_allclose(bicubic_kernel(2), np.outer(line, line), atol=1e-7)
    image = np.random.default_rng(4).random((64, 72, 3), dtype=np.float32)
    for scale in (2, 4):
        validate_kernel(bicubic_kernel(scale))
        np.testing.assert_allclose(centre_offset(bicubic_kernel(scale)), [grid_offset(scale)] * 2, atol=1e-6)
        ours = blur_subsample(image, bicubic_kernel(scale), scale)
        matlab = imresize_array(image, 1.0 / scale)
        assert np.abs(ours - matlab)[3:-3, 3:-3].max() < 1e-5  # borders: mirrored differently


def test_same_seed_same_kernel_and_batch_equals_single():
    images = [photo("astronaut", 96), photo("camera", 80)]
    settings = KernelGANSettings.from_config(**TINY)
    cpu = torch.device("cpu")
    batched = train_batch(images, [11, 12], settings, cpu)
    np.testing.assert_array_equal(batched, train_batch(images, [11, 12], settings, cpu))
    # Batched = separate runs: exact in arithmetic; float64 keeps the rounding, which Adam's first
    # sign-like steps on a near-zero G amplify, far below the difference a coupling would make.
    batched = train_batch(images, [11, 12], settings, cpu, dtype=torch.float64)
    alone = train_batch(images[1:], [12], settings, cpu, dtype=torch.float64)[0]
    scale = np.abs(alone).max()  # G starts near zero: compare relative to the kernel's size
    assert np.abs(batched[1] - alone).max() < 1e-4 * scale
    other_seed = train_batch(images[1:], [13], settings, cpu, dtype=torch.float64)[0]
    assert np.abs(other_seed - alone).max() > 0.1 * scale


def test_estimated_kernel_beats_bicubic_assumption():
    """DIV2KRK protocol: photos blurred with known anisotropic Gaussians and subsampled x2."""
    truths = [anisotropic_gaussian_kernel(17, 2.4, 0.9, 0.6, scale=2), anisotropic_gaussian_kernel(17, 1.0, 2.0, 1.6, scale=2)]
    hrs = [photo("astronaut"), photo("camera")]
    lrs = [blur_subsample(hr, k, 2) for hr, k in zip(hrs, truths)]
    # 400 of the paper's 3000 iterations, everything else the paper's settings.
    raw = train_batch(lrs, [0, 1], KernelGANSettings.from_config(iterations=400), torch.device("cpu"))
    inner = np.s_[8:-8, 8:-8]
    for hr, lr, kernel in zip(hrs, lrs, raw):
        estimate = post_process(kernel)
        ours = psnr(blur_subsample(hr, estimate, 2)[inner], lr[inner])
        bicubic = psnr(blur_subsample(hr, bicubic_kernel(2), 2)[inner], lr[inner])
        assert ours > bicubic + 4.0, (ours, bicubic)


@pytest.mark.xfail(strict=False, reason="KernelGAN's estimated orientation follows the photo's structure more than "
                   "the blur, as the reference's does on camera; the reference's D init and crop map do not fix it. "
                   "The spectral estimator passes this check (tests/test_spectral_kernels.py; bench/README.md)")
def test_estimated_orientation_follows_the_true_kernel():
    """Issue 14's CI-sized check: clearly elongated blurs (axis ratio 4) at 90 and 45 degrees,
    800 of the paper's 3000 iterations; the estimate's major axis within 20 degrees of the truth."""
    from skimage.transform import resize

    cases = [("chelsea", 90.0), ("camera", 45.0)]
    hrs, truths = [], []
    for name, angle in cases:
        square = photo(name, 300)
        hrs.append(resize(square, (512, 512), order=1, anti_aliasing=True).astype(np.float32))
        # variance ratio 4 (sigmas 1.7 and 0.85 HR pixels), major axis at `angle` (x right, y down)
        truths.append(anisotropic_gaussian_kernel(13, 1.7, 0.85, np.radians(angle), scale=2))
    lrs = [blur_subsample(hr, k, 2) for hr, k in zip(hrs, truths)]
    raw = train_batch(lrs, [0, 1], KernelGANSettings.from_config(iterations=800), torch.device("cpu"))
    errors = [angle_difference(kernel_shape(post_process(k))[0], kernel_shape(t)[0]) for k, t in zip(raw, truths)]
    assert max(errors) <= 20.0, errors


def test_cli_writes_kernels_log_picture_and_pool(tmp_path, capsys):
    rng = np.random.default_rng(3)
    clean = blur_subsample(photo("chelsea", 240), anisotropic_gaussian_kernel(13, 1.5, 1.0, 0.3, scale=2), 2)
    noisy_jpeg = jpeg_roundtrip(np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1).astype(np.float32), 60)
    write_image(tmp_path / "noisy.jpg", noisy_jpeg, jpeg_quality=60)
    write_image(tmp_path / "small.png", photo("coffee", 96)[:40, :48])  # shorter side 40 < crop 64
    config = json.dumps({"seed": 5, "device": "cpu", "kernels": TINY})
    outdirs = [tmp_path / "out" / "noisy", tmp_path / "out" / "small"]
    args = ["kernelgan", "--input", str(tmp_path / "noisy.jpg"), str(tmp_path / "small.png"), "--outdir", *map(str, outdirs)]
    assert main([*args, "--scale", "4", "--threads", "1", "--config", config]) == 0
    # Two crop sizes, so two batches: a bar over the images and one over each batch's iterations (issue 16).
    progress = capsys.readouterr().err
    assert "KernelGAN images" in progress and "KernelGAN batch 2/2" in progress, progress
    for outdir in outdirs:
        for name in ("kernel_x2.npy", "kernel_x4.npy", "kernel.png", "log.csv"):
            assert (outdir / name).is_file(), outdir / name
        for name, scale in (("kernel_x2.npy", 2), ("kernel_x4.npy", 4)):
            kernel = validate_kernel(np.load(outdir / name))
            assert kernel.dtype == np.float32 and kernel.min() >= 0
            np.testing.assert_allclose(centre_offset(kernel), [grid_offset(scale)] * 2, atol=1e-3)
        rows = (outdir / "log.csv").read_text().splitlines()
        assert rows[0].startswith("step,loss_g,loss_d") and rows[-1].startswith(f"{TINY['iterations'] - 1},")
        assert read_image(outdir / "kernel.png").pixels.shape[1] > 100
        assert not list(outdir.glob(".*"))  # no temporary files left behind
    assert json.loads((outdirs[1] / "settings.json").read_text())["crop"] == 40

    pool, montage = tmp_path / "pool.npz", tmp_path / "pool.png"
    assert main(["kernel-pool", "--input", *(str(d / "kernel_x4.npy") for d in outdirs), "--output", str(pool), "--montage", str(montage), "--config", config]) == 0
    kernels, names, scale = load_pool(pool)
    assert names == ["noisy", "small"] and scale == 4
    assert kernels.dtype == np.float32 and kernels.shape[1] == kernels.shape[2] and kernels.shape[1] % 2 == 1
    for kernel, outdir in zip(kernels, outdirs):
        validate_kernel(kernel)
        np.testing.assert_allclose(centre_offset(kernel), [grid_offset(4)] * 2, atol=1e-3)
        assert np.isclose(kernel.sum(), np.load(outdir / "kernel_x4.npy").sum())
    assert montage.is_file()


def test_cli_rejects_tiny_image_and_mismatched_outdirs(tmp_path, capsys):
    write_image(tmp_path / "tiny.png", np.full((20, 30, 3), 0.5, np.float32))
    config = json.dumps({"device": "cpu", "kernels": TINY})
    assert main(["kernelgan", "--input", str(tmp_path / "tiny.png"), "--outdir", str(tmp_path / "o"), "--config", config]) == 2
    message = capsys.readouterr().err
    assert "tiny.png" in message and "kernels.crop" in message
    assert main(["kernelgan", "--input", str(tmp_path / "tiny.png"), "--outdir", "a", "b", "--config", config]) == 2
    assert "one --outdir per --input" in capsys.readouterr().err
    assert not (tmp_path / "o" / "kernel_x2.npy").exists()


def test_pool_pads_kernels_to_one_size(tmp_path):
    small, large = bicubic_kernel(2), anisotropic_gaussian_kernel(15, 2.0, 1.0, 0.2)
    paths = []
    for name, kernel in (("a", small), ("b", large)):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "kernel_x2.npy", kernel)
        paths.append(tmp_path / name / "kernel_x2.npy")
    write_pool(paths, 2, tmp_path / "pool.npz")
    kernels, names, scale = load_pool(tmp_path / "pool.npz")
    assert kernels.shape == (2, 15, 15) and names == ["a", "b"] and scale == 2
    np.testing.assert_allclose(kernels[0][3:12, 3:12], small)
    np.testing.assert_allclose(kernels[1], large)


@pytest.mark.parametrize("batched", [False, True])
def test_rules_dry_run(tmp_path, batched):
    config = tmp_path / "kernels.yaml"
    config.write_text(f"kernels:\n  estimator: kernelgan\n  batched: {str(batched).lower()}\n")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--nolock", "--configfile", str(config), "--", "results/kernels/pool.npz"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    estimate = "kernels_estimate_batched" if batched else "kernels_estimate"
    assert f"rule {estimate}:" in result.stdout and "rule kernels_pool:" in result.stdout
    jobs = result.stdout.count("rwsr kernelgan --input")
    assert jobs == 1 if batched else jobs >= 2  # the demo has several real LR images


@pytest.mark.slow
def test_demo_kernels_model_the_hidden_degradation(tmp_path):
    """The demo's real LR images (hidden kernel, x4, noise, JPEG): the estimated x4 kernel explains
    each LR image better than bicubic does, nearly as well as the hidden kernel, at the demo's config."""
    from rwsr.config import load_config
    from rwsr.data.demo import build_demo, demo_crops, load_photo

    config = load_config(REPO / "config.yaml")
    build_demo(config, tmp_path / "demo")
    crops = demo_crops(config["data"]["demo"])["real_lr"]
    inputs = [tmp_path / "demo" / "real_lr" / f"{stem}.jpg" for stem in crops]
    outdirs = [tmp_path / "kernels" / stem for stem in crops]
    args = ["kernelgan", "--input", *map(str, inputs), "--outdir", *map(str, outdirs), "--threads", "1"]
    results = []
    assert main([*args, "--device", "cpu", "--config", str(REPO / "config.yaml")]) == 0
    for (stem, (name, (top, left, side))), outdir in zip(crops.items(), outdirs):
        hr = load_photo(name)[top : top + side, left : left + side]
        lr = read_image(tmp_path / "demo" / "real_lr" / f"{stem}.jpg").pixels
        inner = np.s_[6:-6, 6:-6]
        ours = psnr(blur_subsample(hr, np.load(outdir / "kernel_x4.npy"), 4)[inner], lr[inner])
        bicubic = psnr(blur_subsample(hr, bicubic_kernel(4), 4)[inner], lr[inner])
        truth = psnr(blur_subsample(hr, np.load(tmp_path / "demo" / "kernels" / f"{stem}.npy"), 4)[inner], lr[inner])
        print(f"{stem}: estimate {ours:.2f} dB, bicubic {bicubic:.2f} dB, true kernel {truth:.2f} dB")
        results.append((stem, ours, bicubic, truth))
    # Every estimate beats bicubic; on average it closes most of the gap to the hidden kernel (the
    # demo's one-camera blur is close enough to bicubic's that the gap is 3-6 dB, chelsea's LR
    # image is the smallest at 75 pixels and gains the least).
    assert all(ours > bicubic for _, ours, bicubic, _ in results), results
    closed = [(ours - bicubic) / (truth - bicubic) for _, ours, bicubic, truth in results]
    assert np.mean(closed) > 0.6, (closed, results)
