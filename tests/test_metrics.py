"""PSNR/SSIM on Y with a `scale`-pixel border, against scikit-image; the bicubic-upscale baseline."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data as skdata
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rwsr.cli import main
from rwsr.errors import InputError
from rwsr.evaluate.metrics import psnr_ssim_y, rgb_to_y, score_folder
from rwsr.io.images import read_image, write_image
from rwsr.ops.resize import imresize_array


@pytest.fixture(scope="module")
def photo_pair() -> tuple[np.ndarray, np.ndarray]:
    """A real photo and a degraded copy (blur-like shift, noise), RGB float64 in [0, 1]."""
    gt = skdata.astronaut()[100:220, 150:280].astype(np.float64) / 255.0
    rng = np.random.default_rng(0)
    sr = np.clip(0.7 * gt + 0.3 * np.roll(gt, 1, axis=1) + rng.normal(0, 0.03, gt.shape), 0, 1)
    return sr, gt


def test_y_channel_is_matlab_bt601():
    rgb = np.random.default_rng(1).random((7, 9, 3))
    assert np.allclose(rgb_to_y(rgb), rgb2ycbcr(rgb)[..., 0], atol=1e-9)
    assert rgb_to_y(np.zeros((1, 1, 3)))[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(np.ones((1, 1, 3)))[0, 0] == pytest.approx(235.0)


@pytest.mark.parametrize("border", [0, 2, 4])
def test_psnr_ssim_agree_with_scikit_image(photo_pair, border):
    sr, gt = photo_pair
    y_sr, y_gt = rgb2ycbcr(sr)[..., 0], rgb2ycbcr(gt)[..., 0]
    if border:
        y_sr, y_gt = y_sr[border:-border, border:-border], y_gt[border:-border, border:-border]
    expected_psnr = peak_signal_noise_ratio(y_gt, y_sr, data_range=255)
    expected_ssim = structural_similarity(
        y_gt, y_sr, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )  # the settings scikit-image documents as matching Wang et al.'s MATLAB code
    psnr, ssim = psnr_ssim_y(sr, gt, border)
    assert psnr == pytest.approx(expected_psnr, abs=1e-6)
    assert ssim == pytest.approx(expected_ssim, abs=1e-6)
    assert 20 < psnr < 40 and 0.3 < ssim < 0.99


def test_border_of_scale_pixels_is_ignored(photo_pair):
    _, gt = photo_pair
    damaged = gt.copy()
    damaged[:4] = 0.0
    damaged[:, -4:] = 1.0
    assert psnr_ssim_y(damaged, gt, border=4) == (np.inf, pytest.approx(1.0))
    psnr, ssim = psnr_ssim_y(damaged, gt, border=3)
    assert psnr < 30 and ssim < 1


def test_score_folder_matches_stems_and_names_size_mismatch(photo_pair, tmp_path):
    sr, gt = photo_pair
    write_image(tmp_path / "sr" / "a.png", sr)
    write_image(tmp_path / "gt" / "a.png", gt)
    scores = score_folder(tmp_path / "sr", tmp_path / "gt", border=4)
    stored_sr, stored_gt = read_image(tmp_path / "sr" / "a.png").pixels, read_image(tmp_path / "gt" / "a.png").pixels
    assert scores["n_pairs"] == 1
    assert scores["psnr_y"] == pytest.approx(psnr_ssim_y(stored_sr, stored_gt, 4)[0])

    write_image(tmp_path / "gt" / "b.png", gt)
    with pytest.raises(InputError, match="only ground truth: b"):
        score_folder(tmp_path / "sr", tmp_path / "gt", border=4)
    write_image(tmp_path / "sr" / "b.png", sr[:-4])
    with pytest.raises(InputError, match=r"sr/b\.png is 130x116 .*gt/b\.png is 130x120"):
        score_folder(tmp_path / "sr", tmp_path / "gt", border=4)


def test_evaluate_cli_reports_size_mismatch_as_one_line(photo_pair, tmp_path, capsys):
    sr, gt = photo_pair
    write_image(tmp_path / "sr" / "a.png", sr[:, :-8])
    write_image(tmp_path / "gt" / "a.png", gt)
    sr_dir, gt_dir = str(tmp_path / "sr"), str(tmp_path / "gt")
    folders = ["--sr", sr_dir, "--reference", gt_dir, "--ground-truth", gt_dir]
    code = main(["evaluate", *folders, "--model", "m", "--variant", "pipeline", "--out", str(tmp_path / "r.csv")])
    assert code == 2
    assert "a.png is 122x120" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


def test_upscale_bicubic_is_matlab_bicubic_at_scale(tmp_path):
    lr = skdata.astronaut()[:30, :40].astype(np.float32) / 255.0
    write_image(tmp_path / "lr" / "x.png", lr)
    stored = read_image(tmp_path / "lr" / "x.png").pixels
    config = '{"scale": 4}'
    folders = ["--input", str(tmp_path / "lr"), "--output", str(tmp_path / "up")]
    assert main(["upscale-bicubic", *folders, "--config", config]) == 0
    up = read_image(tmp_path / "up" / "x.png").pixels
    assert up.shape == (120, 160, 3)
    assert np.abs(up - np.clip(imresize_array(stored, 4), 0, 1)).max() <= 0.5 / 255 + 1e-6
