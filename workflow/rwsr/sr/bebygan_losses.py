"""BebyGAN's losses (Li et al., "Best-Buddy GANs for Highly Detailed Image Super-Resolution", AAAI 2022).

- Best-buddy loss: SR is one of many plausible answers, so each SR patch is supervised by the
  HR patch ("buddy") it is already closest to among candidates from an HR pyramid, provided that
  candidate is also close to the co-located HR patch. One-to-many supervision, without the
  blurring average an L1 to the single ground truth pulls towards.
- Back-projection loss: the SR image, downscaled again, must give back the LR input.
- Region-aware adversarial learning: flat regions (low local standard deviation) get no GAN
  loss, so the generator does not invent texture on sky and walls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rwsr.ops.resize import imresize

# Rows of the SR-patch x candidate score matrix computed at once: bounds memory to
# CHUNK x candidates floats per image instead of the dense matrix (0.7 GB for 8 crops of 192 px).
CHUNK = 1024


def full_precision(tensor: torch.Tensor) -> torch.autocast:
    """Autocast off: these losses compare near-identical patches and pixels, which bf16/fp16
    matmuls (bmm, and the einsum inside imresize) would blur."""
    return torch.autocast(tensor.device.type, enabled=False)


def unfold_patches(images: torch.Tensor, size: int = 3, stride: int = 3) -> torch.Tensor:
    """B x C x H x W -> B x N x (C*size*size): non-overlapping patches as rows."""
    return F.unfold(images, kernel_size=size, stride=stride).transpose(1, 2)


def candidate_patches(hr: torch.Tensor, size: int = 3, stride: int = 3, levels: int = 3) -> torch.Tensor:
    """Patches of HR at 1, 1/2 and 1/4 scale (MATLAB bicubic), stacked as one candidate set per image."""
    pyramid = [hr] + [imresize(hr, 0.5**level) for level in range(1, levels)]
    return torch.cat([unfold_patches(level, size, stride) for level in pyramid], dim=1)


def best_buddies(sr: torch.Tensor, hr: torch.Tensor, alpha: float = 1.0, beta: float = 1.0,
                 size: int = 3, stride: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(SR patches, chosen buddy patches, chosen candidate indices).

    The buddy of SR patch i minimises alpha*||sr_i - g||^2 + beta*||hr_i - g||^2 over the
    candidates g. Scores are computed in float32 with autocast off (bf16 cannot tell near-identical
    patches apart) and without gradient: the choice is a selection, the loss flows through the L1
    afterwards.
    """
    with full_precision(sr):
        sr_patches = unfold_patches(sr.float(), size, stride)
        with torch.no_grad():
            hr32 = hr.float()
            candidates = candidate_patches(hr32, size, stride)
            # alpha*||s - g||^2 + beta*||h - g||^2 = (alpha + beta)*||g||^2 - 2 g.(alpha*s + beta*h) + terms
            # that do not depend on g: one matrix product per chunk instead of two distance matrices
            # and their temporaries (a quarter of the peak memory: bench/bench_sr.py).
            targets = alpha * sr_patches.detach() + beta * unfold_patches(hr32, size, stride)
            norms = ((alpha + beta) * candidates.pow(2).sum(-1)).unsqueeze(1)
            chosen = [
                torch.baddbmm(norms, targets[:, start : start + CHUNK], candidates.transpose(1, 2), alpha=-2.0).argmin(dim=2)
                for start in range(0, targets.shape[1], CHUNK)
            ]
            index = torch.cat(chosen, dim=1)
        buddies = torch.gather(candidates, 1, index.unsqueeze(-1).expand(-1, -1, candidates.shape[-1]))
    return sr_patches, buddies, index


def best_buddy_loss(sr: torch.Tensor, hr: torch.Tensor, alpha: float = 1.0, beta: float = 1.0) -> torch.Tensor:
    """L1 between every SR patch and its best buddy."""
    sr_patches, buddies, _ = best_buddies(sr, hr, alpha, beta)
    return F.l1_loss(sr_patches, buddies)


def back_projection_loss(sr: torch.Tensor, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """L1 between the MATLAB-bicubic downscale of SR and the LR input."""
    with full_precision(sr):
        return F.l1_loss(imresize(sr.float(), 1.0 / scale), lr.float())


def luminance(images: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of RGB in [0, 1], B x 1 x H x W."""
    weights = images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def textured_mask(lr: torch.Tensor, scale: int, window: int = 11, threshold: float = 0.025) -> torch.Tensor:
    """1 where the bicubic-upscaled LR luminance has a local (window x window) standard deviation of
    at least `threshold` (textured), 0 in flat regions; B x 1 x sH x sW, no gradient."""
    with torch.no_grad(), full_precision(lr):
        luma = luminance(imresize(lr.float(), float(scale)))
        pad = window // 2
        mean = F.avg_pool2d(luma, window, stride=1, padding=pad, count_include_pad=False)
        mean_sq = F.avg_pool2d(luma * luma, window, stride=1, padding=pad, count_include_pad=False)
        std = (mean_sq - mean * mean).clamp_min(0.0).sqrt()
        return (std >= threshold).to(lr.dtype)
