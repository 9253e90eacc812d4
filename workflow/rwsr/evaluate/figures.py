"""Report figures that a person can read: every panel labelled, pixels enlarged without smoothing.

- `kernel_figure`: each real LR image's estimated kernel, beside the hidden true kernel when it is
  known (the demo), titled with the kernel error from the pairs stage's fidelity.csv.
- `degradation_figure`: crops of the real LR photos next to clean LR, synthesized LR (and, when
  known, the true degradation's LR) of the same HR tiles, with the fidelity numbers that compare
  them: what the SR model is trained on, beside what it will be asked to restore.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rwsr.errors import InputError
from rwsr.io.atomic import atomic_path
from rwsr.io.images import discover_images, read_image

# 100 dpi: a figure `FIGURE_WIDTH` inches wide is 1200 px, over the report's 512 px floor.
DPI = 100
FIGURE_WIDTH = 12
# fidelity.csv quantities shown under the degradation crops, in this order.
FIDELITY_LINES = ("noise_sigma", "high_frequency_energy", "colour_shift", "jpeg_quality", "kernel_error_mean")


def pyplot():
    """matplotlib's pyplot on the Agg backend: jobs run headless (cluster nodes, CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, out: str | Path, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> None:
    """Write a matplotlib figure as PNG, atomically, and free it; `rect` is the part tight_layout fills."""
    plt = pyplot()
    figure.tight_layout(rect=rect)
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    plt.close(figure)


def read_fidelity(path: str | Path | None) -> dict[str, dict[str, str]]:
    """quantity -> row of a pairs stage fidelity.csv; empty when no file is given."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise InputError(f"report figure: fidelity table not found: {path}")
    with path.open(newline="") as handle:
        return {row["quantity"]: row for row in csv.DictReader(handle)}


def _show(ax, pixels: np.ndarray, title: str | None, name: str | None = None) -> None:
    """One panel: pixels enlarged without smoothing, a title above and an image name below."""
    ax.imshow(np.clip(pixels, 0, 1), interpolation="nearest", cmap="viridis" if pixels.ndim == 2 else None)
    if title:
        ax.set_title(title, fontsize=10)
    if name:
        ax.set_xlabel(name, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def kernel_figure(kernels: Sequence[str | Path], labels: Sequence[str], out: str | Path,
                  true_kernels_table: str | Path | None = None, fidelity: str | Path | None = None) -> None:  # fmt: skip
    """One column per image: its estimated kernel, and below it the true kernel when the demo's
    degradations table is given (build_demo keeps the kernels beside it)."""
    from rwsr.data.demo import hidden_kernel_path

    if not kernels or len(labels) != len(kernels):
        raise InputError(f"report-kernels: {len(kernels)} files in --kernels but {len(labels)} names in --labels")
    missing = [str(path) for path in kernels if not Path(path).is_file()]
    if true_kernels_table is not None:
        missing += [str(hidden_kernel_path(true_kernels_table, label)) for label in labels
                    if not hidden_kernel_path(true_kernels_table, label).is_file()]  # fmt: skip
    if missing:
        raise InputError(f"report-kernels: kernel file not found: {missing[0]}")
    estimated = [np.load(path) for path in kernels]
    truth = None
    if true_kernels_table is not None:
        truth = [np.load(hidden_kernel_path(true_kernels_table, label)) for label in labels]
    errors = read_fidelity(fidelity)
    rows = 1 if truth is None else 2
    plt = pyplot()
    figure, axes = plt.subplots(rows, len(kernels), figsize=(FIGURE_WIDTH, 1.2 + 2.4 * rows), squeeze=False)
    for col, (label, kernel) in enumerate(zip(labels, estimated)):
        error = errors.get(f"kernel_error:{label}", {}).get("synthesized")
        share = errors.get(f"kernel_draw_share:{label}", {}).get("synthesized")
        suffix = (f"\nerror {float(error):.2f}" if error else "") + (f"\ndrawn {float(share):.0%}" if share else "")
        _show(axes[0, col], kernel / kernel.max(), f"{label}\nestimated{suffix}")
        if truth is not None:
            _show(axes[1, col], truth[col] / truth[col].max(), f"{label}\ntrue (hidden)")
    figure.suptitle("Estimated blur kernels (each scaled to its peak)" + (": estimated above, true below" if truth else ""))
    save_figure(figure, out)


def _centre_crop(pixels: np.ndarray, side: int) -> np.ndarray:
    top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
    return pixels[top : top + side, left : left + side]


def degradation_figure(real_lr: str | Path, columns: Sequence[tuple[str, str | Path]], out: str | Path,
                       fidelity: str | Path | None = None, count: int = 3, crop: int = 48) -> None:  # fmt: skip
    """`count` lines: a real LR photo's centre crop, then the same LR tile from each pair set in
    `columns` (label, folder of LR tiles with the same names), all `crop` LR pixels square; the
    fidelity numbers below."""
    if not columns:
        raise InputError("report-degradation: --lr names no folder")
    photos = discover_images(real_lr, "report-degradation --real-lr folder")
    tiles = [discover_images(folder, f"report-degradation folder for {label!r}") for label, folder in columns]
    names = sorted(tiles[0])[:count]
    for (label, folder), found in zip(columns, tiles):
        missing = [name for name in names if name not in found]
        if missing:
            raise InputError(f"report-degradation: {folder} ({label}) has no tile named {missing[0]!r}")
    photo_names = sorted(photos)
    lines = len(names)
    plt = pyplot()
    figure, axes = plt.subplots(lines, 1 + len(columns), squeeze=False,
                                figsize=(FIGURE_WIDTH, 1.4 + lines * (0.4 + FIGURE_WIDTH / (1 + len(columns)))))  # fmt: skip
    for line, name in enumerate(names):
        photo = photo_names[line % len(photo_names)]
        real = read_image(photos[photo]).pixels
        images = [read_image(found[name]).pixels for found in tiles]
        side = min(crop, *(min(image.shape[:2]) for image in [real, *images]))
        _show(axes[line, 0], _centre_crop(real, side), "real LR" if line == 0 else None, photo)
        for col, ((label, _), image) in enumerate(zip(columns, images), start=1):
            _show(axes[line, col], _centre_crop(image, side), label if line == 0 else None, name)
    figure.text(0.5, 0.005, fidelity_summary(read_fidelity(fidelity)), ha="center", va="bottom", fontsize=10,
                family="monospace")  # fmt: skip
    figure.suptitle(f"LR crops, {side} x {side} pixels each, shown without smoothing")
    save_figure(figure, out, rect=(0, 0.08, 1, 0.97))


def fidelity_summary(rows: dict[str, dict[str, str]]) -> str:
    """The fidelity numbers in a line or two: synthesized against real (ratio)."""
    parts = []
    for quantity in FIDELITY_LINES:
        row = rows.get(quantity)
        if row is None:
            continue
        text = f"{quantity}: synthesized {float(row['synthesized']):.4g}"
        if row.get("real"):
            text += f" vs real {float(row['real']):.4g}"
        if row.get("ratio"):
            text += f" (x{float(row['ratio']):.2f})"
        parts.append(text)
    return "\n".join(parts) if parts else "no fidelity table given"
