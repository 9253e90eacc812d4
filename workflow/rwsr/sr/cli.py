"""`rwsr train-sr`, `rwsr upscale` and `rwsr export`."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys

from rwsr.cliutil import add_config_argument, add_threads_argument, config_from_args, set_threads
from rwsr.errors import INTERRUPTED_EXIT
from rwsr.train.guards import StopSignals

log = logging.getLogger(__name__)

# `rwsr upscale --half` values (rwsr.sr.upscale.HALF_DTYPES; named here so --help needs no torch import).
HALF_CHOICES = ("fp16", "bf16")


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train-sr", help="train an SR model on a pair set (config key sr)")
    train.add_argument("--model", help="esrgan or bebygan (default: config key sr.model)")
    train.add_argument("--pairs", required=True, help="pair set folder holding lr/ and hr/ with the same image names")
    train.add_argument("--outdir", required=True, help="folder for generator*.pt, checkpoint.pt, loss.csv, samples/")
    train.add_argument("--val-lr", help="validation LR folder, to log PSNR while training (needs --val-hr)")
    train.add_argument("--val-hr", help="validation ground-truth folder, same image names as --val-lr")
    train.add_argument(
        "--nproc", default="auto",
        help="training processes (DDP); auto: one per visible GPU when training on CUDA, else 1; "
        "N > 1 relaunches this command under torchrun (gloo on CPU)",
    )  # fmt: skip
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads_argument(train)
    add_config_argument(train)
    train.set_defaults(run=run_train)

    upscale = subparsers.add_parser(
        "upscale", help="super-resolve an image or a folder of images with a generator file; never overwrites an input"
    )
    upscale.add_argument("--model", required=True, help="generator file written by train-sr (generator.pt)")
    upscale.add_argument("--input", required=True, help="an LR image file, or a folder of them")
    upscale.add_argument(
        "--output", required=True,
        help="folder for <name><suffix>.png outputs (for a file --input, also an output file name such as out.png); "
        "the input folder only with --suffix",
    )  # fmt: skip
    upscale.add_argument(
        "--suffix", default="", help="added to each output's name (say _x4); needed to write into the input folder"
    )
    upscale.add_argument("--overwrite", action="store_true", help="replace outputs that exist (default: skip them)")
    upscale.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: config key device)")
    upscale.add_argument(
        "--half", nargs="?", const="fp16", choices=sorted(HALF_CHOICES),
        help="half-precision inference on CUDA: fp16 (the default when given alone) or bf16",
    )  # fmt: skip
    upscale.add_argument("--tile", type=int, help="LR tile side, 0 for whole images (default: config key sr.tile)")
    upscale.add_argument("--tile-pad", type=int, help="LR context pixels around each tile (default: sr.tile_pad)")
    upscale.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_argument(upscale)
    upscale.set_defaults(run=run_upscale)

    export = subparsers.add_parser(
        "export", help="write a generator file in BasicSR's RRDBNet layout (Real-ESRGAN, spandrel, chaiNNer load it)"
    )
    export.add_argument("--model", required=True, help="generator file written by train-sr (generator.pt)")
    export.add_argument("--format", default="basicsr", choices=["basicsr"], help="basicsr: {'params_ema': state_dict}")
    export.add_argument("--output", required=True, help="file to write, say generator_basicsr.pth")
    export.set_defaults(run=run_export)


def process_count(nproc: str, device: str) -> int:
    from rwsr.errors import InputError

    if nproc != "auto":
        if not nproc.isdigit() or int(nproc) < 1:
            raise InputError(f"--nproc must be auto or a positive integer, got {nproc!r}")
        return int(nproc)
    import torch

    return torch.cuda.device_count() if device != "cpu" and torch.cuda.device_count() > 1 else 1


def run_train(args: argparse.Namespace) -> int | None:
    from rwsr.errors import InputError

    config = config_from_args(args)
    if (args.val_lr is None) != (args.val_hr is None):
        raise InputError("--val-lr and --val-hr go together")
    nproc = process_count(args.nproc, config["device"])
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        # Relaunch this command under torchrun; each child sees WORLD_SIZE and trains its share.
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   "-m", "rwsr.cli", *child_arguments(args)]  # fmt: skip
        log.info("launching %d training processes: %s", nproc, " ".join(command))
        # A signal to this process goes on to torchrun, which passes it to the training processes:
        # they checkpoint and stop, and this process reports it as the single-process run would.
        with StopSignals() as stops, subprocess.Popen(command) as child:
            forwarded = None
            while child.poll() is None:
                if stops.requested and forwarded is None:
                    forwarded = stops.requested
                    child.send_signal(forwarded)
                try:
                    child.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
        return INTERRUPTED_EXIT if stops.requested and child.returncode != 0 else child.returncode
    from rwsr.sr.train import SRSettings, train_sr

    set_threads(args.threads)
    settings = SRSettings.from_config(config, **({"model": args.model} if args.model else {}))
    val = (args.val_lr, args.val_hr) if args.val_lr else None
    with StopSignals():  # SIGTERM (a SLURM time limit) or SIGINT: checkpoint after this step, exit 75
        train_sr(settings, args.pairs, args.outdir, val, progress=not args.no_progress)
    return None


def child_arguments(args: argparse.Namespace) -> list[str]:
    """This train-sr command's arguments for the torchrun children (WORLD_SIZE keeps them from relaunching;
    an --nproc here would be taken by torchrun's own parser as an abbreviation of --nproc-per-node)."""
    argv = ["train-sr", "--pairs", args.pairs, "--outdir", args.outdir]
    for flag, value in (("--model", args.model), ("--val-lr", args.val_lr), ("--val-hr", args.val_hr),
                        ("--threads", args.threads), ("--config", args.config)):  # fmt: skip
        if value is not None:
            argv += [flag, str(value)]
    return argv + (["--no-progress"] if args.no_progress else [])


def run_upscale(args: argparse.Namespace) -> None:
    from rwsr.sr.upscale import upscale_images

    config = config_from_args(args)
    tile = config["sr"]["tile"] if args.tile is None else args.tile
    tile_pad = config["sr"]["tile_pad"] if args.tile_pad is None else args.tile_pad
    upscale_images(args.model, args.input, args.output, config["device"], tile, tile_pad, suffix=args.suffix,
                   overwrite=args.overwrite, half=args.half, progress=not args.no_progress)  # fmt: skip


def run_export(args: argparse.Namespace) -> None:
    from rwsr.sr.interop import export_generator

    export_generator(args.model, args.output, args.format)
