"""`rwsr evaluate`, `rwsr fid-reference`, `rwsr upscale-bicubic`, `rwsr fid-table`, and the report
figures `rwsr compare-crops` and `rwsr plot-losses`."""

from __future__ import annotations

import argparse

from rwsr.cliutil import add_config_argument, config_from_args
from rwsr.evaluate import GENERATORS, VARIANTS


def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser(
        "evaluate", help="score one model/variant: FID and KID against clean references, PSNR/SSIM (Y) and LPIPS against ground truth"
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
    evaluate.add_argument("--generator", default="final", choices=GENERATORS,
                          help="which generator made the outputs: psnr (PSNR phase), final, or none (bicubic)")
    evaluate.add_argument("--generator-file",
                          help="the generator file that made the outputs (its record says which VGG19 trained it)")
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

    compare = subparsers.add_parser(
        "compare-crops", help="side-by-side central crops of validation images from several SR folders (report figure)"
    )
    compare.add_argument("--rows", required=True, nargs="+", help="folders of super-resolved images, one column each")
    compare.add_argument("--labels", required=True, nargs="+", help="column names, one per --rows folder")
    compare.add_argument("--ground-truth", help="folder of validation HR images, shown as the last column")
    compare.add_argument("--out", required=True, help="comparison image (.png)")
    compare.add_argument("--crop", type=int, default=96, help="crop side in pixels (default: 96)")
    compare.add_argument("--count", type=int, default=3, help="how many images, first sorted names (default: 3)")
    compare.set_defaults(run=run_compare)

    curves = subparsers.add_parser("plot-losses", help="loss curves of training logs, one subplot each (report figure)")
    curves.add_argument("--logs", required=True, nargs="+", help="loss log CSV files with a step column")
    curves.add_argument("--labels", nargs="+", help="subplot titles, one per log (default: the paths)")
    curves.add_argument("--out", required=True, help="figure (.png)")
    curves.set_defaults(run=run_curves)


def run_evaluate(args: argparse.Namespace) -> None:
    from rwsr.evaluate.table import evaluate_row, write_rows

    row = evaluate_row(config_from_args(args), args.sr, args.reference, args.model, args.variant, args.ground_truth,
                       args.generator, args.generator_file)  # fmt: skip
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


def run_compare(args: argparse.Namespace) -> None:
    from rwsr.evaluate.compare import compare_crops

    height, width = compare_crops(args.rows, args.labels, args.out, args.ground_truth, args.crop, args.count)
    print(f"wrote {args.out}: {width}x{height}")


def run_curves(args: argparse.Namespace) -> None:
    from rwsr.evaluate.curves import plot_losses

    plot_losses(args.logs, args.labels, args.out)
    print(f"wrote {args.out}")
