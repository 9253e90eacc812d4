"""The pretrained-weights policy (DESIGN.md): real loading code, explicit choices, loud fallbacks."""

from __future__ import annotations

import logging

import pytest
import torch
import torchvision

from rwsr.errors import InputError
from rwsr.nn.pretrained import cache_path
from rwsr.nn.vgg import VGG19_URL, VGGFeatures


@pytest.fixture
def cached_vgg19(offline_torch_home):
    """A state dict of torchvision's exact VGG19 format where torch.hub caches the published file."""
    torch.manual_seed(3)
    model = torchvision.models.vgg19(weights=None)
    path = cache_path(VGG19_URL)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model, path


def reference_features(model, images, last):
    layers = model.features[: last + 1].eval()
    for layer in layers:
        if isinstance(layer, torch.nn.ReLU):
            layer.inplace = False
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return layers((images - mean) / std)


def test_auto_loads_the_cached_published_file(cached_vgg19):
    model, path = cached_vgg19
    features = VGGFeatures(("conv3_4", "conv5_4"), weights="auto")
    assert features.weights.describe() == f"imagenet:{path}"
    images = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        out = features(images)
        assert torch.allclose(out["conv5_4"], reference_features(model, images, 34), atol=1e-5)
        assert torch.allclose(out["conv3_4"], reference_features(model, images, 16), atol=1e-5)


def test_auto_without_the_file_falls_back_to_random_loudly(caplog):
    with caplog.at_level(logging.WARNING):
        features = VGGFeatures(("conv5_4",), weights="auto", config_key="sr.vgg_weights")
    assert features.weights.describe() == "random"
    assert "RANDOM weights" in caplog.text and "sr.vgg_weights" in caplog.text


def test_imagenet_fails_clearly_when_the_file_cannot_be_had(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(InputError, match="degrader.vgg_weights.*imagenet.*could not be downloaded"):
        VGGFeatures(("conv5_4",), weights="imagenet", config_key="degrader.vgg_weights")


def test_a_file_path_is_loaded_and_foreign_files_are_rejected(tmp_path, cached_vgg19):
    _, path = cached_vgg19
    assert VGGFeatures(("conv1_2",), weights=str(path)).weights.describe() == f"file:{path}"
    (tmp_path / "junk.pth").write_bytes(b"not torch")
    with pytest.raises(InputError, match="cannot load VGG19 weights"):
        VGGFeatures(("conv1_2",), weights=str(tmp_path / "junk.pth"))
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(InputError, match="not a torchvision VGG19 state dict"):
        VGGFeatures(("conv1_2",), weights=str(tmp_path / "wrong.pth"))
    with pytest.raises(InputError, match="neither one of auto, imagenet, random"):
        VGGFeatures(("conv1_2",), weights=str(tmp_path / "missing.pth"))


def test_random_weights_follow_the_seed():
    a, b = VGGFeatures(("conv1_1",), "random", seed=1), VGGFeatures(("conv1_1",), "random", seed=1)
    assert torch.equal(a.features[0].weight, b.features[0].weight)
    assert not torch.equal(a.features[0].weight, VGGFeatures(("conv1_1",), "random", seed=2).features[0].weight)
