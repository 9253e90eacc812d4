"""Loss curves of every training log in one figure, for the report.

A collapsed discriminator or a KernelGAN run that never left its bicubic prior shows in the curves
long before it shows in FID. Each log is a `LossLog` CSV: a `step` column, then one column per
loss; text columns (the SR phase) and columns that are empty throughout are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from rwsr.errors import InputError
from rwsr.evaluate.figures import pyplot, save_figure

# Schedules, not losses: drawn on the same axes they would flatten the losses into a line.
NOT_LOSSES = ("step", "lr", "lambda_bicubic")


def read_loss_log(path: str | Path) -> pd.DataFrame:
    """The numeric loss columns of one log, indexed by step."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"plot-losses: loss log not found: {path}")
    try:
        table = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise InputError(f"plot-losses: {path} is not a loss log CSV: {error}") from error
    if "step" not in table.columns:
        raise InputError(f"plot-losses: {path} has no 'step' column (columns: {', '.join(map(str, table.columns))})")
    losses = table.drop(columns=[name for name in NOT_LOSSES if name in table.columns]).apply(
        pd.to_numeric, errors="coerce"
    )
    return losses.dropna(axis=1, how="all").set_index(table["step"])


def plot_losses(logs: Sequence[str | Path], labels: Sequence[str] | None, out: str | Path) -> None:
    """One subplot per log, one line per loss column over step; PNG written atomically."""
    if not logs:
        raise InputError("plot-losses: --logs names no file")
    labels = list(labels) if labels else [str(log) for log in logs]
    if len(labels) != len(logs):
        raise InputError(f"plot-losses: {len(logs)} files in --logs but {len(labels)} names in --labels")
    tables = [read_loss_log(log) for log in logs]

    plt = pyplot()
    figure, axes = plt.subplots(len(tables), 1, figsize=(8, 2.6 * len(tables)), squeeze=False)
    for ax, label, table in zip(axes[:, 0], labels, tables):
        for name in table.columns:
            series = table[name].dropna()
            ax.plot(series.index, series.values, label=name, linewidth=1)
        ax.set_title(label if len(table) else f"{label} (no rows)", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(table.columns):
            ax.legend(fontsize=7, ncol=4, loc="upper right")
    save_figure(figure, out)
