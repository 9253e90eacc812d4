"""VGG19 feature extractor for perceptual losses (DSGAN, ESRGAN, BebyGAN).

Features are taken *before* the ReLU (ESRGAN's choice: post-activation features are sparse and
give weaker supervision). Inputs are RGB in [0, 1]; ImageNet normalisation happens inside.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torchvision

from rwsr.errors import InputError
from rwsr.nn.pretrained import BackboneWeights, keep_scale_init, resolve_weights

VGG19_URL = torchvision.models.VGG19_Weights.IMAGENET1K_V1.url

# Index of each conv layer in torchvision's vgg19().features.
VGG19_CONV_INDEX = {
    "conv1_1": 0, "conv1_2": 2,
    "conv2_1": 5, "conv2_2": 7,
    "conv3_1": 10, "conv3_2": 12, "conv3_3": 14, "conv3_4": 16,
    "conv4_1": 19, "conv4_2": 21, "conv4_3": 23, "conv4_4": 25,
    "conv5_1": 28, "conv5_2": 30, "conv5_3": 32, "conv5_4": 34,
}  # fmt: skip

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGFeatures(nn.Module):
    """Frozen VGG19 returning pre-activation features of the named conv layers.

    Args:
        layers: conv layer names, e.g. ("conv5_4",) or ("conv3_4", "conv4_4", "conv5_4").
        weights: a choice for rwsr.nn.pretrained.resolve_weights (auto | imagenet | random | path).
        config_key: the config key that holds `weights`, named in errors and warnings.
        seed: seeds the random initialisation when the weights are random.
    """

    def __init__(self, layers: tuple[str, ...], weights: str = "auto", config_key: str = "vgg_weights", seed: int = 0):
        super().__init__()
        unknown = [name for name in layers if name not in VGG19_CONV_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG19 layers {unknown}; known: {', '.join(VGG19_CONV_INDEX)}")
        self.layers = tuple(layers)
        self.weights: BackboneWeights = resolve_weights(weights, VGG19_URL, "VGG19", config_key)
        # Only the convolutional part: torchvision's vgg19() would also initialise its 120M-parameter
        # classifier, seconds of work for layers a perceptual loss never runs.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
            # Random weights must still carry signal: with PyTorch's layer defaults the conv5_4
            # features are almost only the biases and a perceptual loss is ~1e-7 whatever the
            # images. He init with fan-out (torchvision's own VGG init) keeps magnitudes through depth.
            self.init = keep_scale_init(features, mode="fan_out") if self.weights.is_random else "pretrained"
        if self.weights.state_dict is not None:
            prefix = "features."
            state = {k[len(prefix) :]: v for k, v in self.weights.state_dict.items() if k.startswith(prefix)}
            try:
                features.load_state_dict(state)
            except RuntimeError as error:
                raise InputError(
                    f"config key '{config_key}': {self.weights.describe()} is not a torchvision VGG19 state dict: {error}"
                ) from error
        last = max(VGG19_CONV_INDEX[name] for name in self.layers)
        self.features = features[: last + 1].eval()
        for layer in self.features:
            if isinstance(layer, nn.ReLU):
                layer.inplace = False  # in place, it would overwrite the pre-activation features already tapped
        self.features.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self._taps = {VGG19_CONV_INDEX[name]: name for name in self.layers}

    def train(self, mode: bool = True) -> "VGGFeatures":
        super().train(mode)
        self.features.eval()  # frozen: never leaves eval mode
        return self

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (images - self.mean) / self.std
        out = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._taps:
                out[self._taps[index]] = x
        return out
