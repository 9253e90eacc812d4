"""The `rwsr` command: one subcommand per pipeline stage, each runnable without Snakemake.

Each stage keeps its own arguments in `rwsr/<stage>/cli.py` (a `register(subparsers)` function);
this file only lists them, in pipeline order.
"""

from __future__ import annotations

import argparse
import sys

from rwsr import __version__
from rwsr.cliutil import setup_logging
from rwsr.data import cli as data_cli
from rwsr.degrader import cli as degrader_cli
from rwsr.errors import INTERRUPTED_EXIT, OUTPUT_ERROR_EXIT, OUTPUT_REASONS, InputError, OutputError, TrainingInterrupted
from rwsr.evaluate import cli as evaluate_cli
from rwsr.kernels import cli as kernels_cli
from rwsr.pairs import cli as pairs_cli
from rwsr.sr import cli as sr_cli

STAGE_CLIS = (data_cli, kernels_cli, degrader_cli, pairs_cli, sr_cli, evaluate_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rwsr", description="Real-world super-resolution pipeline stages (see README.md)."
    )
    parser.add_argument("--version", action="version", version=f"rwsr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    for stage_cli in STAGE_CLIS:
        stage_cli.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.run(args) or 0
    except InputError as error:
        print(f"rwsr {args.command}: error: {error}", file=sys.stderr)
        return 2
    except TrainingInterrupted as stop:
        print(f"rwsr {args.command}: {stop}", file=sys.stderr)
        return INTERRUPTED_EXIT
    except OSError as error:
        if not isinstance(error, OutputError) and error.errno not in OUTPUT_REASONS:
            raise
        if not isinstance(error, OutputError):
            error = OutputError.from_os_error(error.filename or "an output file", error)
        print(f"rwsr {args.command}: error: {error}", file=sys.stderr)
        return OUTPUT_ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
