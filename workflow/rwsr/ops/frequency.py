"""Frequency separation: low = a small fixed blur of the image, high = image - low.

DSGAN's premise is that a degradation changes mostly the high frequencies (noise, compression
blocks, sensor texture) and should leave the low ones (colours, shading) alone; so the
discriminator sees only `high_pass` and the colour loss compares only `low_pass`. ESRGAN-FS, the
SR model of the same paper, splits its losses the same way (rwsr.sr.losses).
Tensors are NCHW; the filter is depthwise, so every channel is filtered on its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FILTERS = ("box", "gaussian")


def low_pass_kernel(kind: str = "box", size: int = 5) -> torch.Tensor:
    """A size x size float32 filter summing to 1: a box (the paper's average pooling), or a
    Gaussian with std size/6 so that +-3 std fill the window (the paper's Gaussian option)."""
    if kind not in FILTERS:
        raise ValueError(f"unknown low-pass filter {kind!r}; known: {', '.join(FILTERS)}")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"low-pass filter size must be odd and positive, got {size}")
    if kind == "box":
        kernel = torch.ones(size, size)
    else:
        offsets = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        profile = torch.exp(-0.5 * (offsets / (size / 6.0)) ** 2)
        kernel = profile[:, None] * profile[None, :]
    return kernel / kernel.sum()


def low_pass(images: torch.Tensor, kind: str = "box", size: int = 5, valid: bool = False) -> torch.Tensor:
    """Blur NCHW images with the low-pass filter (stride 1).

    valid=False keeps the size, mirroring the borders (reflect-101, as rwsr.ops.degradation
    does) so that a flat image stays flat to the edge; valid=True drops the border pixels
    instead, which is what the colour loss uses: no padding can then leak into it.
    """
    kernel = low_pass_kernel(kind, size).to(images)
    channels = images.shape[1]
    weight = kernel.expand(channels, 1, size, size)
    if not valid:
        half = size // 2
        images = F.pad(images, (half, half, half, half), mode="reflect")
    return F.conv2d(images, weight, groups=channels)


def high_pass(images: torch.Tensor, kind: str = "box", size: int = 5) -> torch.Tensor:
    """The residual the low-pass filter removes: zero on flat regions, same size as the input."""
    return images - low_pass(images, kind, size)
