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
from rwsr.errors import InputError

STAGE_CLIS = (data_cli,)


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


if __name__ == "__main__":
    sys.exit(main())
