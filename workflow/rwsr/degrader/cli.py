"""`rwsr train-degrader` and `rwsr degrade` (config section `degrader`)."""

from __future__ import annotations

import argparse

from rwsr.cliutil import add_config_argument, add_threads_argument, config_from_args, set_threads
from rwsr.train.guards import StopSignals


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train-degrader", help="train the DSGAN degrader: clean LR (source) versus real LR (target), unpaired"
    )
    train.add_argument("--source", required=True,
                       help="folder of clean LR images of the kind the pairs stage degrades (degrader.source)")
    train.add_argument("--target", required=True, help="folder of real LR images whose degradation is to be learnt")
    train.add_argument("--out", required=True, help="model file to write, e.g. results/degrader/dsgan.pt")
    train.add_argument("--real-lr-manifest",
                       help="data manifest of the real LR set (results/data/real_lr.csv): its JPEG qualities for pairs.jpeg_quality "
                            "auto (default: read from the --target files)")
    train.add_argument("--log-csv", help="loss log CSV (default: log.csv beside --out)")
    train.add_argument("--samples", help="sample grid PNG, input | output | target (default: samples.png beside --out)")
    train.add_argument("--iterations", type=int, help="override config key degrader.iterations")
    train.add_argument("--crop", type=int, help="override config key degrader.crop")
    train.add_argument("--batch", type=int, help="override config key degrader.batch")
    train.add_argument("--device", help="override config key device (auto, cpu, cuda, cuda:N)")
    train.add_argument("--seed", type=int, help="override config key seed")
    add_threads_argument(train)
    add_config_argument(train)
    train.set_defaults(run=run_train)

    degrade = subparsers.add_parser("degrade", help="run a trained DSGAN degrader on a folder of images")
    degrade.add_argument("--model", required=True, help="model file written by train-degrader")
    degrade.add_argument("--input", required=True, help="folder of images")
    degrade.add_argument("--output", required=True, help="folder for the degraded images (<stem>.png)")
    degrade.add_argument("--tile", type=int, default=512, help="largest tile side run at once (default 512)")
    degrade.add_argument("--tile-pad", type=int, default=16, help="context pixels around each tile (default 16)")
    degrade.add_argument("--device", help="override config key device (auto, cpu, cuda, cuda:N)")
    add_threads_argument(degrade)
    add_config_argument(degrade)
    degrade.set_defaults(run=run_degrade)


def degrader_config(args: argparse.Namespace) -> dict:
    """The validated config with the command-line overrides of the degrader section applied
    (validated again, so `--crop 0` fails naming the config key like a bad config file would)."""
    from rwsr.config import load_config

    config = config_from_args(args)
    overrides = {key: getattr(args, key) for key in ("iterations", "crop", "batch") if getattr(args, key) is not None}
    return load_config({**config, "degrader": {**config["degrader"], **overrides}}) if overrides else config


def run_train(args: argparse.Namespace) -> None:
    from rwsr.degrader.train import DegraderSettings, train_degrader
    from rwsr.ops.jpeg import compression_from_setting, real_lr_qualities

    config = degrader_config(args)
    set_threads(args.threads)
    qualities = real_lr_qualities(args.real_lr_manifest, args.target)
    compression = compression_from_setting(config["pairs"]["jpeg_quality"], qualities)
    with StopSignals():  # SIGTERM (a SLURM time limit) or SIGINT: checkpoint after this step, exit 75
        train_degrader(
            args.source,
            args.target,
            args.out,
            DegraderSettings.from_config(config),
            seed=config["seed"],
            device=config["device"],
            config=config,
            log_path=args.log_csv,
            samples_path=args.samples,
            compression=compression,
        )


def run_degrade(args: argparse.Namespace) -> None:
    from rwsr.degrader.apply import degrade_folder

    config = config_from_args(args)
    set_threads(args.threads)
    degrade_folder(args.model, args.input, args.output, config["device"], args.tile, args.tile_pad)
