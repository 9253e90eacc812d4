"""The evaluate stage: FID on fixed random crops, PSNR/SSIM on Y, the score table results/fid.csv.

Kept free of heavy imports: the Snakefile calls `reference_folders` while it builds the DAG.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rwsr.errors import InputError

# The row kinds of results/fid.csv, floor to ceiling: plain bicubic upscaling, the SR model trained
# on clean bicubic pairs (what users have without rwsr), on the pipeline's realistic pairs, and on
# pairs with the true hidden degradation (only when it is known, as in the demo).
VARIANTS = ("bicubic-upscale", "bicubic-pairs", "pipeline", "oracle-pairs")
# Which generator of a training made a row's outputs: the PSNR phase's, the final (GAN) one, or
# none (bicubic upscaling).
GENERATORS = ("psnr", "final", "none")


def reference_folders(config: Mapping[str, Any], data_root: str | Path = "results/data") -> list[Path]:
    """The folders of config key evaluate.reference. `auto` is the validation ground truth val_hr
    whenever data.val_hr is set, the training HR set hr only when there is none: validation outputs
    compared with training scenes would score well for carrying the training statistics over.
    A list names the sets, skipping val_hr when data.val_hr is null."""
    chosen = config["evaluate"]["reference"]
    if chosen == "auto":
        names = ["val_hr" if config["data"]["val_hr"] is not None else "hr"]
    else:
        names = [name for name in chosen if config["data"][name] is not None]
    if not names:
        raise InputError(
            "config key 'evaluate.reference' names no available set (val_hr is null in data.val_hr); add hr or use auto"
        )
    return [Path(data_root) / name for name in names]
