"""`rwsr evaluate`, `rwsr fid-reference`, `rwsr upscale-bicubic`, `rwsr fid-table`, and the report
figures `rwsr compare-crops`, `rwsr plot-losses`, `rwsr report-kernels` and `rwsr report-degradation`."""

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
    compare.add_argument("--crop", type=int, default=48, help="crop side in pixels (default: 48)")
    compare.add_argument("--count", type=int, default=3, help="how many images, first sorted names (default: 3)")
    compare.add_argument("--zoom", type=int, default=4, help="enlargement of each crop, nearest neighbour (default: 4)")
    compare.set_defaults(run=run_compare)

    kernels = subparsers.add_parser("report-kernels", help="estimated kernels beside the true ones when known (report figure)")
    kernels.add_argument("--kernels", required=True, nargs="+", help="estimated kernel .npy files, one per image")
    kernels.add_argument("--labels", required=True, nargs="+", help="image names, one per --kernels file")
    kernels.add_argument("--true-kernels-table", help="the demo's degradations.csv: its hidden kernels are shown below")
    kernels.add_argument("--fidelity", help="the pipeline pairs' fidelity.csv: kernel errors for the titles")
    kernels.add_argument("--out", required=True, help="figure (.png)")
    kernels.set_defaults(run=run_kernels)

    degradation = subparsers.add_parser(
        "report-degradation", help="real LR crops beside clean and synthesized LR, with the fidelity numbers (report figure)"
    )
    degradation.add_argument("--real-lr", required=True, help="folder of prepared real LR photos")
    degradation.add_argument("--lr", required=True, nargs="+", help="folders of LR tiles with the same names, one column each")
    degradation.add_argument("--labels", required=True, nargs="+", help="column names, one per --lr folder")
    degradation.add_argument("--fidelity", help="fidelity.csv of the synthesized pairs, printed below the crops")
    degradation.add_argument("--out", required=True, help="figure (.png)")
    degradation.set_defaults(run=run_degradation)

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

    height, width = compare_crops(args.rows, args.labels, args.out, args.ground_truth, args.crop, args.count, args.zoom)
    print(f"wrote {args.out}: {width}x{height}")


def run_curves(args: argparse.Namespace) -> None:
    from rwsr.evaluate.curves import plot_losses

    plot_losses(args.logs, args.labels, args.out)
    print(f"wrote {args.out}")


def run_kernels(args: argparse.Namespace) -> None:
    from rwsr.evaluate.figures import kernel_figure

    kernel_figure(args.kernels, args.labels, args.out, args.true_kernels_table, args.fidelity)
    print(f"wrote {args.out}")


def run_degradation(args: argparse.Namespace) -> None:
    from rwsr.errors import InputError
    from rwsr.evaluate.figures import degradation_figure

    if len(args.labels) != len(args.lr):
        raise InputError(f"report-degradation: {len(args.lr)} folders in --lr but {len(args.labels)} names in --labels")
    degradation_figure(args.real_lr, list(zip(args.labels, args.lr)), args.out, args.fidelity)
    print(f"wrote {args.out}")
