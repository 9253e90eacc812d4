"""`rwsr evaluate`, `rwsr fid-reference`, `rwsr upscale-bicubic`, `rwsr fid-table`."""

from __future__ import annotations

import argparse

from rwsr.cliutil import add_config_argument, config_from_args
from rwsr.evaluate import VARIANTS



def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser(
        "evaluate", help="score one model/variant: FID against clean references, PSNR/SSIM (Y) against ground truth"
    )
    evaluate.add_argument("--sr", required=True, help="folder of the model's super-resolved validation images")
    evaluate.add_argument(
        "--reference",
        required=True,
        nargs="+",
        help="folders of clean reference images, or one statistics file written by `rwsr fid-reference`",
    )
    evaluate.add_argument("--ground-truth", help="folder of validation HR images with the SR outputs' names")
    evaluate.add_argument("--model", required=True, help="model name for the row (e.g. esrgan, bicubic)")
    evaluate.add_argument("--variant", required=True, choices=VARIANTS, help="training-data variant for the row")
    evaluate.add_argument("--out", required=True, help="CSV file for the row")
    add_config_argument(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    reference = subparsers.add_parser(
        "fid-reference", help="FID statistics of the clean reference images, computed once for every row"
    )
    reference.add_argument("--reference", required=True, nargs="+", help="folders of clean reference images")
    reference.add_argument("--out", required=True, help="statistics file (.npz)")
    add_config_argument(reference)
    reference.set_defaults(run=run_reference)

    upscale = subparsers.add_parser("upscale-bicubic", help="MATLAB-bicubic upscale of a folder: the baseline")
    upscale.add_argument("--input", required=True, help="folder of LR images")
    upscale.add_argument("--output", required=True, help="folder for the upscaled images")
    upscale.add_argument("--scale", type=int, choices=(2, 4), help="factor (default: config key scale)")
    add_config_argument(upscale)
    upscale.set_defaults(run=run_upscale)

    table = subparsers.add_parser("fid-table", help="gather score rows into one table (results/fid.csv)")
    table.add_argument("--rows", required=True, nargs="+", help="row files written by `rwsr evaluate`")
    table.add_argument("--out", required=True, help="table CSV")
    table.set_defaults(run=run_table)


def run_evaluate(args: argparse.Namespace) -> None:
    from rwsr.evaluate.table import evaluate_row, write_rows

    row = evaluate_row(config_from_args(args), args.sr, args.reference, args.model, args.variant, args.ground_truth)
    write_rows(args.out, [row])


def run_reference(args: argparse.Namespace) -> None:
    from rwsr.evaluate.table import build_reference_statistics

    build_reference_statistics(config_from_args(args), args.reference, args.out)


def run_upscale(args: argparse.Namespace) -> None:
    from rwsr.evaluate.baseline import upscale_folder

    upscale_folder(args.input, args.output, config_from_args(args)["scale"])


def run_table(args: argparse.Namespace) -> None:
    from rwsr.evaluate.table import gather_table

    print(gather_table(args.rows, args.out).to_string(index=False))
