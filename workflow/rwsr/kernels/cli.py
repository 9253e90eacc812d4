"""`rwsr kernelgan` and `rwsr spectral-kernels` (estimate blur kernels), `rwsr kernel-pool` (gather them)."""

from __future__ import annotations

import argparse

from rwsr.cliutil import add_config_argument, add_threads_argument, config_from_args, set_threads


def add_image_arguments(parser: argparse.ArgumentParser, record: str) -> None:
    """--input, --outdir and --scale, shared by the estimators; `record` is the file each writes
    beside the kernels (KernelGAN's training log, the spectral estimator's fit)."""
    parser.add_argument("--input", nargs="+", required=True, help="LR image file(s)")
    parser.add_argument("--outdir", nargs="+", required=True,
                        help=f"output folder per input: kernel_x2.npy, kernel_x4.npy, kernel.png, {record}, settings.json, confidence.json")
    parser.add_argument("--scale", type=int, choices=(2, 4), help="write kernel_x4.npy too when 4 (default: config key scale)")


def register(subparsers: argparse._SubParsersAction) -> None:
    estimate = subparsers.add_parser(
        "kernelgan",
        help="estimate each image's blur kernel with KernelGAN (config key kernels)",
        description="Several --input files train together (grouped convolutions, kernels.batch_size at a time); "
        "give one --outdir per --input, in the same order.",
    )
    add_image_arguments(estimate, record="log.csv")
    estimate.add_argument("--iterations", type=int, help="training iterations (default: config key kernels.iterations)")
    estimate.add_argument("--seed", type=int, help="seed (default: config key seed)")
    estimate.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: config key device)")
    add_threads_argument(estimate)
    add_config_argument(estimate)
    estimate.set_defaults(run=run_kernelgan)

    spectral = subparsers.add_parser(
        "spectral-kernels",
        help="estimate each image's blur kernel from its power spectrum across scales (config key kernels.estimator: spectral)",
        description="A Gaussian fitted to how each image's cross-channel power spectrum falls off from f/2 to f "
        "(rwsr.kernels.spectral); give one --outdir per --input, in the same order.",
    )
    add_image_arguments(spectral, record="fit.json")
    add_threads_argument(spectral)
    add_config_argument(spectral)
    spectral.set_defaults(run=run_spectral)

    pool = subparsers.add_parser("kernel-pool", help="gather per-image kernels into one pool file and a montage")
    pool.add_argument("--input", nargs="+", required=True, help="kernel .npy files, each in its image's folder")
    pool.add_argument("--output", required=True, help="pool .npz (arrays kernels, images, scale, confidence, weights)")
    pool.add_argument("--montage", help="PNG picture of the pool")
    add_config_argument(pool)
    pool.set_defaults(run=run_pool)


def run_kernelgan(args: argparse.Namespace) -> None:
    from rwsr.errors import InputError
    from rwsr.kernels.estimate import run_kernelgan as estimate

    if args.iterations is not None and args.iterations < 1:
        raise InputError(f"--iterations must be at least 1, got {args.iterations}")
    set_threads(args.threads)
    estimate(args.input, args.outdir, config_from_args(args), iterations=args.iterations)


def run_spectral(args: argparse.Namespace) -> None:
    from rwsr.kernels.spectral import run_spectral as estimate

    set_threads(args.threads)
    estimate(args.input, args.outdir, config_from_args(args))


def run_pool(args: argparse.Namespace) -> None:
    from rwsr.kernels.pool import write_pool

    write_pool(args.input, config_from_args(args)["scale"], args.output, args.montage)
