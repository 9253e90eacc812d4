"""Generator losses of the SR models. A model plugs into the shared training loop
(rwsr.sr.train) through one object with three methods:

- `psnr_phase(sr, hr, lr)` -> (loss, parts): the PSNR-oriented pre-training loss;
- `discriminator_inputs(sr, hr, lr)` -> (real, fake): what the discriminator judges
  (whole crops for ESRGAN; BebyGAN masks them to textured regions);
- `gan_phase(sr, hr, lr, real_logits, fake_logits)` -> (loss, parts): the generator loss of the
  GAN phase, given the discriminator's logits for those inputs.

`fields` names the parts (detached tensors, synced to the host only when logged);
`from_settings(s)` builds the object from the trainer's SRSettings (each model reads its own keys). Losses are computed in float32 whatever the autocast
dtype: L1 of bf16 differences loses the small values that matter late in training.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from rwsr.nn.vgg import VGGFeatures
from rwsr.ops.frequency import high_pass, low_pass
from rwsr.sr import LOSS_KEYS
from rwsr.sr.bebygan_losses import back_projection_loss, best_buddy_loss, textured_mask
from rwsr.train.gan import relativistic_g_loss


class PerceptualLoss(nn.Module):
    """L1 between VGG19 features *before* activation (ESRGAN section 3.3: denser, brighter-consistent),
    summed over `layers` ({name: weight}, or one layer name with weight 1), from one VGG19 pass."""

    def __init__(self, layers: str | Mapping[str, float] = "conv5_4", weights: str = "auto",
                 config_key: str = "sr.vgg_weights", seed: int = 0):  # fmt: skip
        super().__init__()
        self.layers = {layers: 1.0} if isinstance(layers, str) else dict(layers)
        self.vgg = VGGFeatures(tuple(self.layers), weights=weights, config_key=config_key, seed=seed)

    def describe(self) -> str:
        return self.vgg.weights.describe()

    @property
    def init(self) -> str:
        """How VGG19 was initialised: pretrained, or the random init's name."""
        return self.vgg.init

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            targets = self.vgg(hr)
        features = self.vgg(sr)
        return sum(w * F.l1_loss(features[name].float(), targets[name].float()) for name, w in self.layers.items())


