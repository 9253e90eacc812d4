"""GAN steps the SR trainers share (ESRGAN and BebyGAN): the relativistic average losses,
the discriminator step and the EMA update, written once so neither trainer re-types them.

The discriminator always sees real and fake in ONE forward pass (concatenated along the batch):
under DDP a module may run forward once per backward, and a BN discriminator then normalises
real and fake with the same statistics in both the generator and the discriminator step.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
import torch.nn as nn
import torch.nn.functional as F


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for param in module.parameters():
        param.requires_grad_(flag)


def judge(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of real and fake from one forward pass, as float32 (the losses are sensitive to bf16)."""
    logits = discriminator(torch.cat([real, fake], 0)).float()
    return logits[: real.shape[0]], logits[real.shape[0] :]


def relativistic_average(own: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """How much more real `own` looks than the average of `other` (per position for patch maps)."""
    return own - other.mean(dim=0, keepdim=True)


def relativistic_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """RaGAN discriminator loss (ESRGAN eq. 2): real should look more real than the average fake."""
    real_rel = relativistic_average(real_logits, fake_logits)
    fake_rel = relativistic_average(fake_logits, real_logits)
    return 0.5 * (
        F.binary_cross_entropy_with_logits(real_rel, torch.ones_like(real_rel))
        + F.binary_cross_entropy_with_logits(fake_rel, torch.zeros_like(fake_rel))
    )


def relativistic_g_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """RaGAN generator loss (ESRGAN eq. 3): symmetric to the discriminator's, so the generator
    also gets gradient from the real images' side."""
    real_rel = relativistic_average(real_logits, fake_logits)
    fake_rel = relativistic_average(fake_logits, real_logits)
    return 0.5 * (
        F.binary_cross_entropy_with_logits(real_rel, torch.zeros_like(real_rel))
        + F.binary_cross_entropy_with_logits(fake_rel, torch.ones_like(fake_rel))
    )


def discriminator_step(
    discriminator: nn.Module,
    optimizer: torch.optim.Optimizer,
    real: torch.Tensor,
    fake: torch.Tensor,
    autocast: AbstractContextManager,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, torch.Tensor]:
    """One update of the discriminator on detached fakes; returns its loss and mean logits, as
    detached device tensors: the loop reads them on the host only when it logs."""
    set_requires_grad(discriminator, True)
    optimizer.zero_grad(set_to_none=True)
    with autocast:
        real_logits, fake_logits = judge(discriminator, real, fake.detach())
    loss = relativistic_d_loss(real_logits, fake_logits)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
    else:
        loss.backward()
        optimizer.step()
    return {
        "d_loss": loss.detach(),
        "d_real": real_logits.detach().mean(),
        "d_fake": fake_logits.detach().mean(),
    }


def ema_decay_at(decay: float, updates: int) -> float:
    """The EMA decay after `updates` updates: min(decay, (1 + n) / (10 + n)), TensorFlow's
    ExponentialMovingAverage warm-up, so a short run's average does not keep the initial weights."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * model for parameters; buffers are copied, not averaged.

    One multi-tensor lerp instead of a kernel launch per parameter (RRDBNet has hundreds); on CPU
    torch runs it as the same per-tensor lerp_, so the weights are bit-identical to a loop of lerp_."""
    ema_params = list(ema.parameters())
    params = [param.detach().to(ema_param.dtype) for ema_param, param in zip(ema_params, model.parameters())]
    if ema_params:
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    ema_buffers = list(ema.buffers())
    if ema_buffers:
        torch._foreach_copy_(ema_buffers, list(model.buffers()))


@torch.no_grad()
def interpolate_state(psnr: dict[str, torch.Tensor], gan: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """ESRGAN's network interpolation: (1 - alpha) * PSNR weights + alpha * GAN weights, in float32,
    trading the PSNR model's fidelity against the GAN model's texture without retraining."""
    if psnr.keys() != gan.keys():
        raise ValueError("cannot interpolate generators with different architectures")
    return {
        key: ((1.0 - alpha) * psnr[key].float() + alpha * gan[key].float()).to(psnr[key].dtype)
        if psnr[key].is_floating_point()
        else gan[key].clone()
        for key in psnr
    }
