"""The one progress bar every long stage shows (KernelGAN, DSGAN, SR training, upscaling, FID).

On a terminal it refreshes every second; when stderr is a Snakemake log file it writes a line only
every 30 s, so a long job's log shows progress without filling up with redraws.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def progress_bar(iterable: Iterable[Any] | None = None, *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """tqdm over `iterable` (or `total=` steps), quiet in log files; `enabled=False` shows nothing."""
    interval = 1.0 if sys.stderr.isatty() else 30.0
    return tqdm(iterable, disable=not enabled, dynamic_ncols=True, mininterval=interval, **kwargs)
