"""ESRGAN's GAN-phase losses under frequency separation (ESRGAN-FS, rwsr.sr.losses)."""

import math

import torch

from rwsr.sr.losses import ESRGANLoss


def smooth_images(seed: int = 0, side: int = 64) -> torch.Tensor:
    """A batch of smooth random colour images (the low band of a photo)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(2, 3, side // 8, side // 8, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(side, side), mode="bicubic", align_corners=False).clamp(0, 1)


def pixel_part(loss: ESRGANLoss, sr: torch.Tensor, hr: torch.Tensor) -> float:
    logits = torch.zeros(sr.shape[0], 1)
    return float(loss.gan_phase(sr, hr, sr, logits, logits)[1]["l_pix"])


def test_frequency_separated_pixel_loss_sees_colour_but_not_texture():
    hr = smooth_images()
    columns = torch.arange(hr.shape[-1], dtype=torch.float32)
    # A texture of period 9 sums to zero over every 9-pixel window: the 9x9 box's low band has none of it.
    texture = hr + 0.1 * torch.sin(2 * math.pi * columns / 9)
    tinted = hr + torch.tensor([0.05, -0.03, 0.0]).view(1, 3, 1, 1)
    plain = ESRGANLoss(need_perceptual=False)
    separated = ESRGANLoss(frequency_separation=9, need_perceptual=False)
    assert pixel_part(plain, texture, hr) > 0.05
    assert pixel_part(separated, texture, hr) < 0.1 * pixel_part(plain, texture, hr)
    assert math.isclose(pixel_part(separated, tinted, hr), pixel_part(plain, tinted, hr), rel_tol=1e-3)


def test_discriminator_judges_high_bands_only():
    hr = smooth_images()
    flat = torch.full_like(hr, 0.4)
    separated = ESRGANLoss(frequency_separation=9, need_perceptual=False)
    real, fake = separated.discriminator_inputs(flat, hr, None)
    assert fake.abs().max() < 1e-6  # a flat image has no high band, whatever its colour
    assert torch.allclose(real, hr - separated.low_band(hr))
    assert ESRGANLoss(need_perceptual=False).discriminator_inputs(flat, hr, None)[1] is flat


def test_high_band_perceptual_loss_cannot_shift_colours():
    """With a random VGG19 the full-image perceptual gradient has a mean per channel (a tint); on
    the high bands the gradient of every channel sums to nearly zero."""
    hr = smooth_images(1)
    sr = (hr + 0.05 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(2))).requires_grad_()

    def tint_share(band: str) -> float:
        loss = ESRGANLoss(frequency_separation=9, perceptual_band=band, vgg_weights="random")
        (grad,) = torch.autograd.grad(loss.perceptual_loss(sr, hr), sr)
        return float(grad.mean(dim=(2, 3)).abs().mean() / grad.abs().mean())

    full, high = tint_share("full"), tint_share("high")
    assert high < 0.02, high
    assert full > 5 * high, (full, high)
