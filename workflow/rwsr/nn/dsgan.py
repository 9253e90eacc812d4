"""DSGAN networks (Fritsche, Gu, Timofte, "Frequency Separation for Real-World Super-Resolution",
ICCVW 2019): a same-resolution generator that adds the target domain's degradation to clean
LR images, and a patch discriminator that judges only the high frequencies.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from rwsr.ops.frequency import high_pass


RESIDUAL_BANDS = ("full", "high", "noise")
# residual_band "noise": an untrained generator adds noise of one 8-bit level, small but with a
# gradient; its standard deviation can grow towards half the intensity range, no further.
NOISE_FLOOR = 1 / 255
MAX_LOG_NOISE = float(torch.log(torch.tensor(0.5 * 255)))


class ResidualBlock(nn.Module):
    """conv3x3 -> PReLU -> conv3x3, added to the input (SRResNet's block without batch norm)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.PReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DSGANGenerator(nn.Module):
    """Clean LR in, degraded LR out, same size; RGB in [0, 1] on both sides.

    Args:
        channels: feature channels of the head and of every residual block (paper: 64).
        blocks: number of residual blocks (paper: 8).
        skip: False (paper): the output is sigmoid(network), bounded to [0, 1], and the identity
            must be learnt from the colour loss. True: output = input + network, so an untrained
            generator already passes the image through; this converges in far fewer
            iterations, which is what a CPU demo can afford.
        residual_band: with skip, "full" adds the network's whole output to the input; "high"
            adds only its high band (`high_pass` with `filter` and `filter_size`, the frequency
            split the discriminator and the colour loss use), so the output keeps the input's
            colours and shading by construction: a constant or slowly varying residual (a tint,
            a shading change) has no high band. The colour loss asks for the same but trades it
            against the GAN term, and a GAN term weighted up for a short run tints the output.
            "noise" makes the network's output a per-pixel, per-channel noise standard deviation
            (NOISE_FLOOR x exp(output), softly bounded to at most half the intensity range) and adds
            that times fresh white Gaussian noise, mixed across colours by a learnt 3x3 matrix:
            signal-dependent sensor noise, the model of camera noise. The residual is then random by construction: it cannot tint, shade or
            sharpen, nor form the oriented stripes that a free residual learns when a small
            discriminator cannot tell filtered noise from the real noise.
        noise_channels: 0 (paper's code): the degradation is a deterministic function of the
            image content, so on a flat clean region the generator can only amplify what little
            texture is there, and sensor noise is learnt slowly or not at all. N > 0 appends N
            channels of standard normal noise to the input, a fresh draw per call, which the
            network shapes into the target's noise (level, colour correlation, grain size).
    """

    def __init__(self, channels: int = 64, blocks: int = 8, skip: bool = False, noise_channels: int = 0,
                 residual_band: str = "full", filter: str = "box", filter_size: int = 5):  # fmt: skip
        super().__init__()
        if residual_band not in RESIDUAL_BANDS:
            raise ValueError(f"residual_band must be one of {RESIDUAL_BANDS}, got {residual_band!r}")
        if residual_band == "noise" and not skip:
            raise ValueError("residual_band 'noise' adds noise to the input, so it needs skip")
        self.skip = skip
        self.residual_band, self.filter, self.filter_size = residual_band, filter, filter_size
        self.noise_channels = noise_channels
        # Gain on the residual (skip only): 1 while training; a calibration may set it afterwards
        # so that the output's noise level matches a target (rwsr.degrader.selection).
        self.residual_scale = 1.0
        self.head = nn.Sequential(nn.Conv2d(3 + noise_channels, channels, 3, padding=1), nn.PReLU())
        self.blocks = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)
        if skip:
            # Start at the identity exactly: the residual branch begins silent (noise: at the floor).
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)
        if residual_band == "noise":
            self.noise_mixing = nn.Parameter(torch.eye(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs = x
        if self.noise_channels:
            noise = torch.randn(x.shape[0], self.noise_channels, *x.shape[2:], device=x.device, dtype=x.dtype)
            inputs = torch.cat([x, noise], dim=1)
        residual = self.tail(self.blocks(self.head(inputs)))
        if not self.skip:
            return torch.sigmoid(residual)
        if self.residual_band == "high":
            residual = high_pass(residual, self.filter, self.filter_size)
        elif self.residual_band == "noise":
            # A soft bound: a hard clamp would stop the gradient, and a generator there could not come back.
            sigma = NOISE_FLOOR * torch.exp(MAX_LOG_NOISE * torch.tanh(residual / MAX_LOG_NOISE))
            white = torch.einsum("ij,bjhw->bihw", self.noise_mixing, torch.randn_like(x))
            residual = sigma * white
        return x + self.residual_scale * residual


class DSGANDiscriminator(nn.Module):
    """Patch discriminator on the high-frequency part of its input only; returns one logit per
    pixel (N x 1 x H x W, no sigmoid: the loss applies it, which is numerically safer).

    Args:
        channels: width of the first conv; the next two have 2x and 4x as many (paper: 64).
        filter: low-pass filter of the frequency split, "box" (paper default) or "gaussian".
        filter_size: side of that filter in pixels, odd (paper: 5).

    Stride 1 everywhere and 5x5 kernels: the receptive field (13 px) is local, because noise
    and compression artefacts are local and the content must not be what D judges.
    """

    def __init__(self, channels: int = 64, filter: str = "box", filter_size: int = 5):
        super().__init__()
        self.filter = filter
        self.filter_size = filter_size
        widths = (channels, 2 * channels, 4 * channels)
        self.net = nn.Sequential(
            nn.Conv2d(3, widths[0], 5, padding=2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(widths[0], widths[1], 5, padding=2),
            nn.BatchNorm2d(widths[1]),
            nn.LeakyReLU(0.2),
            nn.Conv2d(widths[1], widths[2], 5, padding=2),
            nn.BatchNorm2d(widths[2]),
            nn.LeakyReLU(0.2),
            nn.Conv2d(widths[2], 1, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(high_pass(images, self.filter, self.filter_size))
