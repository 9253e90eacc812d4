"""Generator files and inference: `rwsr upscale`, tiled or whole.

A generator file is one dict: {"arch": {"name", **constructor kwargs}, "state_dict", "meta"},
so the network can be rebuilt without the config that trained it.

Tiling (rwsr.nn.tiling) runs `tile` x `tile` LR pieces with `tile_pad` pixels of context: identical
to the untiled output (to float rounding) once `tile_pad` covers the receptive field, and below
1/255 with the default pad on the networks we train (tests/test_upscale.py checks both).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from rwsr.errors import InputError
from rwsr.io.images import discover_images, read_image, to_tensor, write_image
from rwsr.nn.rrdbnet import RRDBNet
from rwsr.nn.tiling import run_tiled as upscale_tensor  # SR is tiled inference at the model's scale
from rwsr.train.checkpoint import load_checkpoint, save_checkpoint, unwrap

log = logging.getLogger(__name__)

GENERATORS: dict[str, type[nn.Module]] = {"rrdbnet": RRDBNet}


def save_generator(path: str | Path, model: nn.Module, meta: dict[str, Any] | None = None,
                   state_dict: dict[str, torch.Tensor] | None = None) -> None:  # fmt: skip
    """Atomically write a generator file; `state_dict` overrides the module's own weights."""
    model = unwrap(model)
    name = {cls: key for key, cls in GENERATORS.items()}[type(model)]
    state = state_dict if state_dict is not None else model.state_dict()
    save_checkpoint(
        path,
        {"arch": {"name": name, **model.arch}, "state_dict": {k: v.detach().cpu() for k, v in state.items()},
         "meta": dict(meta or {})},
    )  # fmt: skip


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network stored in a generator file, in eval mode on `device`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"generator file not found: {path}")
    try:
        state = load_checkpoint(path)
        arch = dict(state["arch"])
        model = GENERATORS[arch.pop("name")](**arch)
        model.load_state_dict(state["state_dict"])
    except Exception as error:  # a foreign file fails in many ways inside torch.load (UnpicklingError, ...)
        raise InputError(f"{path} is not an rwsr generator file written by `rwsr train-sr` "
                         f"({type(error).__name__}: {error})") from error  # fmt: skip
    return model.to(device).eval(), dict(state.get("meta", {}))


def upscale_folder(
    model_path: str | Path, input_dir: str | Path, output_dir: str | Path, device: str = "auto",
    tile: int = 0, tile_pad: int = 16,
) -> list[Path]:  # fmt: skip
    """Write `<output_dir>/<stem>.png` for every image in `input_dir`; returns the files written."""
    from rwsr.device import resolve_device

    if tile < 0 or tile_pad < 0:
        raise InputError(f"--tile and --tile-pad must be >= 0 (got {tile}, {tile_pad})")
    device = resolve_device(device)
    model, meta = load_generator(model_path, device)
    scale = model.scale
    written = []
    for stem, path in discover_images(input_dir, "images to upscale").items():
        image = read_image(path)
        sr = upscale_tensor(model, to_tensor(image.pixels).to(device), scale, tile, tile_pad)
        target = Path(output_dir) / f"{stem}.png"
        write_image(target, sr.clamp(0, 1).cpu(), bit_depth=16 if image.bit_depth == 16 else 8)
        written.append(target)
        log.info("upscaled %s -> %s (x%d)", path, target, scale)
    return written
