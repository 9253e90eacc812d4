"""LPIPS: the lpips package's calibrated layers on an AlexNet loaded under the weights policy."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
import torchvision
from skimage import data as skdata

from conftest import cache_published_weights
from rwsr.errors import InputError
from rwsr.evaluate.perceptual import ALEXNET_URL, LPIPSMetric

CPU = torch.device("cpu")


@pytest.fixture
def cached_alexnet(offline_torch_home):
    """A state dict of torchvision's exact AlexNet format where torch.hub caches the published file."""
    return cache_published_weights(ALEXNET_URL, torchvision.models.alexnet, seed=7)


def photo(noise: float = 0.0, seed: int = 0) -> np.ndarray:
    tile = skdata.astronaut()[:96, 96:192].astype(np.float32) / 255.0
    return np.clip(tile + np.random.default_rng(seed).normal(0, noise, tile.shape), 0, 1).astype(np.float32)


def test_auto_loads_the_cached_alexnet_and_agrees_with_the_lpips_package(cached_alexnet, monkeypatch):
    import lpips

    model, _ = cached_alexnet
    metric = LPIPSMetric("auto")
    assert metric.describe() == "pretrained"

    # The package's own LPIPS, its AlexNet built from the same torchvision state dict.
    original = torchvision.models.alexnet
    monkeypatch.setattr(lpips.pretrained_networks.tv, "alexnet", lambda *args, **kwargs: model)
    reference = lpips.LPIPS(net="alex", verbose=False).eval()
    monkeypatch.setattr(lpips.pretrained_networks.tv, "alexnet", original)
    sr, gt = photo(0.05), photo()
    to_tensor = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None]  # noqa: E731
    with torch.no_grad():
        expected = float(reference(to_tensor(sr), to_tensor(gt), normalize=True))
    assert metric.score([(sr, gt)], CPU) == pytest.approx(expected, rel=1e-5)


def test_lpips_grows_with_noise_and_is_zero_for_identical_images(cached_alexnet):
    metric = LPIPSMetric("auto")
    gt = photo()
    assert metric.score([(gt, gt)], CPU) == pytest.approx(0.0, abs=1e-6)
    scores = [metric.score([(photo(level, seed=1), gt)], CPU) for level in (0.02, 0.05, 0.1)]
    assert scores == sorted(scores) and scores[0] > 0, scores


def test_random_backbone_gives_no_number_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        metric = LPIPSMetric("auto")
    assert metric.describe() == "random" and metric.model is None
    assert "RANDOM weights" in caplog.text and "evaluate.lpips_weights" in caplog.text
    assert math.isnan(metric.score([(photo(), photo())], CPU))


def test_a_weights_file_is_named_by_its_digest_and_foreign_files_are_refused(tmp_path, cached_alexnet):
    _, path = cached_alexnet
    copied = tmp_path / "my_alexnet.pth"
    copied.write_bytes(path.read_bytes())
    # The same file under another name on another machine describes itself alike.
    assert LPIPSMetric(str(copied)).describe() == LPIPSMetric(str(path)).describe()
    assert LPIPSMetric(str(copied)).describe().startswith("file:") and str(tmp_path) not in LPIPSMetric(str(copied)).describe()
    torch.save({"features.0.weight": torch.zeros(2, 3, 3, 3)}, tmp_path / "wrong.pth")
    with pytest.raises(InputError, match=r"evaluate\.lpips_weights.*wrong\.pth.*AlexNet"):
        LPIPSMetric(str(tmp_path / "wrong.pth"))
