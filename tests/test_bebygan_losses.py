"""BebyGAN's best-buddy and back-projection losses and its flat-region mask."""

from __future__ import annotations

import torch

from rwsr.ops.resize import imresize
from rwsr.sr import bebygan_losses
from rwsr.sr.bebygan_losses import (
    back_projection_loss,
    best_buddies,
    best_buddy_loss,
    candidate_patches,
    textured_mask,
    unfold_patches,
)


def test_sr_equal_to_hr_costs_nothing_and_picks_the_co_located_patch():
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 24, 24)
    _, _, index = best_buddies(hr.clone(), hr)
    patches_per_image = (24 // 3) ** 2
    assert torch.equal(index, torch.arange(patches_per_image).expand(2, -1))
    assert best_buddy_loss(hr.clone(), hr).item() == 0.0


def test_a_better_matching_pyramid_candidate_is_chosen():
    """SR patch 0 equals a patch of the 1/2-scale HR: with alpha >> beta it takes that buddy,
    not its co-located HR patch."""
    torch.manual_seed(1)
    hr = torch.rand(1, 3, 24, 24)
    candidates = candidate_patches(hr)
    target_index = 64 + 5  # the sixth patch of the half-scale level (64 full-scale patches come first)
    sr = hr.clone()
    sr[:, :, 0:3, 0:3] = candidates[0, target_index].view(3, 3, 3)
    _, buddies, index = best_buddies(sr, hr, alpha=1.0, beta=0.01)
    assert index[0, 0].item() == target_index
    assert torch.allclose(buddies[0, 0], unfold_patches(sr)[0, 0])
    assert best_buddy_loss(sr, hr, alpha=1.0, beta=0.01).item() < 1e-6


def test_chunked_choice_equals_the_dense_choice(monkeypatch):
    torch.manual_seed(2)
    hr, sr = torch.rand(2, 3, 48, 48), torch.rand(2, 3, 48, 48)
    dense = best_buddies(sr, hr)[2]
    monkeypatch.setattr(bebygan_losses, "CHUNK", 7)
    assert torch.equal(best_buddies(sr, hr)[2], dense)


def test_gradient_flows_to_sr_only_through_the_l1():
    hr = torch.rand(1, 3, 12, 12)
    sr = torch.rand(1, 3, 12, 12, requires_grad=True)
    best_buddy_loss(sr, hr).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0


def test_back_projection_is_zero_when_downscaled_sr_equals_lr():
    sr = torch.rand(1, 3, 32, 32)
    lr = imresize(sr, 0.25)
    assert back_projection_loss(sr, lr, 4).item() < 1e-7
    assert back_projection_loss(sr, lr + 0.1, 4).item() > 0.09


def test_mask_marks_flat_images_flat_and_strong_texture_textured():
    flat = torch.full((1, 3, 16, 16), 0.4)
    assert textured_mask(flat, 4).sum().item() == 0
    checker = (torch.arange(16).view(-1, 1) + torch.arange(16).view(1, -1)) % 2
    texture = checker.float().expand(1, 3, 16, 16).contiguous()
    mask = textured_mask(texture, 4)
    assert mask.shape == (1, 1, 64, 64) and mask.min().item() == 1.0
