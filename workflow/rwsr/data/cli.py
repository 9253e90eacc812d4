"""`rwsr demo-data`, `rwsr prepare-data`, `rwsr downscale`."""

from __future__ import annotations

import argparse
from pathlib import Path

from rwsr.cliutil import add_config_argument, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo-data", help="build the bundled demo set from scikit-image's photographs")
    demo.add_argument("--outdir", required=True, help="folder to write hr/, real_lr/, val_lr/, val_hr/, kernels/")
    add_config_argument(demo)
    demo.set_defaults(run=run_demo)

    prepare = subparsers.add_parser("prepare-data", help="validate and normalise the input images (config key data)")
    prepare.add_argument("--outdir", required=True, help="folder to write <set>/<image>.png and <set>.csv")
    prepare.add_argument("--demo-root", default=None, help="where demo-data wrote the demo set (default: OUTDIR/demo)")
    add_config_argument(prepare)
    prepare.set_defaults(run=run_prepare)

    downscale = subparsers.add_parser("downscale", help="MATLAB-bicubic downscale of a folder of images")
    downscale.add_argument("--input", required=True, help="folder of images")
    downscale.add_argument("--output", required=True, help="folder for the downscaled images")
    downscale.add_argument("--scale", type=int, choices=(2, 4), help="factor (default: config key scale)")
    add_config_argument(downscale)
    downscale.set_defaults(run=run_downscale)


def run_demo(args: argparse.Namespace) -> None:
    from rwsr.data.demo import build_demo

    build_demo(config_from_args(args), args.outdir)


def run_prepare(args: argparse.Namespace) -> None:
    from rwsr.data.prepare import prepare_inputs

    demo_root = args.demo_root or Path(args.outdir) / "demo"
    prepare_inputs(config_from_args(args), demo_root, args.outdir)


def run_downscale(args: argparse.Namespace) -> None:
    from rwsr.data.prepare import downscale_folder

    downscale_folder(args.input, args.output, config_from_args(args)["scale"])
