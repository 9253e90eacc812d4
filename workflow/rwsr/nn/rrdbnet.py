"""RRDBNet, the ESRGAN generator (Wang et al., ECCVW 2018); BebyGAN reuses it.

Residual-in-residual dense blocks without batch norm (BN causes artefacts in GAN-trained SR),
each residual branch scaled by 0.2 and every conv initialised at 0.1 times Kaiming, so that a
very deep network starts close to identity on its trunk and trains stably.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

# ESRGAN section 3.2: scaling residuals by a constant in [0, 1] keeps deep, BN-free networks stable.
RESIDUAL_SCALE = 0.2
# ESRGAN section 3.2: smaller initial weights make the residual architecture easier to train.
INIT_SCALE = 0.1


def scaled_kaiming_(module: nn.Module, scale: float = INIT_SCALE) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, a=0.0, mode="fan_in")
            layer.weight.data.mul_(scale)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; the fifth maps back to `features` channels."""

    def __init__(self, features: int = 64, growth: int = 32):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(features + i * growth, growth if i < 4 else features, 3, padding=1) for i in range(5)
        )
        scaled_kaiming_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for conv in self.convs[:4]:
            outputs.append(F.leaky_relu(conv(torch.cat(outputs, 1)), 0.2))
        return x + RESIDUAL_SCALE * self.convs[4](torch.cat(outputs, 1))


class RRDB(nn.Module):
    """Three dense blocks inside one more scaled residual connection."""

    def __init__(self, features: int = 64, growth: int = 32):
        super().__init__()
        self.dense = nn.Sequential(*(ResidualDenseBlock(features, growth) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_SCALE * self.dense(x)


class RRDBNet(nn.Module):
    """LR image -> SR image, `scale` times larger.

    Args:
        in_channels: channels of the input image (3 for RGB).
        out_channels: channels of the output image.
        features: channels of the trunk (ESRGAN: 64).
        blocks: number of RRDBs in the trunk (ESRGAN: 23).
        growth: channels added by each conv inside a dense block (ESRGAN: 32).
        scale: 2 or 4; each factor of 2 is a nearest-neighbour upsample followed by a conv, which
            avoids the checkerboard artefacts of transposed convs.
    """

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, features: int = 64, blocks: int = 23, growth: int = 32,
        scale: int = 4,
    ):  # fmt: skip
        super().__init__()
        if scale not in (2, 4):
            raise ValueError(f"RRDBNet supports scale 2 or 4, got {scale}")
        self.arch: dict[str, Any] = dict(
            in_channels=in_channels, out_channels=out_channels, features=features, blocks=blocks, growth=growth,
            scale=scale,
        )  # fmt: skip
        self.scale = scale
        self.conv_first = nn.Conv2d(in_channels, features, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(features, growth) for _ in range(blocks)))
        self.conv_body = nn.Conv2d(features, features, 3, padding=1)
        self.upconvs = nn.ModuleList(nn.Conv2d(features, features, 3, padding=1) for _ in range(int(math.log2(scale))))
        self.conv_hr = nn.Conv2d(features, features, 3, padding=1)
        self.conv_last = nn.Conv2d(features, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for upconv in self.upconvs:
            feat = F.leaky_relu(upconv(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))
