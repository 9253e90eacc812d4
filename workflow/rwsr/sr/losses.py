"""Generator losses of the SR models. A model plugs into the shared training loop
(rwsr.sr.train) through one object with three methods:

- `psnr_phase(sr, hr, lr)` -> (loss, parts): the PSNR-oriented pre-training loss;
- `discriminator_inputs(sr, hr, lr)` -> (real, fake): what the discriminator judges
  (whole crops for ESRGAN; BebyGAN masks them to textured regions);
- `gan_phase(sr, hr, lr, real_logits, fake_logits)` -> (loss, parts): the generator loss of the
  GAN phase, given the discriminator's logits for those inputs.

`fields` names the parts, for the loss log. Losses are computed in float32 whatever the autocast
dtype: L1 of bf16 differences loses the small values that matter late in training.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from rwsr.nn.vgg import VGGFeatures
from rwsr.train.gan import relativistic_g_loss


class PerceptualLoss(nn.Module):
    """L1 between VGG19 features *before* activation (ESRGAN section 3.3: denser, brighter-consistent)."""

    def __init__(self, layer: str = "conv5_4", weights: str = "auto", config_key: str = "sr.vgg_weights", seed: int = 0):
        super().__init__()
        self.layer = layer
        self.vgg = VGGFeatures((layer,), weights=weights, config_key=config_key, seed=seed)

    def describe(self) -> str:
        return self.vgg.weights.describe()

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.vgg(hr)[self.layer].float()
        return F.l1_loss(self.vgg(sr)[self.layer].float(), target)


class ESRGANLoss(nn.Module):
    """ESRGAN: L1 pixel + perceptual (conv5_4) + relativistic average GAN, weighted.

    Args:
        pixel_weight: weight of the L1 pixel loss in the GAN phase (ESRGAN: 1e-2).
        perceptual_weight: weight of the perceptual loss (ESRGAN: 1.0).
        gan_weight: weight of the relativistic adversarial loss (ESRGAN: 5e-3).
        vgg_weights: VGG19 weights choice (auto | imagenet | random | path).
        seed: seeds VGG19's initialisation when its weights are random.
    """

    fields = ("l_pix", "l_percep", "l_gan")

    def __init__(
        self, pixel_weight: float = 1e-2, perceptual_weight: float = 1.0, gan_weight: float = 5e-3,
        vgg_weights: str = "auto", seed: int = 0, need_perceptual: bool = True,
    ):  # fmt: skip
        super().__init__()
        self.pixel_weight, self.perceptual_weight, self.gan_weight = pixel_weight, perceptual_weight, gan_weight
        # A PSNR-only run never builds VGG19 (nor warns about its weights).
        self.perceptual = PerceptualLoss("conv5_4", vgg_weights, "sr.vgg_weights", seed) if need_perceptual else None

    def describe(self) -> str:
        return self.perceptual.describe() if self.perceptual is not None else "none"

    def psnr_phase(self, sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = F.l1_loss(sr.float(), hr.float())
        return loss, {"l_pix": loss.item()}

    def discriminator_inputs(
        self, sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return hr, sr

    def gan_phase(
        self, sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        l_pix = F.l1_loss(sr.float(), hr.float())
        l_percep = self.perceptual(sr, hr) if self.perceptual is not None else sr.new_zeros((), dtype=torch.float32)
        l_gan = relativistic_g_loss(real_logits.detach(), fake_logits)
        loss = self.pixel_weight * l_pix + self.perceptual_weight * l_percep + self.gan_weight * l_gan
        return loss, {"l_pix": l_pix.item(), "l_percep": l_percep.item(), "l_gan": l_gan.item()}
