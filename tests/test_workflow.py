"""The Snakemake workflow: lint, dry runs, config validation before any job, and a real data-stage run."""

from __future__ import annotations

import subprocess

import pytest

from conftest import REPO, planned_jobs, run_snakemake as snakemake
from rwsr.config import load_config
from rwsr.data.demo import demo_crops, demo_files


def test_lint_passes():
    result = subprocess.run(["snakemake", "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "good condition" in result.stdout + result.stderr


def test_dry_run_of_the_default_target_lists_the_planned_jobs(tmp_path):
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    config = load_config(REPO / "config.yaml")
    real_lr = demo_crops(config["data"]["demo"])["real_lr"]
    assert len(real_lr) >= 2 and jobs["kernels_estimate"] == len(real_lr)  # one per demo real LR image
    assert jobs["sr_train"] == 3  # pipeline, bicubic and (demo: the degradation is known) oracle pairs
    assert jobs["sr_upscale"] == 6  # each training's PSNR-phase and final generator
    assert jobs["evaluate_score"] == 7  # those six and the bicubic-upscale baseline
    # degrader.source kernel: the degrader learns from pool-blurred HR, so no bicubic LR is made.
    assert "data_downscale" not in jobs
    demo = demo_files(config, tmp_path)
    assert jobs["data_prepare"] == sum(len(images) for images in demo.values())  # one per input image
    assert jobs["data_manifest"] == len(demo)  # one per set
    for rule in ("data_demo", "degrader_source", "degrader_train", "pairs_make", "pairs_bicubic",
                 "pairs_oracle", "evaluate_table"):
        assert jobs[rule] == 1
    assert not (tmp_path / "results").exists()


def planned_job_lines(result, rule: str, field: str) -> list[str]:
    """The `field` lines ("resources:", "Shell command:") of every planned job of `rule` in a dry run."""
    blocks = result.stdout.split("\nrule ")[1:]
    return [line for block in blocks if block.startswith(f"{rule}:") for line in block.splitlines()
            if line.strip().startswith(field)]  # fmt: skip


@pytest.mark.parametrize(("cores", "config", "threads"), [(2, {}, 1), (6, {}, 1), (6, {"threads": 3}, 3)])
def test_training_threads_come_from_the_config_not_from_the_cores(tmp_path, cores, config, threads):
    # Another thread count sums floats in another order and trains other weights, so the count is
    # the config's (key threads), whatever --cores a laptop, a workstation or a cluster job has.
    result = snakemake(tmp_path, "-n", "--cores", str(cores), config=config)
    assert result.returncode == 0, result.stderr[-2000:]
    for rule in ("sr_train", "degrader_train", "kernels_estimate"):
        commands = planned_job_lines(result, rule, "Shell command:")
        assert commands and all(f"--threads {threads} " in command for command in commands), (rule, commands)


def test_device_cpu_asks_for_no_gpu(tmp_path):
    for device, gpu in (("auto", "gpu=1"), ("cpu", "gpu=0")):
        result = snakemake(tmp_path, "-n", "--config", f"device={device}")
        assert result.returncode == 0, result.stderr[-2000:]
        for rule in ("degrader_train", "sr_train"):
            resources = planned_job_lines(result, rule, "resources:")
            assert resources and all(gpu in line for line in resources), (device, rule, resources)
        # The spectral kernel fit is numpy: it never asks for a GPU; KernelGAN does, as the trainings.
        resources = planned_job_lines(result, "kernels_estimate", "resources:")
        assert resources and all("gpu=0" in line for line in resources), (device, resources)
        result = snakemake(tmp_path, "-n", config={"device": device, "kernels": {"estimator": "kernelgan"}})
        resources = planned_job_lines(result, "kernels_estimate", "resources:")
        assert resources and all(gpu in line for line in resources), (device, "kernelgan", resources)


@pytest.mark.parametrize(
    ("override", "key"),
    [({"scale": 3}, "'scale'"), ({"data": {"hr": "demo", "bogus": 1}}, "data.bogus"), ({"seed": "x"}, "'seed'")],
)
def test_an_invalid_config_stops_snakemake_naming_the_key(tmp_path, override, key):
    result = snakemake(tmp_path, "-n", config=override)
    assert result.returncode != 0
    assert key in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def test_a_missing_input_folder_is_reported_when_the_dag_is_built(tmp_path):
    result = snakemake(tmp_path, "-n", config={"data": {"hr": str(tmp_path / "nowhere"), "real_lr": "demo",
                                                        "val_lr": "demo", "val_hr": "demo"}})
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "data.hr" in output and "folder not found" in output


def test_data_stage_runs_and_then_is_up_to_date(tmp_path):
    small = {"data": {"demo": {"crop": 128, "max_crops_per_photo": 1}}}
    result = snakemake(tmp_path, "--cores", "2", "data_downscale", config=small)
    assert result.returncode == 0, result.stderr[-3000:]
    lr = sorted((tmp_path / "results/data/hr_bicubic_x4").iterdir())
    assert lr and all(path.suffix == ".png" for path in lr)
    hr = sorted(path.stem for path in (tmp_path / "results/data/hr").iterdir())
    assert [path.stem for path in lr] == hr
    assert all((tmp_path / f"logs/data/prepare/hr/{stem}.log").is_file() for stem in hr)
    assert all((tmp_path / f"benchmarks/data/prepare/hr/{stem}.tsv").is_file() for stem in hr)
    again = snakemake(tmp_path, "-n", "data_downscale", config=small)
    assert "Nothing to be done" in again.stdout + again.stderr
