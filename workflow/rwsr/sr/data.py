"""Training pairs for the SR stage, held in memory, and aligned random crops with flips/rot90.

A pair set is a folder with `lr/` and `hr/` holding images of the same stems, each HR exactly
`scale` times its LR. Every file is decoded once; 8-bit images are kept as uint8 (a quarter of
float32's memory, lossless for the PNGs the pairs stage writes), others as float32.
Crops are drawn from a generator seeded by (seed, rank, step), so a resumed or distributed run
draws exactly the batches it would have drawn without needing any saved sampler state. A batch is
gathered into one buffer and converted to float for the whole batch at once, into page-locked
memory when the pair set is held for a CUDA run (`PairSet.pin`), so the copy to the device can
overlap the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rwsr.errors import InputError
from rwsr.io.images import discover_images, read_image


@dataclass(frozen=True)
class PairSet:
    """LR/HR images as CHW tensors (uint8 or float32), in stem order. `pin`: batches come in
    page-locked memory, for a non-blocking copy to a CUDA device (pinning costs time on CPU runs)."""

    stems: tuple[str, ...]
    lr: tuple[torch.Tensor, ...]
    hr: tuple[torch.Tensor, ...]
    scale: int
    pin: bool = False


def _pack(pixels: np.ndarray, bit_depth: int) -> torch.Tensor:
    chw = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
    return (chw * 255.0).round_().to(torch.uint8) if bit_depth == 8 else chw.float()


def _unpack(chw: torch.Tensor) -> torch.Tensor:
    return chw.float().div_(255.0) if chw.dtype == torch.uint8 else chw.float()


def load_pairs(lr_dir: str | Path, hr_dir: str | Path, scale: int, min_lr_side: int = 1) -> PairSet:
    """Read every LR/HR pair; a missing partner or a size that is not `scale` times is an InputError."""
    lr_files = discover_images(lr_dir, "LR images of the pair set")
    hr_files = discover_images(hr_dir, "HR images of the pair set")
    if lr_files.keys() != hr_files.keys():
        only_lr = sorted(lr_files.keys() - hr_files.keys())
        only_hr = sorted(hr_files.keys() - lr_files.keys())
        raise InputError(f"pair set {lr_dir} / {hr_dir}: unmatched images (LR only: {only_lr}, HR only: {only_hr})")
    stems = tuple(sorted(lr_files))
    lrs, hrs = [], []
    for stem in stems:
        lr = read_image(lr_files[stem], min_side=min_lr_side)
        hr = read_image(hr_files[stem])
        (lh, lw), (hh, hw) = lr.pixels.shape[:2], hr.pixels.shape[:2]
        if (hh, hw) != (lh * scale, lw * scale):
            raise InputError(
                f"pair {stem!r}: HR {hr_files[stem]} is {hw}x{hh} but LR {lr_files[stem]} is {lw}x{lh}; "
                f"HR must be exactly scale={scale} times LR (config key 'scale')"
            )
        lrs.append(_pack(lr.pixels, lr.bit_depth))
        hrs.append(_pack(hr.pixels, hr.bit_depth))
    return PairSet(stems, tuple(lrs), tuple(hrs), scale)


def load_pair_folder(folder: str | Path, scale: int, min_lr_side: int = 1) -> PairSet:
    folder = Path(folder)
    return load_pairs(folder / "lr", folder / "hr", scale, min_lr_side)


def check_crop(pairs: PairSet, hr_crop: int, config_key: str = "sr.crop") -> None:
    if hr_crop % pairs.scale:
        raise InputError(f"config key '{config_key}' is {hr_crop}, not a multiple of scale {pairs.scale}")
    lr_crop = hr_crop // pairs.scale
    small = [stem for stem, lr in zip(pairs.stems, pairs.lr) if min(lr.shape[1:]) < lr_crop]
    if small:
        raise InputError(
            f"config key '{config_key}' is {hr_crop} (LR crop {lr_crop}) but these LR images are smaller: "
            f"{', '.join(small)}; lower the crop"
        )


def crop_batch(
    pairs: PairSet, batch: int, hr_crop: int, seed: int, step: int, rank: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch` aligned random crops (LR crop = hr_crop / scale) with random flips and rot90.

    The HR window starts at `scale` times the LR window, so LR pixel i keeps covering HR pixels
    s*i .. s*i+s-1. The draws (image, top, left, three flips per crop, in that order) are those of
    a crop-by-crop loop, so a seed gives the same batches as it always has."""
    rng = np.random.default_rng([seed, rank, step])
    s, lr_crop = pairs.scale, hr_crop // pairs.scale
    indices = rng.integers(len(pairs.stems), size=batch)
    corners, flips = [], []
    for index in indices:
        lr = pairs.lr[index]
        top = int(rng.integers(lr.shape[1] - lr_crop + 1))
        left = int(rng.integers(lr.shape[2] - lr_crop + 1))
        corners.append((top, left))
        flips.append(rng.random(3) < 0.5)
    hr_corners = [(s * top, s * left) for top, left in corners]
    return (_gather(pairs.lr, indices, corners, flips, lr_crop, pairs.pin),
            _gather(pairs.hr, indices, hr_corners, flips, hr_crop, pairs.pin))  # fmt: skip


def _gather(images: tuple[torch.Tensor, ...], indices: np.ndarray, corners: list[tuple[int, int]],
            flips: list[np.ndarray], side: int, pin: bool) -> torch.Tensor:  # fmt: skip
    """The oriented square windows as one float32 batch in [0, 1]. 8-bit windows are gathered as
    uint8 (a quarter of the bytes to move) and converted and scaled once, for the whole batch."""
    eight_bit = all(images[index].dtype == torch.uint8 for index in indices)
    raw = torch.empty((len(indices), images[0].shape[0], side, side), dtype=torch.uint8 if eight_bit else torch.float32)
    for row, (index, (top, left), (hflip, vflip, transpose)) in enumerate(zip(indices, corners, flips)):
        window = images[index][:, top : top + side, left : left + side]
        dims = [d for d, flag in ((2, hflip), (1, vflip)) if flag]
        if dims:
            window = window.flip(dims)
        if transpose:  # with the flips, this gives all eight rotations/reflections
            window = window.transpose(1, 2)
        raw[row] = window if eight_bit else _unpack(window)
    out = torch.empty(raw.shape, pin_memory=pin)  # page-locked: the copy to a CUDA device need not wait
    out.copy_(raw)
    return out.div_(255.0) if eight_bit else out


def full_images(pairs: PairSet, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pair `index` as 1x3xHxW float32 tensors (for validation)."""
    return _unpack(pairs.lr[index]).unsqueeze(0), _unpack(pairs.hr[index]).unsqueeze(0)
