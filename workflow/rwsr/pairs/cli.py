"""`rwsr make-pairs`."""

from __future__ import annotations

import argparse

from rwsr.cliutil import add_config_argument, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("make-pairs", help="synthesize LR/HR training pairs from clean HR images (config key pairs)")
    parser.add_argument("--hr", required=True, help="folder of clean HR images")
    parser.add_argument("--outdir", required=True, help="folder to write lr/, hr/ and pairs.csv")
    parser.add_argument("--kernel-pool", help="pool.npz of the kernels stage (pairs.kernel: pool)")
    parser.add_argument("--degrader", help="dsgan.pt of the degrader stage (pairs.noise: dsgan)")
    parser.add_argument("--real-lr", help="folder of real LR images (pairs.noise: patches)")
    parser.add_argument("--kernel", choices=("pool", "bicubic"), help="override config key pairs.kernel")
    parser.add_argument("--noise", choices=("dsgan", "patches", "none"), help="override config key pairs.noise")
    add_config_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from rwsr.config import validate_config
    from rwsr.pairs.make import make_pairs

    config = config_from_args(args)
    overrides = {key: getattr(args, key) for key in ("kernel", "noise") if getattr(args, key)}
    config = validate_config({**config, "pairs": {**config["pairs"], **overrides}})
    make_pairs(config, args.hr, args.outdir, args.kernel_pool, args.degrader, args.real_lr)
