"""Pieces every `rwsr` subcommand shares: the --config argument and logging."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from rwsr.config import load_config


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=None,
        help="config YAML file, or inline JSON as Snakemake rules pass it (default: the schema's defaults)",
    )


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")


def set_threads(threads: int | None) -> None:
    """torch's CPU threads: a job that runs beside others (Snakemake's `threads:`) keeps to its
    share, since oversubscribed OpenMP threads spin instead of working."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The validated config, with --seed / --device / --scale flags (when a subcommand has them) on top."""
    overrides = {key: getattr(args, key) for key in ("seed", "device", "scale") if getattr(args, key, None) is not None}
    config = load_config(args.config)
    return load_config({**config, **overrides}) if overrides else config


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
