"""Generator files and inference: `rwsr upscale`, tiled or whole.

`rwsr upscale` takes one image or a folder and never writes over an input: into the input folder
only with --suffix, and an output that exists is kept unless --overwrite.

A generator file is one dict: {"arch": {"name", **constructor kwargs}, "state_dict", "meta"},
so the network can be rebuilt without the config that trained it.

Tiling (rwsr.nn.tiling) runs `tile` x `tile` LR pieces with `tile_pad` pixels of context: identical
to the untiled output (to float rounding) once `tile_pad` covers the receptive field, and below
1/255 with the default pad on the networks we train (tests/test_upscale.py checks both).
"""

from __future__ import annotations

import logging
import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from rwsr.errors import InputError
from rwsr.io.progress import progress_bar
from rwsr.io.images import IMAGE_SUFFIXES, discover_images, read_image, to_tensor, write_image
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


# --half: autocast dtypes on CUDA. CPU has no fast half convs, so --half there is an error, not a silent fp32 run.
HALF_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
# A 16-bit input keeps 16 bits where the output format holds them (a JPEG output name gets 8).
SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")


def plan_outputs(input_path: str | Path, output: str | Path, suffix: str = "") -> list[tuple[Path, Path]]:
    """(input image, output file) for each image to upscale. `input_path` is an image file or a folder;
    `output` is a folder (`<stem><suffix>.png` inside), or, for a file input, a file name with an image
    suffix. Refuses any plan that would write over an input or, without `suffix`, into the input folder."""
    input_path, output = Path(input_path), Path(output)
    if os.sep in suffix or (os.altsep and os.altsep in suffix):
        raise InputError(f"--suffix {suffix!r}: a suffix is part of a file name and cannot hold a path separator")
    if input_path.is_file():
        input_dir, sources = input_path.parent, {input_path.stem: input_path}
        explicit_file = output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir()
    elif input_path.is_dir():
        input_dir, sources = input_path, discover_images(input_path, "--input")
        explicit_file = False
    else:
        raise InputError(f"--input {input_path}: no such image file or folder")
    if explicit_file:
        plan = [(input_path, output)]
    else:
        in_place = output.resolve() == input_dir.resolve()
        if in_place and not suffix:
            raise InputError(f"--output {output} is the folder of the input images ({input_dir}): the outputs would "
                             f"take their names; pass --suffix (say --suffix _x4) or choose another --output folder")  # fmt: skip
        if in_place and input_path.is_dir():
            # Re-running into the input folder must not upscale the previous run's outputs again.
            earlier = [stem for stem in sources if stem.endswith(suffix)]
            for stem in earlier:
                log.info("not upscaling %s: its name ends with --suffix %s, so it is taken for an earlier output",
                         sources.pop(stem), suffix)  # fmt: skip
        plan = [(path, output / f"{stem}{suffix}.png") for stem, path in sources.items()]
    for _, target in plan:
        for other in sources.values():
            if _same_file(target, other):
                raise InputError(f"refusing to write {target}: it is the input image {other}; choose another --output "
                                 f"or --suffix")  # fmt: skip
    return plan


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)  # also catches hard links and symlinks
    return a.resolve() == b.resolve()


def autocast_for(device: torch.device, half: str | None) -> AbstractContextManager:
    """The inference autocast: none by default, fp16 or bf16 on CUDA with --half."""
    if half is None:
        return nullcontext()
    if device.type != "cuda":
        raise InputError(f"--half {half} needs a CUDA device, but the device is {device}; "
                         f"drop --half or pass --device cuda")  # fmt: skip
    return torch.autocast("cuda", dtype=HALF_DTYPES[half])


def upscale_images(
    model_path: str | Path, input_path: str | Path, output: str | Path, device: str = "auto", tile: int = 0,
    tile_pad: int = 16, suffix: str = "", overwrite: bool = False, half: str | None = None, progress: bool = True,
) -> list[Path]:  # fmt: skip
    """Super-resolve one image file or every image in a folder (see `plan_outputs` for where the
    outputs go); outputs that exist are skipped unless `overwrite`. Returns the files written."""
    from rwsr.device import resolve_device

    if tile < 0 or tile_pad < 0:
        raise InputError(f"--tile and --tile-pad must be >= 0 (got {tile}, {tile_pad})")
    plan = plan_outputs(input_path, output, suffix)
    try:
        torch_device = resolve_device(device)
    except RuntimeError as error:  # CUDA asked for but absent
        raise InputError(f"--device {device}: no CUDA device is available") from error
    autocast = autocast_for(torch_device, half)
    model, _ = load_generator(model_path, torch_device)
    written = []
    bar = progress_bar(plan, enabled=progress, desc=f"upscale x{model.scale}", unit="image")
    for source, target in bar:
        if target.exists() and not overwrite:
            log.info("skipping %s: %s exists (--overwrite replaces it)", source, target)
            continue
        image = read_image(source)
        sr = upscale_tensor(model, to_tensor(image.pixels).to(torch_device), model.scale, tile, tile_pad, autocast)
        deep = image.bit_depth == 16 and target.suffix.lower() in SIXTEEN_BIT_SUFFIXES
        write_image(target, sr.clamp(0, 1).cpu(), bit_depth=16 if deep else 8)
        written.append(target)
        log.info("upscaled %s -> %s (x%d)", source, target, model.scale)
    return written
