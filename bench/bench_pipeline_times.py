"""Per-job and per-stage seconds of a pipeline run, from Snakemake's benchmark files.

    python bench/bench_pipeline_times.py [--root DIR]          # read DIR/benchmarks/**/*.tsv
    python bench/bench_pipeline_times.py --full [--cores 2]    # first run the demo DAG to results/fid.csv
                                                               # in a fresh directory, then read it

Every rule writes `benchmarks/<stage>/....tsv` (Snakemake's `benchmark:` field; column `s` is the
job's wall time). The sum over jobs is the serial cost; with --full the run's wall time is printed
too (jobs overlap when --cores > 1). The issue's target: the demo DAG under 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd

CHECKOUT = Path(__file__).resolve().parents[1]


def job_seconds(root: Path) -> dict[str, float]:
    """benchmark file (relative to benchmarks/) -> seconds of its last recorded run."""
    files = sorted((root / "benchmarks").rglob("*.tsv"))
    return {
        str(path.relative_to(root / "benchmarks")): float(pd.read_csv(path, sep="\t")["s"].iloc[-1]) for path in files
    }


def print_times(times: dict[str, float]) -> None:
    if not times:
        print("no benchmark files found")
        return
    stages: dict[str, float] = defaultdict(float)
    width = max(len(name) for name in times)
    print(f"{'job (benchmark file)':<{width}}  seconds")
    for name, seconds in times.items():
        stages[name.split("/")[0]] += seconds
        print(f"{name:<{width}}  {seconds:8.1f}")
    print()
    for stage, seconds in stages.items():
        print(f"stage {stage:<12} {seconds:8.1f} s")
    print(f"sum over jobs      {sum(times.values()):8.1f} s ({sum(times.values()) / 60:.1f} min)")


def run_demo(workdir: Path, cores: int, target: str) -> float:
    command = [
        sys.executable, "-m", "snakemake", "-s", str(CHECKOUT / "Snakefile"), "--configfile",
        str(CHECKOUT / "config.yaml"), "--directory", str(workdir), "--cores", str(cores), target,
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."), help="run directory holding benchmarks/")
    parser.add_argument("--full", action="store_true", help="run the demo DAG in a fresh directory first")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores for --full")
    parser.add_argument("--target", default="results/fid.csv", help="snakemake target for --full")
    args = parser.parse_args()
    if args.full:
        workdir = Path(tempfile.mkdtemp(prefix="rwsr-bench-"))
        wall = run_demo(workdir, args.cores, args.target)
        print_times(job_seconds(workdir))
        command = f"snakemake --cores {args.cores} {args.target}"
        print(f"wall time of `{command}`: {wall:.1f} s ({wall / 60:.1f} min) in {workdir}")
    else:
        print_times(job_seconds(args.root))


if __name__ == "__main__":
    main()
