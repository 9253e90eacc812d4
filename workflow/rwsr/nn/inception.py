"""The FID InceptionV3 of pytorch-fid (pool3, 2048-d), built without its automatic download.

pytorch-fid's `fid_inception_v3` always fetches its weights from the network. Here the same
structure (torchvision's Inception3 with 1008 classes and pytorch-fid's patched blocks) is built
by hand and given weights through rwsr.nn.pretrained's policy (auto | imagenet | random | path),
so the offline demo still scores, and every score records which weights it came from.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from pytorch_fid.inception import (
    FID_WEIGHTS_URL,
    FIDInceptionA,
    FIDInceptionC,
    FIDInceptionE_1,
    FIDInceptionE_2,
)

from rwsr.errors import InputError
from rwsr.nn.pretrained import BackboneWeights, keep_scale_init, resolve_weights

FEATURE_DIM = 2048
INPUT_SIDE = 299  # the resolution the TensorFlow FID network was trained at; pytorch-fid resizes to it


def fid_inception_structure() -> torchvision.models.Inception3:
    """pytorch-fid's FID Inception layout, uninitialised beyond PyTorch's layer defaults.

    The 1008-way classifier and the TensorFlow-style pooling patches must match the published
    file exactly, or its state dict would not load (or would load into the wrong computation).
    """
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


class FIDInception(nn.Module):
    """Frozen FID InceptionV3 returning pool3 features (N x 2048), as pytorch-fid's InceptionV3
    with its default output block: bilinear resize to 299x299, then [0, 1] -> [-1, 1].

    Args:
        weights: a choice for rwsr.nn.pretrained.resolve_weights (auto | imagenet | random | path);
            a file must hold pytorch-fid's state dict (pt_inception-2015-12-05-6726825d.pth).
        config_key: the config key that holds `weights`, named in errors and warnings.
        seed: seeds the random initialisation when the weights are random.
        input_side: side the inputs are resized to; 299 (pytorch-fid's) for scores comparable with
            published FIDs. Smaller sides (at least 75) only serve fast behaviour tests.
    """

    def __init__(
        self,
        weights: str = "auto",
        config_key: str = "evaluate.inception_weights",
        seed: int = 0,
        input_side: int = INPUT_SIDE,
    ):
        super().__init__()
        if input_side < 75:
            raise ValueError(f"InceptionV3 needs inputs of at least 75x75 pixels, got input_side={input_side}")
        self.input_side = input_side
        self.weights: BackboneWeights = resolve_weights(weights, FID_WEIGHTS_URL, "FID InceptionV3", config_key)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = fid_inception_structure()
            # He init keeps random pool3 features (and so FIDs) at a usable scale, not ~1e-8.
            self.init = keep_scale_init(net) if self.weights.is_random else "pretrained"
        if self.weights.state_dict is not None:
            try:
                net.load_state_dict(self.weights.state_dict)
            except RuntimeError as error:
                raise InputError(
                    f"config key '{config_key}': {self.weights.location} is not pytorch-fid's FID Inception "
                    f"state dict: {str(error).splitlines()[0]}"
                ) from error
        # pytorch-fid's blocks 0-3, up to the final average pool; the classifier is dropped.
        self.features = nn.Sequential(
            net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
            net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
            net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a,
            net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e,
            net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d(output_size=(1, 1)),
        ).eval()  # fmt: skip
        self.features.requires_grad_(False)

    def train(self, mode: bool = True) -> "FIDInception":
        super().train(mode)
        self.features.eval()  # frozen: batch norm must keep its stored statistics
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] N x 3 x H x W -> N x 2048 pool3 features."""
        x = F.interpolate(images, size=(self.input_side, self.input_side), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        return self.features(x).flatten(1)
