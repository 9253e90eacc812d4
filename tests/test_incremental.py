"""Incremental data: adding one photo to a user folder prepares and estimates only that photo, and
re-runs just the aggregates downstream of it; the other photos' prepared files and kernels stay."""

from __future__ import annotations

import csv
import shutil

from conftest import deep_merge, planned_jobs, run_snakemake
from rwsr.config import load_config
from rwsr.data.demo import build_demo, demo_files
from test_dag import TINY

# The data and kernels stages, with every set's manifest (results/data/real_lr.csv feeds the JPEG
# qualities of the pairs and the degrader).
TARGETS = ["results/kernels/pool.npz", *(f"results/data/{name}.csv" for name in ("hr", "real_lr", "val_lr", "val_hr"))]


def test_adding_one_real_lr_photo_plans_only_its_own_jobs_and_the_aggregates(tmp_path):
    # User folders filled from a small demo build (its real LR photos are JPEGs with a known quality).
    config = load_config(deep_merge(load_config(), TINY))
    build_demo(config, tmp_path / "demo")
    folders = {}
    for name, members in demo_files(config, tmp_path / "demo").items():
        folders[name] = tmp_path / "photos" / name
        folders[name].mkdir(parents=True)
        for path in members.values():
            shutil.copy(path, folders[name])
    held_back = sorted(folders["real_lr"].iterdir())[-1]
    held_back.rename(tmp_path / held_back.name)
    overrides = {**TINY, "data": {name: str(folder) for name, folder in folders.items()}}
    workdir = tmp_path / "run"
    workdir.mkdir()
    first = run_snakemake(workdir, "--cores", "2", *TARGETS, config=overrides)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    kernels = sorted((workdir / "results/kernels").glob("*/kernel_x4.npy"))
    untouched = {path: path.stat().st_mtime_ns for path in [*kernels, *(workdir / "results/data/real_lr").iterdir()]}
    assert len(kernels) == len(list(folders["real_lr"].iterdir())) >= 2

    (tmp_path / held_back.name).rename(held_back)
    planned = run_snakemake(workdir, "-n", *TARGETS, config=overrides)
    jobs = planned_jobs(planned)
    assert jobs == {"data_prepare": 1, "data_manifest": 1, "kernels_estimate": 1, "kernels_pool": 1}, jobs
    assert f"results/kernels/{held_back.stem}/kernel_x4.npy" in planned.stdout
    # Downstream of the pool, the whole pipeline still plans as usual (pairs, SR, evaluate).
    downstream = planned_jobs(run_snakemake(workdir, "-n", "results/fid.csv", config=overrides))
    assert downstream["kernels_estimate"] == 1 and downstream["data_prepare"] == 1, downstream
    assert downstream["pairs_make"] == 1 and downstream["evaluate_table"] == 1, downstream

    again = run_snakemake(workdir, "--cores", "2", *TARGETS, config=overrides)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert {path: path.stat().st_mtime_ns for path in untouched} == untouched
    manifest = list(csv.DictReader((workdir / "results/data/real_lr.csv").open()))
    assert [row["image"] for row in manifest] == sorted(path.stem for path in folders["real_lr"].iterdir())
    assert all(int(row["jpeg_quality"]) > 0 for row in manifest)  # the demo's real LR files are JPEGs
