"""`rwsr make-pairs` and `rwsr kernel-lr`."""

from __future__ import annotations

import argparse

from rwsr.cliutil import add_config_argument, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("make-pairs", help="synthesize LR/HR training pairs from clean HR images (config key pairs)")
    parser.add_argument("--hr", required=True, help="folder of clean HR images")
    parser.add_argument("--outdir", required=True, help="folder to write lr/, hr/, pairs.csv and fidelity.csv")
    parser.add_argument("--kernel-pool", help="pool.npz of the kernels stage (pairs.kernel: pool)")
    parser.add_argument("--degrader", help="dsgan.pt of the degrader stage (pairs.noise: dsgan)")
    parser.add_argument("--real-lr", help="folder of real LR images: noise patches (pairs.noise: patches) and fidelity.csv")
    parser.add_argument("--real-lr-manifest",
                        help="data manifest of the real LR set (results/data/real_lr.csv): JPEG qualities for pairs.jpeg_quality "
                        "auto (default: read from the --real-lr files)")
    parser.add_argument("--oracle", help="degradations.csv of the demo: synthesize with the hidden degradation instead")
    parser.add_argument("--true-kernels", help="degradations.csv of the demo: score the pool's kernels against the hidden ones")
    parser.add_argument("--kernel", choices=("pool", "bicubic"), help="override config key pairs.kernel")
    parser.add_argument("--noise", choices=("dsgan", "patches", "none"), help="override config key pairs.noise")
    add_config_argument(parser)
    parser.set_defaults(run=run)

    kernel_lr = subparsers.add_parser(
        "kernel-lr", help="clean LR of whole HR images blurred with the pool's kernels: the degrader's source domain"
    )
    kernel_lr.add_argument("--hr", required=True, help="folder of clean HR images")
    kernel_lr.add_argument("--kernel-pool", required=True, help="pool.npz of the kernels stage")
    kernel_lr.add_argument("--output", required=True, help="folder for the LR images (<stem>.png)")
    add_config_argument(kernel_lr)
    kernel_lr.set_defaults(run=run_kernel_lr)


def run(args: argparse.Namespace) -> None:
    from rwsr.config import validate_config
    from rwsr.ops.jpeg import real_lr_qualities
    from rwsr.pairs.make import make_pairs

    config = config_from_args(args)
    overrides = {key: getattr(args, key) for key in ("kernel", "noise") if getattr(args, key)}
    config = validate_config({**config, "pairs": {**config["pairs"], **overrides}})
    qualities = real_lr_qualities(args.real_lr_manifest, args.real_lr)
    make_pairs(config, args.hr, args.outdir, args.kernel_pool, args.degrader, args.real_lr, qualities,
               oracle=args.oracle, true_kernels=args.true_kernels)  # fmt: skip


def run_kernel_lr(args: argparse.Namespace) -> None:
    from rwsr.pairs.make import write_kernel_lr

    write_kernel_lr(config_from_args(args), args.hr, args.kernel_pool, args.output)
