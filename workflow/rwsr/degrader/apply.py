"""Run a trained DSGAN generator on images of any size.

The pairs stage calls `load_degrader` once and `degrade_pixels` per image. Large images go
through in tiles, each with `tile_pad` pixels of real neighbouring context that are cut off
again, so memory stays bounded and no seams appear where the context covers the generator's
receptive field (17 pixels for the paper's 8 blocks).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from rwsr.device import resolve_device
from rwsr.errors import InputError
from rwsr.io.images import discover_images, read_image, to_array, to_tensor, write_image
from rwsr.nn.tiling import run_tiled

log = logging.getLogger(__name__)


def read_degrader_checkpoint(path: str | Path) -> dict:
    """The checkpoint of `rwsr train-degrader` at `path`, or a clear error."""
    from rwsr.degrader.train import CHECKPOINT_KIND
    from rwsr.train.checkpoint import load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise InputError(f"degrader model not found: {path}")
    try:
        state = load_checkpoint(path)
    except Exception as error:  # truncated or foreign files fail in many ways inside torch.load
        raise InputError(f"cannot read degrader model {path}: {error}") from error
    if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
        raise InputError(f"{path} is not a DSGAN degrader checkpoint written by `rwsr train-degrader`")
    bad = sum(int((~torch.isfinite(v)).sum()) for v in state["generator"].values() if v.is_floating_point())
    if bad:
        raise InputError(f"degrader model {path} holds {bad} NaN or infinite weights: its training diverged; "
                         "lower config key 'degrader.lr' and train it again")  # fmt: skip
    return state


def trained_input_domain(path: str | Path) -> str:
    """What the degrader was trained to degrade: kernel (pool-blurred) or bicubic clean LR
    (checkpoints from before the choice existed were all trained on bicubic LR)."""
    return read_degrader_checkpoint(path).get("input_domain", "bicubic")


def load_degrader(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The generator of a `rwsr train-degrader` checkpoint, rebuilt from the architecture stored
    in it, on `device`, in eval mode and without gradients."""
    from rwsr.degrader.train import build_generator

    state = read_degrader_checkpoint(path)
    device = resolve_device(device) if isinstance(device, str) else device
    generator = build_generator(state["architecture"])
    generator.load_state_dict(state["generator"])
    generator.residual_scale = float((state.get("selection") or {}).get("residual_scale", 1.0))
    generator.requires_grad_(False)
    return generator.to(device).eval()


def degrade_pixels(
    generator: torch.nn.Module,
    pixels: np.ndarray,
    device: str | torch.device = "cpu",
    tile: int = 512,
    tile_pad: int = 16,
) -> np.ndarray:
    """Degrade one HxWx3 float32 [0, 1] image; returns the same size, clipped to [0, 1]."""
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {pixels.shape}")
    if tile < 1 or tile_pad < 0:
        raise ValueError(f"tile must be positive and tile_pad non-negative, got {tile} and {tile_pad}")
    device = resolve_device(device) if isinstance(device, str) else device
    result = run_tiled(generator, to_tensor(pixels).to(device), scale=1, tile=tile, tile_pad=tile_pad)
    return to_array(result.clamp(0, 1))


# Below this peak-to-peak range (half an 8-bit level) an output image is one flat colour.
FLAT_RANGE = 0.5 / 255


def check_degrader_output(pixels: np.ndarray | torch.Tensor, path: str | Path, source: np.ndarray | None = None) -> None:
    """Refuse a degrader output that is NaN/infinite anywhere, or one flat colour (a broken degrader
    writes all-black images otherwise). `path` names the image in the message; `source`, when
    given, is the image that went in: a flat input may give a flat output."""
    values = pixels.detach().float().cpu().numpy() if isinstance(pixels, torch.Tensor) else np.asarray(pixels)
    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if bad:
        raise InputError(f"the degrader's output for {path} has {bad} NaN or infinite values: the degrader model is "
                         "broken (its training diverged?); lower config key 'degrader.lr' and train it again")  # fmt: skip
    flat_input = source is not None and np.ptp(source) < FLAT_RANGE
    if values.size and np.ptp(values) < FLAT_RANGE and not flat_input:
        raise InputError(f"the degrader's output for {path} is one flat colour (value {values.flat[0]:.4g}) for an "
                         "image that is not: the degrader model is broken; check its sample grid and training log, "
                         "lower config key 'degrader.lr' and train it again")  # fmt: skip


def degrade_folder(model: str | Path, input_dir: str | Path, output_dir: str | Path, device: str = "auto",
                   tile: int = 512, tile_pad: int = 16) -> list[Path]:  # fmt: skip
    """Degrade every image of a folder into `<output_dir>/<stem>.png` (8-bit, or 16-bit for 16-bit inputs)."""
    torch_device = resolve_device(device)
    generator = load_degrader(model, torch_device)
    written = []
    for stem, path in discover_images(input_dir, "images to degrade").items():
        image = read_image(path)
        target = Path(output_dir) / f"{stem}.png"
        degraded = degrade_pixels(generator, image.pixels, torch_device, tile, tile_pad)
        check_degrader_output(degraded, path, source=image.pixels)
        write_image(target, degraded, bit_depth=16 if image.bit_depth > 8 else 8)
        written.append(target)
        log.info("degraded %s -> %s", path, target)
    return written