class ESRGANLoss(nn.Module):
    """ESRGAN: L1 pixel + perceptual (conv5_4) + relativistic average GAN, weighted; with
    `frequency_separation`, ESRGAN-FS (the SR model of the DSGAN paper).

    Args:
        pixel_weight: weight of the L1 pixel loss in the GAN phase (ESRGAN: 1e-2).
        perceptual_weight: weight of the perceptual loss (ESRGAN: 1.0).
        gan_weight: weight of the relativistic adversarial loss (ESRGAN: 5e-3).
        frequency_separation: side of the box low-pass that splits the bands (ESRGAN-FS: 9), 0 for
            plain ESRGAN. The pixel loss then compares only the low bands, where the pairs pin the
            answer down (colour, shading, where edges are), and the discriminator judges only the
            high bands (image minus low band), where the texture it rewards lives.
        perceptual_band: what VGG19 compares under frequency separation: "full" images
            (ESRGAN-FS) or "high" bands only. A perceptual gradient on the high band cannot shift
            colours or shading, so only the pixel loss steers the low band (with a random VGG19,
            whose features weigh colour arbitrarily, the full-image loss tints the output).
        vgg_weights: VGG19 weights choice (auto | imagenet | random | path).
        seed: seeds VGG19's initialisation when its weights are random.
    """

    fields = ("l_pix", "l_percep", "l_gan")

    def __init__(
        self, pixel_weight: float = 1e-2, perceptual_weight: float = 1.0, gan_weight: float = 5e-3,
        frequency_separation: int = 0, perceptual_band: str = "full", vgg_weights: str = "auto", seed: int = 0,
        need_perceptual: bool = True,
    ):  # fmt: skip
        super().__init__()
        self.pixel_weight, self.perceptual_weight, self.gan_weight = pixel_weight, perceptual_weight, gan_weight
        self.frequency_separation, self.perceptual_band = frequency_separation, perceptual_band
        # A PSNR-only run never builds VGG19 (nor warns about its weights).
        self.perceptual = PerceptualLoss("conv5_4", vgg_weights, "sr.vgg_weights", seed) if need_perceptual else None

    settings_keys = LOSS_KEYS["esrgan"]

    @classmethod
    def from_settings(cls, s: Any) -> "ESRGANLoss":
        """From the trainer's SRSettings (the fields in `settings_keys`); VGG19 is built only when
        there is a GAN phase."""
        values = {key: getattr(s, key) for key in cls.settings_keys}
        return cls(**values, seed=s.seed, need_perceptual=s.gan_iterations > 0)

    def describe(self) -> str:
        return self.perceptual.describe() if self.perceptual is not None else "none"

    def vgg_init(self) -> str:
        return self.perceptual.init if self.perceptual is not None else "none"

    def psnr_phase(self, sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = F.l1_loss(sr.float(), hr.float())
        return loss, {"l_pix": loss.detach()}

    def low_band(self, images: torch.Tensor) -> torch.Tensor:
        """What the GAN-phase pixel loss compares: the whole image, or its low band under frequency separation."""
        return low_pass(images, "box", self.frequency_separation) if self.frequency_separation else images

    def high_band(self, images: torch.Tensor) -> torch.Tensor:
        """What the discriminator judges: the whole image, or its high band under frequency separation."""
        return high_pass(images, "box", self.frequency_separation) if self.frequency_separation else images

    def discriminator_inputs(
        self, sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.high_band(hr), self.high_band(sr)

    def perceptual_loss(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if self.perceptual is None:
            return sr.new_zeros((), dtype=torch.float32)
        if self.perceptual_band == "high" and self.frequency_separation:
            # Centred on mid-grey, the intensity the high band is zero around, as VGG19's inputs are images.
            return self.perceptual(self.high_band(sr) + 0.5, self.high_band(hr) + 0.5)
        return self.perceptual(sr, hr)

    def gan_phase(
        self, sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        l_pix = F.l1_loss(self.low_band(sr.float()), self.low_band(hr.float()))
        l_percep = self.perceptual_loss(sr, hr)
        l_gan = relativistic_g_loss(real_logits.detach(), fake_logits)
        loss = self.pixel_weight * l_pix + self.perceptual_weight * l_percep + self.gan_weight * l_gan
        return loss, {"l_pix": l_pix.detach(), "l_percep": l_percep.detach(), "l_gan": l_gan.detach()}


class BebyGANLoss(ESRGANLoss):
    """BebyGAN (Li et al., AAAI 2022): best-buddy + back-projection + multi-layer perceptual +
    region-aware relativistic GAN. The best-buddy loss replaces ESRGAN's pixel L1, so the GAN
    phase is not pulled towards the blurry average of all plausible textures.

    Args:
        scale: SR factor (back-projection and the flat-region mask work on the LR grid).
        best_buddy_weight, best_buddy_alpha, best_buddy_beta: weight of the best-buddy loss and its
            buddy criterion alpha*||sr - g||^2 + beta*||hr - g||^2 (paper: 1, 1, 1).
        back_projection_weight: weight of L1(bicubic downscale of SR, LR) (paper: 1).
        perceptual_layers: VGG19 layers before activation and their weights
            (paper: conv3_4 1/8, conv4_4 1/4, conv5_4 1/2).
        perceptual_weight: weight of the perceptual loss (paper: 1).
        gan_weight: weight of the relativistic average GAN loss (paper: 5e-3).
        mask_window, mask_threshold: a pixel is flat, and hidden from the discriminator, where the
            window x window standard deviation of the bicubic-upscaled LR luminance is below the
            threshold (paper: 11, 0.025).
        vgg_weights: VGG19 weights choice (auto | imagenet | random | path).
        seed: seeds VGG19's initialisation when its weights are random.
        need_perceptual: False builds no VGG19 (a PSNR-only run).
    """

    fields = ("l_pix", "l_bb", "l_bp", "l_percep", "l_gan")

    def __init__(
        self, scale: int = 4, best_buddy_weight: float = 1.0, best_buddy_alpha: float = 1.0,
        best_buddy_beta: float = 1.0, back_projection_weight: float = 1.0,
        perceptual_layers: Mapping[str, float] | None = None, perceptual_weight: float = 1.0,
        gan_weight: float = 5e-3, mask_window: int = 11, mask_threshold: float = 0.025,
        vgg_weights: str = "auto", seed: int = 0, need_perceptual: bool = True,
    ):  # fmt: skip
        nn.Module.__init__(self)  # shares ESRGANLoss's methods, not its settings
        self.scale = scale
        self.best_buddy_weight, self.alpha, self.beta = best_buddy_weight, best_buddy_alpha, best_buddy_beta
        self.back_projection_weight = back_projection_weight
        self.perceptual_weight, self.gan_weight = perceptual_weight, gan_weight
        self.mask_window, self.mask_threshold = mask_window, mask_threshold
        layers = perceptual_layers or {"conv3_4": 1 / 8, "conv4_4": 1 / 4, "conv5_4": 1 / 2}
        self.perceptual = PerceptualLoss(layers, vgg_weights, "sr.vgg_weights", seed) if need_perceptual else None

    settings_keys = LOSS_KEYS["bebygan"]

    # from_settings(), describe() and psnr_phase() come from ESRGANLoss: the paper starts its GAN
    # training from an L1-trained RRDB, and the PSNR phase trains exactly that model.

    def discriminator_inputs(
        self, sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """HR and SR with flat regions zeroed: the discriminator judges texture only, so the
        generator gains nothing by inventing it on sky and walls."""
        mask = textured_mask(lr, self.scale, self.mask_window, self.mask_threshold)
        return hr * mask.to(hr.dtype), sr * mask.to(sr.dtype)

    def gan_phase(
        self, sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        l_bb = best_buddy_loss(sr, hr, self.alpha, self.beta)
        l_bp = back_projection_loss(sr, lr, self.scale)
        l_percep = self.perceptual(sr, hr) if self.perceptual is not None else sr.new_zeros((), dtype=torch.float32)
        l_gan = relativistic_g_loss(real_logits.detach(), fake_logits)
        loss = (self.best_buddy_weight * l_bb + self.back_projection_weight * l_bp
                + self.perceptual_weight * l_percep + self.gan_weight * l_gan)  # fmt: skip
        return loss, {"l_bb": l_bb.detach(), "l_bp": l_bp.detach(), "l_percep": l_percep.detach(), "l_gan": l_gan.detach()}
