"""The pretrained-weights policy (README.md, "Conventions"): real loading code, explicit choices, loud fallbacks."""

from __future__ import annotations

import logging

import pytest
import torch
import torchvision

from conftest import cache_published_weights
from rwsr.errors import InputError
from rwsr.nn.vgg import VGG19_URL, VGGFeatures


@pytest.fixture
def cached_vgg19(offline_torch_home):
    """A state dict of torchvision's exact VGG19 format where torch.hub caches the published file."""
    return cache_published_weights(VGG19_URL, torchvision.models.vgg19, seed=3)


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
    assert features.weights.describe() == "pretrained" and features.init == "pretrained"
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
    # Named by content, not path: the same file elsewhere (another machine's cache) describes alike.
    copied = tmp_path / "copy.pth"
    copied.write_bytes(path.read_bytes())
    described = VGGFeatures(("conv1_2",), weights=str(copied)).weights.describe()
    assert described == VGGFeatures(("conv1_2",), weights=str(path)).weights.describe()
    assert described.startswith("file:") and len(described) == len("file:") + 12 and str(tmp_path) not in described
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


def test_random_vgg_keeps_a_live_perceptual_signal():
    """With PyTorch's layer defaults the conv5_4 features of a random VGG19 are almost only biases
    (a perceptual loss of ~1e-7); He init with fan-out must keep it comparable with the pixel loss
    and ordered: a sharper image is perceptually closer."""
    import numpy as np
    import torch.nn.functional as F
    from skimage import data as skdata
    from torchvision.transforms.functional import gaussian_blur

    from rwsr.sr.losses import PerceptualLoss

    image = torch.from_numpy(skdata.astronaut()[100:196, 150:246].astype(np.float32) / 255).permute(2, 0, 1)[None]
    loss = PerceptualLoss("conv5_4", weights="random", seed=0)
    assert loss.init == "kaiming_normal_fan_out"
    perceptual, pixel = [], []
    with torch.no_grad():
        for sigma in (3.0, 2.0, 1.0, 0.5):
            blurred = gaussian_blur(image, 9, sigma)
            perceptual.append(float(loss(blurred, image)))
            pixel.append(float(F.l1_loss(blurred, image)))
    assert all(1e-3 < p / q < 1e3 for p, q in zip(perceptual, pixel)), (perceptual, pixel)
    assert perceptual == sorted(perceptual, reverse=True), perceptual
