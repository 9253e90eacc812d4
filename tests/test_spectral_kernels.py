"""The spectral kernel estimator (rwsr.kernels.spectral): it must follow a known blur's orientation,
axis ratio and size on photos whose own structure points elsewhere, through per-channel noise,
and refuse images it cannot read."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from rwsr.cli import main
from rwsr.io.images import write_image
from rwsr.kernels.kernel_ops import angle_difference, centre_offset, kernel_shape, kernel_spread, second_moments
from rwsr.kernels.pool import load_pool
from rwsr.kernels.spectral import estimate_covariance, gaussian_kernel
from rwsr.ops.degradation import add_gaussian_noise, anisotropic_gaussian_kernel, blur_subsample, grid_offset, validate_kernel


def photo(name: str, side: int = 512) -> np.ndarray:
    """A scikit-image photo's central square, resized to side x side (the bench's protocol)."""
    import cv2
    import skimage.data

    pixels = getattr(skimage.data, name)()
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    square = min(pixels.shape[:2])
    top, left = (pixels.shape[0] - square) // 2, (pixels.shape[1] - square) // 2
    pixels = cv2.resize(pixels[top : top + square, left : left + square, :3], (side, side), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(pixels, dtype=np.float32) / 255.0


def estimated_kernel(lr: np.ndarray, scale: int) -> np.ndarray:
    return gaussian_kernel(scale * scale * estimate_covariance(lr).covariance, scale)


# Camera and rocket are dominated by vertical structure (a tripod, a rocket on a flat sky), which is
# where KernelGAN's estimates point whatever the blur (bench/README.md); chelsea has little of its own.
@pytest.mark.parametrize("name", ["camera", "rocket", "chelsea"])
@pytest.mark.parametrize("angle", [0.0, 45.0, 90.0, 135.0])
def test_orientation_and_size_of_an_anisotropic_rotated_blur(name, angle):
    """x2, axis ratio 4 (variance), major axis at `angle` degrees (x right, y down)."""
    truth = anisotropic_gaussian_kernel(13, 1.7, 0.85, np.radians(angle), scale=2)
    estimate = estimated_kernel(blur_subsample(photo(name), truth, 2), 2)
    (true_angle, true_ratio), (est_angle, est_ratio) = kernel_shape(truth), kernel_shape(estimate)
    assert angle_difference(est_angle, true_angle) <= 12.0, (est_angle, true_angle)
    assert est_ratio >= 2.0, est_ratio  # clearly elongated (truth: 4)
    assert 0.6 <= kernel_spread(estimate) / kernel_spread(truth) <= 1.5


def test_the_size_follows_the_truth():
    """Isotropic blurs of sigma 0.8 and 1.6 (4x the variance): the estimates differ by about that."""
    hr = photo("coffee")
    spreads = [kernel_spread(estimated_kernel(blur_subsample(hr, anisotropic_gaussian_kernel(13, s, s, 0.0, 2), 2), 2))
               for s in (0.8, 1.6)]
    assert 3.0 <= spreads[1] / spreads[0] <= 5.5, spreads


def test_noise_drawn_per_channel_leaves_the_x4_estimate_alone():
    """x4 with noise of sigma 0.03 on each channel (the demo's level): the cross-channel spectrum
    ignores it, where an image's own spectrum would read the noise as missing blur."""
    truth = anisotropic_gaussian_kernel(25, 3.4, 1.7, np.radians(60.0), scale=4)
    lr = blur_subsample(photo("astronaut"), truth, 4)
    noisy = add_gaussian_noise(lr, 0.03, np.random.default_rng(0))
    clean_fit, noisy_fit = estimate_covariance(lr), estimate_covariance(noisy)
    estimate = gaussian_kernel(16 * noisy_fit.covariance, 4)
    assert angle_difference(kernel_shape(estimate)[0], 60.0) <= 15.0
    assert 0.6 <= np.trace(noisy_fit.covariance) / np.trace(clean_fit.covariance) <= 1.4
    grey = noisy.mean(axis=2)  # one channel: its own periodogram, where the noise flattens the fall-off
    assert np.trace(estimate_covariance(grey).covariance) < 0.8 * np.trace(noisy_fit.covariance)


def test_kernels_are_in_the_pipelines_convention():
    covariance = second_moments(anisotropic_gaussian_kernel(41, 3.0, 1.5, 0.7, scale=4))
    for scale in (2, 4):
        kernel = validate_kernel(gaussian_kernel(covariance, scale))
        np.testing.assert_allclose(centre_offset(kernel), [grid_offset(scale)] * 2, atol=1e-3)
        np.testing.assert_allclose(second_moments(kernel), covariance, rtol=0.02, atol=0.02)


def test_cli_writes_the_kernel_folder_and_the_pool_reads_it(tmp_path):
    truth = anisotropic_gaussian_kernel(25, 3.4, 1.7, np.radians(120.0), scale=4)
    write_image(tmp_path / "a.png", blur_subsample(photo("coffee"), truth, 4))
    write_image(tmp_path / "b.png", blur_subsample(photo("chelsea", 300), truth, 4))  # 75 px: 32-px tiles
    outdirs = [tmp_path / "k" / "a", tmp_path / "k" / "b"]
    config = json.dumps({"scale": 4, "device": "cpu", "kernels": {"estimator": "spectral"}})
    args = ["spectral-kernels", "--input", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--outdir", *map(str, outdirs)]
    assert main([*args, "--config", config]) == 0
    for outdir in outdirs:
        for name in ("kernel_x2.npy", "kernel_x4.npy", "kernel.png", "fit.json", "settings.json", "confidence.json"):
            assert (outdir / name).is_file(), outdir / name
        fit = json.loads((outdir / "fit.json").read_text())
        assert fit["pairs"] >= 8 and not fit["clipped"]
    assert json.loads((outdirs[1] / "settings.json").read_text())["tile"] == 32
    assert angle_difference(kernel_shape(np.load(outdirs[0] / "kernel_x4.npy"))[0], 120.0) <= 15.0
    assert main(["kernel-pool", "--input", *(str(d / "kernel_x4.npy") for d in outdirs), "--output", str(tmp_path / "pool.npz"),
                 "--config", config]) == 0
    assert load_pool(tmp_path / "pool.npz")[1] == ["a", "b"]


def test_unreadable_images_are_refused_by_name(tmp_path, capsys):
    write_image(tmp_path / "flat.png", np.full((96, 96, 3), 0.5, np.float32))
    write_image(tmp_path / "tiny.png", photo("coffee", 96)[:30, :40])
    config = json.dumps({"device": "cpu", "kernels": {"estimator": "spectral"}})
    for name in ("flat.png", "tiny.png"):
        assert main(["spectral-kernels", "--input", str(tmp_path / name), "--outdir", str(tmp_path / "o"), "--config", config]) == 2
        message = capsys.readouterr().err
        assert name in message and "kernels.estimator" in message, message
    assert not (tmp_path / "o" / "kernel_x2.npy").exists()


def test_the_rules_run_the_configured_estimator(tmp_path):
    config = tmp_path / "kernels.yaml"
    config.write_text("kernels:\n  estimator: spectral\n")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--nolock", "--configfile", str(config), "--", "results/fid.csv"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("rwsr spectral-kernels --input") >= 2 and "rwsr kernelgan" not in result.stdout
    # The pipeline's pairs and the degrader's clean source draw from the spectral kernels' pool.
    assert re.search(r"rwsr make-pairs [^\n]*--kernel-pool results/kernels/pool.npz [^\n]*--outdir results/pairs ", result.stdout)
    assert "rwsr kernel-lr --hr results/data/hr --kernel-pool results/kernels/pool.npz" in result.stdout


def test_each_estimator_reruns_only_for_its_own_keys():
    """The kernels rule's params hold the configured estimator's keys only, so a key the estimator
    does not read changes no params, and re-runs no kernels, pairs or trainings."""
    from rwsr.config import kernel_stage_settings, load_config

    def settings(**kernels):
        return kernel_stage_settings(load_config({"kernels": kernels}))

    assert settings(estimator="spectral") == settings(estimator="spectral", iterations=7, lr=0.1)
    assert settings(estimator="spectral") != settings(estimator="spectral", spectral_tile=32)
    assert settings(estimator="kernelgan") == settings(estimator="kernelgan", spectral_tile=32)
    assert settings(estimator="kernelgan") != settings(estimator="kernelgan", iterations=7)
    assert settings(estimator="kernelgan") != settings(estimator="spectral")
