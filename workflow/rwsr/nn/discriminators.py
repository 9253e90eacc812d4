"""Discriminators for the SR GANs (ESRGAN, BebyGAN).

`VGGStyleDiscriminator` is ESRGAN's: strided conv + BN stages down to 4x4, then two linear
layers, so it only accepts the crop size it was built for (ESRGAN's 128, BebyGAN's 192). `PatchDiscriminator` is fully
convolutional and returns a map of logits, one per overlapping receptive field, so it works at
any crop size at least `min_size`: fixed-size discriminators are a known pain point when crops
must shrink (small GPUs, the CPU demo) or grow.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm


def conv_bn_lrelu(in_ch: int, out_ch: int, kernel: int, stride: int) -> list[nn.Module]:
    # No conv bias before BN: the BN shift makes it redundant.
    return [
        nn.Conv2d(in_ch, out_ch, kernel, stride, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.LeakyReLU(0.2, inplace=True),
    ]


class VGGStyleDiscriminator(nn.Module):
    """ESRGAN's discriminator: five stages that each halve the side, then a 2-layer classifier.

    Args:
        in_channels: image channels.
        features: channels of the first stage, doubled per stage up to 8x (ESRGAN: 64).
        input_size: side of the square crops it judges; a multiple of 32 (ESRGAN: 128).
    """

    def __init__(self, in_channels: int = 3, features: int = 64, input_size: int = 128):
        super().__init__()
        if input_size % 32:
            raise ValueError(f"VGGStyleDiscriminator needs an input size divisible by 32, got {input_size}")
        self.arch: dict[str, Any] = dict(in_channels=in_channels, features=features, input_size=input_size)
        self.input_size = input_size
        widths = [features * m for m in (1, 2, 4, 8, 8)]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, features, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Conv2d(features, features, 4, 2, 1, bias=False), nn.BatchNorm2d(features), nn.LeakyReLU(0.2, True)]
        for prev, width in zip(widths[:-1], widths[1:]):
            layers += conv_bn_lrelu(prev, width, 3, 1) + conv_bn_lrelu(width, width, 4, 2)
        self.features = nn.Sequential(*layers)
        side = input_size // 32
        self.classifier = nn.Sequential(
            nn.Linear(widths[-1] * side * side, 100), nn.LeakyReLU(0.2, inplace=True), nn.Linear(100, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(
                f"VGGStyleDiscriminator was built for {self.input_size}x{self.input_size} crops, got "
                f"{x.shape[-1]}x{x.shape[-2]}; use the patch discriminator for other sizes"
            )
        return self.classifier(self.features(x).flatten(1))


class PatchDiscriminator(nn.Module):
    """Fully convolutional discriminator with spectral norm; returns N x 1 x h x w logits.

    Args:
        in_channels: image channels.
        features: channels of the first layer, doubled per stride-2 layer up to 8x.
        layers: stride-2 layers; each doubles the receptive field (3 gives 70x70 patches, as in pix2pix).
    """

    def __init__(self, in_channels: int = 3, features: int = 64, layers: int = 3):
        super().__init__()
        self.arch: dict[str, Any] = dict(in_channels=in_channels, features=features, layers=layers)
        # Two final 4x4 stride-1 convs each trim one pixel after `layers` halvings.
        self.min_size = 3 * 2**layers
        # Spectral norm instead of BN: keeps the critic Lipschitz and independent of the batch mix.
        blocks: list[nn.Module] = [spectral_norm(nn.Conv2d(in_channels, features, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        width = features
        for i in range(1, layers + 1):
            out = features * min(2**i, 8)
            stride = 2 if i < layers else 1
            blocks += [spectral_norm(nn.Conv2d(width, out, 4, stride, 1)), nn.LeakyReLU(0.2, True)]
            width = out
        blocks.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(f"PatchDiscriminator with these layers needs crops of at least {self.min_size} pixels")
        return self.net(x)
