"""`rwsr demo-data`, `rwsr prepare-data`, `rwsr prepare-image`, `rwsr data-manifest`, `rwsr downscale`."""

from __future__ import annotations

import argparse
from pathlib import Path

from rwsr.cliutil import add_config_argument, config_from_args

# rwsr.data.sets.DATASETS; importing it here would load torch for every `rwsr` command.
SETS = ("hr", "real_lr", "val_lr", "val_hr")


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

    image = subparsers.add_parser("prepare-image", help="validate and normalise one input image (the workflow's per-image job)")
    image.add_argument("--set", required=True, choices=SETS, help="the input set the image belongs to")
    image.add_argument("--input", required=True, help="the source image file")
    image.add_argument("--output", required=True, help="the normalised PNG to write")
    image.add_argument("--row", required=True, help="CSV to write the image's manifest row to")
    image.add_argument("--lr-partner", help="val_hr only: the prepared validation LR image it must be scale times")
    add_config_argument(image)
    image.set_defaults(run=run_prepare_image)

    manifest = subparsers.add_parser("data-manifest", help="gather a set's per-image rows into its manifest")
    manifest.add_argument("--set", required=True, choices=SETS, help="the input set (its folder: config key data.<set>)")
    manifest.add_argument("--rows", nargs="*", default=[], help="row CSVs written by prepare-image")
    manifest.add_argument("--out", required=True, help="manifest CSV to write (results/data/<set>.csv)")
    add_config_argument(manifest)
    manifest.set_defaults(run=run_manifest)

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


def run_prepare_image(args: argparse.Namespace) -> None:
    from rwsr.data.prepare import prepare_image, write_row

    write_row(args.row, prepare_image(config_from_args(args), args.set, args.input, args.output, args.lr_partner))


def run_manifest(args: argparse.Namespace) -> None:
    from rwsr.data.prepare import read_rows, write_manifest

    write_manifest(config_from_args(args), args.set, read_rows(args.rows), args.out)


def run_downscale(args: argparse.Namespace) -> None:
    from rwsr.data.prepare import downscale_folder

    downscale_folder(args.input, args.output, config_from_args(args)["scale"])
