"""Image files in, image files out.

Inside rwsr an image is RGB float32 in [0, 1]: HxWx3 numpy arrays here, NCHW tensors in the
networks (`to_tensor` / `to_array`). Every conversion from what is on disk (grayscale, alpha,
16-bit, palette) happens once, in `read_image`, and is reported, never silent.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from rwsr.errors import InputError
from rwsr.io.atomic import atomic_path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


class ImageError(InputError):
    """A bad input image or folder; the message names the file."""


@dataclass
class Image:
    """Pixels of one file plus what was done to them on the way in."""

    path: Path
    pixels: np.ndarray  # HxWx3 float32 RGB in [0, 1]
    bit_depth: int
    notes: list[str] = field(default_factory=list)


# Characters an image name cannot hold: braces are Snakemake's wildcard syntax in file names, and
# control characters (a newline...) break logs and tables. Spaces, quotes, unicode and other shell
# characters are fine: every rule quotes its paths.
UNUSABLE_NAME_CHARACTERS = re.compile(r"[{}\x00-\x1f\x7f]")


def name_problem(name: str) -> str | None:
    """Why an image file name cannot go through the pipeline, or None."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    bad = sorted(set(UNUSABLE_NAME_CHARACTERS.findall(name)))
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"it contains {shown} (braces are Snakemake wildcard syntax; control characters break logs)"
    return None


def skipped_entries(folder: str | Path) -> list[tuple[Path, str]]:
    """Image-named entries of `folder` that are not readable files: dangling or looping symlinks.
    Discovery skips them; the data stage reports them in the log and its manifests."""
    skipped = []
    for path in sorted(Path(folder).iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_symlink():
            continue
        try:
            path.stat()
        except OSError as error:
            kind = "a symlink loop" if error.errno == errno.ELOOP else f"a dangling symlink to {os.readlink(path)}"
            skipped.append((path, f"skipped: {kind}"))
    return skipped


def discover_images(folder: str | Path, what: str = "image folder") -> dict[str, Path]:
    """Map stem -> file for the images directly inside `folder` (any letter case of the
    known suffixes). Stems become Snakemake wildcards, so two files sharing one are an error,
    and so is a name the pipeline cannot carry (`name_problem`). Broken symlinks are skipped
    with a warning (`skipped_entries`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{what}: folder not found: {folder}")
    found: dict[str, Path] = {}
    bad_names = []
    try:
        entries = sorted(folder.iterdir())
    except PermissionError as error:
        raise ImageError(f"{what}: cannot list {folder}: permission denied") from error
    for path in entries:
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        problem = name_problem(path.name)
        if problem:
            bad_names.append(f"{path}: {problem}")
            continue
        if path.stem in found:
            raise ImageError(
                f"{what}: duplicate image name {path.stem!r}: {found[path.stem]} and {path}; rename one of them"
            )
        found[path.stem] = path
    if bad_names:
        raise ImageError(f"{what}: {len(bad_names)} file name(s) cannot be used; rename them:\n  " + "\n  ".join(bad_names))
    for path, reason in skipped_entries(folder):
        log.warning("%s: %s %s", what, path, reason)
    if not found:
        raise ImageError(
            f"{what}: no images in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))} in any letter case)"
        )
    return found


def read_image(path: str | Path, min_side: int = 1) -> Image:
    """Read any supported file as RGB float32, converting grayscale, alpha and 16-bit with a note."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    try:  # cv2.imread says None for an unreadable file as for a corrupt one
        os.close(os.open(path, os.O_RDONLY))
    except PermissionError as error:
        raise ImageError(f"cannot read image {path}: permission denied") from error
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if raw is None or raw.size == 0:
        raise ImageError(f"cannot decode image {path}: the file is corrupt or not an image")
    notes: list[str] = []
    if raw.dtype == np.uint8:
        bit_depth, pixels = 8, raw.astype(np.float32) / 255.0
    elif raw.dtype == np.uint16:
        bit_depth, pixels = 16, raw.astype(np.float32) / 65535.0
        notes.append("16-bit image read at full precision")
    elif raw.dtype in (np.float32, np.float64):
        bit_depth, pixels = 32, raw.astype(np.float32)
        if pixels.min() < 0 or pixels.max() > 1:
            notes.append(f"float image clipped to [0, 1] (range was {pixels.min():.3g}..{pixels.max():.3g})")
            pixels = np.clip(pixels, 0.0, 1.0)
    else:
        raise ImageError(f"unsupported pixel type {raw.dtype} in {path}")

    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    channels = pixels.shape[2]
    if channels in (2, 4):  # gray+alpha or BGRA: composite over white, as viewers show it
        alpha = pixels[:, :, -1:]
        if alpha.min() < 1.0:
            notes.append("transparent pixels composited over white")
        else:
            notes.append("opaque alpha channel dropped")
        pixels = pixels[:, :, :-1] * alpha + (1.0 - alpha)
        channels -= 1
    if channels == 1:
        notes.append("grayscale converted to RGB")
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels == 3:
        pixels = pixels[:, :, ::-1]  # OpenCV's BGR -> RGB
    else:
        raise ImageError(f"unsupported channel count {pixels.shape[2]} in {path}")

    height, width = pixels.shape[:2]
    if min(height, width) < min_side:
        raise ImageError(f"image {path} is too small: {width}x{height} pixels, need at least {min_side} on each side")
    return Image(path, np.ascontiguousarray(pixels, dtype=np.float32), bit_depth, notes)


def write_image(path: str | Path, pixels: np.ndarray | torch.Tensor, bit_depth: int = 8, jpeg_quality: int = 95) -> None:
    """Write RGB [0, 1] pixels atomically; the suffix picks the format (PNG may be 16-bit)."""
    if isinstance(pixels, torch.Tensor):
        pixels = to_array(pixels)
    path = Path(path)
    pixels = np.asarray(pixels, dtype=np.float32)
    finite = np.isfinite(pixels)
    if not finite.all():
        # Casting would turn NaN into black: a diverged network's output must not pass for an image.
        raise ImageError(f"refusing to write image {path}: {pixels.size - np.count_nonzero(finite)} of its "
                         f"{pixels.size} pixel values are NaN or infinite (a diverged or broken model?)")  # fmt: skip
    scale, dtype = (65535.0, np.uint16) if bit_depth == 16 else (255.0, np.uint8)
    data = np.clip(np.rint(pixels * scale), 0, scale).astype(dtype)
    data = np.ascontiguousarray(data[:, :, ::-1])
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    # Encode in memory and write the bytes from Python: cv2.imwrite only says False, never why.
    ok, encoded = cv2.imencode(path.suffix, data, params)
    if not ok:
        raise ImageError(f"cannot encode image {path} as {path.suffix}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """HxWx3 array -> 1x3xHxW float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_array(tensor: torch.Tensor) -> np.ndarray:
    """1x3xHxW or 3xHxW tensor -> HxWx3 float32 array."""
    if tensor.dim() == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {tensor.shape[0]}")
        tensor = tensor[0]
    return tensor.detach().float().cpu().permute(1, 2, 0).numpy()
