"""The whole DAG on a tiny config: it writes results/fid.csv, and a config change re-runs exactly
the stage it belongs to and what depends on it."""

from __future__ import annotations

import csv

import pytest

from conftest import planned_jobs, run_snakemake

# Every stage at toy size: a few seconds each on a CPU.
TINY = {
    "data": {"demo": {"crop": 128, "max_crops_per_photo": 1}},
    "kernels": {"iterations": 20},
    "degrader": {"iterations": 6, "crop": 24, "batch": 2},
    "pairs": {"tile": 64},
    "sr": {"blocks": 1, "features": 8, "growth": 4, "crop": 32, "batch": 2, "psnr_iterations": 4,
           "psnr_milestones": [2], "gan_iterations": 2, "gan_milestones": [1], "checkpoint_interval": 2,
           "log_interval": 1, "sample_interval": 2, "vgg_weights": "random"},
    "evaluate": {"crop_size": 32, "crop_count": 10, "batch_size": 10},
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("dag")
    result = run_snakemake(workdir, "--cores", "2", "results/fid.csv", config=TINY)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


def test_the_demo_dag_writes_a_row_for_every_model_variant_and_generator(finished_run):
    rows = list(csv.DictReader((finished_run / "results/fid.csv").open()))
    assert {(row["model"], row["variant"], row["generator"]) for row in rows} == {
        ("esrgan", variant, generator) for variant in ("pipeline", "bicubic-pairs", "oracle-pairs")
        for generator in ("psnr", "final")
    } | {("bicubic", "bicubic-upscale", "none")}
    for row in rows:
        assert float(row["fid"]) >= 0 and row["inception_weights"] == "random"
        assert float(row["psnr_y"]) > 10 and row["crop_count"] == "10" and float(row["hf_ratio"]) >= 0
    for pair_set in ("pairs", "pairs_bicubic", "pairs_oracle"):
        fidelity = {row["quantity"]: row for row in csv.DictReader((finished_run / f"results/{pair_set}/fidelity.csv").open())}
        assert float(fidelity["noise_sigma"]["real"]) > 0 and float(fidelity["high_frequency_energy"]["ratio"]) > 0
    pipeline = {row["quantity"] for row in csv.DictReader((finished_run / "results/pairs/fidelity.csv").open())}
    assert "kernel_error_mean" in pipeline  # the demo knows its hidden kernels


def test_an_unchanged_config_has_nothing_to_do(finished_run):
    result = run_snakemake(finished_run, "-n", "results/fid.csv", config=TINY)
    assert planned_jobs(result) == {}, result.stdout[-2000:]


def test_changing_pairs_noise_reruns_pairs_and_downstream_only(finished_run):
    changed = {**TINY, "pairs": {**TINY["pairs"], "noise": "none"}}
    result = run_snakemake(finished_run, "-n", "results/fid.csv", config=changed)
    jobs = planned_jobs(result)
    assert jobs == {"pairs_make": 1, "sr_train": 1, "sr_upscale": 2, "evaluate_score": 2, "evaluate_table": 1}, jobs
    assert "results/sr/esrgan/pipeline/generator.pt" in result.stdout
    assert "bicubic-pairs/generator.pt" not in result.stdout


def test_switching_the_sr_model_reruns_sr_and_evaluation_only(finished_run):
    changed = {**TINY, "sr": {**TINY["sr"], "model": "bebygan"}}
    result = run_snakemake(finished_run, "-n", "results/fid.csv", config=changed)
    jobs = planned_jobs(result)
    assert jobs == {"sr_train": 3, "sr_upscale": 6, "evaluate_score": 6, "evaluate_table": 1}, jobs


def test_a_bebygan_only_key_leaves_the_esrgan_trainings_alone(finished_run):
    changed = {**TINY, "sr": {**TINY["sr"], "best_buddy_weight": 0.5, "mask_window": 7}}
    result = run_snakemake(finished_run, "-n", "results/fid.csv", config=changed)
    assert planned_jobs(result) == {}, result.stdout[-2000:]


def test_an_esrgan_loss_key_retrains_every_variant(finished_run):
    changed = {**TINY, "sr": {**TINY["sr"], "pixel_weight": 0.5}}
    result = run_snakemake(finished_run, "-n", "results/fid.csv", config=changed)
    jobs = planned_jobs(result)
    assert jobs == {"sr_train": 3, "sr_upscale": 6, "evaluate_score": 6, "evaluate_table": 1}, jobs


def test_changing_the_tiling_reruns_upscaling_and_not_training(finished_run):
    changed = {**TINY, "sr": {**TINY["sr"], "tile": 16}}
    result = run_snakemake(finished_run, "-n", "results/fid.csv", config=changed)
    jobs = planned_jobs(result)
    assert jobs == {"sr_upscale": 6, "evaluate_score": 6, "evaluate_table": 1}, jobs


def test_changing_the_degraders_source_reruns_the_pipeline_branch_only(finished_run):
    changed = {**TINY, "degrader": {**TINY["degrader"], "source": "bicubic"}, "pairs": {**TINY["pairs"], "kernel": "bicubic"}}
    result = run_snakemake(finished_run, "-n", "results/fid.csv", config=changed)
    jobs = planned_jobs(result)
    assert jobs == {"data_downscale": 1, "degrader_train": 1, "pairs_make": 1, "sr_train": 1, "sr_upscale": 2,
                    "evaluate_score": 2, "evaluate_table": 1}, jobs  # fmt: skip


def test_a_degrader_source_that_disagrees_with_the_pairs_blur_is_refused(finished_run):
    changed = {**TINY, "degrader": {**TINY["degrader"], "source": "bicubic"}}
    result = run_snakemake(finished_run, "-n", "results/fid.csv", config=changed)
    assert result.returncode != 0 and "degrader.source" in result.stdout + result.stderr
