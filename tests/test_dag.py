"""The whole DAG on a tiny config: it writes results/fid.csv, and a config change re-runs exactly
the stage it belongs to and what depends on it."""

from __future__ import annotations

import base64
import csv
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO, planned_jobs, run_snakemake, workflow_env
from test_readme import readme_commands
from rwsr.sr.upscale import load_generator
from rwsr.train.checkpoint import load_checkpoint

# Every stage at toy size: a few seconds each on a CPU.
TINY = {
    "data": {"demo": {"crop": 128, "max_crops_per_photo": 1}},
    "kernels": {"iterations": 20},  # KernelGAN's, where a test switches to it (the default is the spectral fit)
    "degrader": {"iterations": 6, "crop": 24, "batch": 2},
    "pairs": {"tile": 64},
    "sr": {"blocks": 1, "features": 8, "growth": 4, "crop": 32, "batch": 2, "psnr_iterations": 4,
           "psnr_milestones": [2], "gan_iterations": 2, "gan_milestones": [1], "checkpoint_interval": 2,
           "log_interval": 1, "sample_interval": 2, "vgg_weights": "random"},
    "evaluate": {"crop_size": 32, "crop_count": 10, "batch_size": 10},
}


def readme_snakemake(prefix: str) -> list[str]:
    """The arguments of the README's snakemake command that starts with `prefix` (after any `pip install ... &&`)."""
    command = next(command for command in readme_commands() if command.split("&&")[-1].strip().startswith(prefix))
    return shlex.split(command.split("&&")[-1])[1:]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """The README's demo command, as written (`--cores all`: both cores here), on the tiny config."""
    workdir = tmp_path_factory.mktemp("dag")
    result = run_snakemake(workdir, *readme_snakemake("snakemake --cores"), config=TINY)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


def report_files(report: Path) -> dict[str, bytes]:
    """Path -> content of every file Snakemake embedded in a report.html."""
    results = json.loads(re.search(r"var results = (\{.*?\});\n", report.read_text(), re.S).group(1))
    return {path: base64.b64decode(entry["data_uri"].split("base64,", 1)[1]) for path, entry in results.items()}


def test_the_readme_report_shows_the_score_table_and_the_figures(finished_run):
    result = run_snakemake(finished_run, *readme_snakemake("snakemake --report"), config=TINY)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    files = report_files(finished_run / "report.html")
    assert files["results/fid.csv"] == (finished_run / "results/fid.csv").read_bytes()
    assert b"pipeline" in files["results/fid.csv"] and b"oracle-pairs" in files["results/fid.csv"]
    figures = {"results/evaluate/kernels.png", "results/evaluate/degradation.png", "results/evaluate/comparison.png",
               "results/evaluate/loss_curves.png"}  # fmt: skip
    assert figures <= set(files), sorted(files)
    for path in figures:
        assert files[path] == (finished_run / path).read_bytes(), path
    # Every image in the report is large enough to read (at least 512 pixels wide).
    for path, content in files.items():
        if path.endswith(".png"):
            image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)
            assert image.shape[1] >= 512, (path, image.shape)
    # The landing text says what the run did and how to read the table.
    landing = re.search(r'var workflow_desc = "(.*?)";', (finished_run / "report.html").read_text(), re.S).group(1)
    assert "the spectral estimator" in landing and "bicubic-pairs" in landing and "oracle-pairs" in landing


def test_the_readme_pairs_example_plans_pairs_sr_and_evaluate_only(finished_run):
    result = run_snakemake(finished_run, *readme_snakemake("snakemake -n results/fid.csv --config pairs="), config=TINY)
    jobs = planned_jobs(result)
    assert jobs["pairs_make"] == 1 and set(jobs) <= {"pairs_make", "sr_train", "sr_upscale", "evaluate_score",
                                                     "evaluate_table"}, jobs  # fmt: skip


def test_the_readme_make_pairs_command_runs_on_a_finished_run(finished_run, tmp_path):
    (command,) = [command for command in readme_commands() if command.startswith("rwsr make-pairs")]
    workdir = copy_of(finished_run, tmp_path)
    shutil.copy(REPO / "config.yaml", workdir)
    words = [str(tmp_path / "pairs") if word == "/tmp/pairs" else word for word in shlex.split(command)]
    result = subprocess.run(words, cwd=workdir, capture_output=True, text=True, timeout=600, env=workflow_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "pairs/pairs.csv").is_file() and any((tmp_path / "pairs/lr").iterdir())


def readme_section_lines(title: str) -> list[str]:
    """The command lines of the ```bash blocks under one README heading, exactly as written."""
    section = (REPO / "README.md").read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_trained_model_commands_run_on_a_finished_run(finished_run, tmp_path):
    """"Using your trained model", command by command, in a copy of the finished run whose
    config.yaml is the tiny one (so the fine-tuning takes seconds)."""
    workdir = copy_of(finished_run, tmp_path)
    shutil.copy(workdir / "test-config.yaml", workdir / "config.yaml")
    lines = readme_section_lines("Using your trained model")
    assert any(line.startswith("rwsr export") for line in lines) and any("init_weights" in line for line in lines)
    for line in lines:
        result = subprocess.run(line, shell=True, cwd=workdir, capture_output=True, text=True, timeout=600,
                                env=workflow_env())  # fmt: skip
        assert result.returncode == 0, (line, result.stderr[-3000:])
    assert cv2.imread(str(workdir / "coffee_0_x4.png")).shape[0] == 4 * cv2.imread(str(workdir / "results/data/val_lr/coffee_0.png")).shape[0]
    assert sorted(p.name for p in (workdir / "upscaled").iterdir()) == sorted(p.name for p in (workdir / "results/data/val_lr").iterdir())
    photos = sorted(p.name for p in (workdir / "my_photos").iterdir())
    assert photos and all(name.endswith("_x4.png") or f"{name[:-4]}_x4.png" in photos for name in photos)
    assert "params_ema" in torch.load(workdir / "esrgan_pipeline_x4.pth", weights_only=True)
    assert "init_weights: esrgan_pipeline_x4.pth" in (workdir / "finetune.yaml").read_text()
    _, meta = load_generator(workdir / "results/finetune/generator.pt")
    assert meta["settings"]["init_weights"] == "esrgan_pipeline_x4.pth"


def test_the_demo_dag_writes_a_row_for_every_model_variant_and_generator(finished_run):
    rows = list(csv.DictReader((finished_run / "results/fid.csv").open()))
    assert {(row["model"], row["variant"], row["generator"]) for row in rows} == {
        ("esrgan", variant, generator) for variant in ("pipeline", "bicubic-pairs", "oracle-pairs")
        for generator in ("psnr", "final")
    } | {("bicubic", "bicubic-upscale", "none")}
    for row in rows:
        assert float(row["fid"]) >= 0 and row["backbone"] == "random" and row["kid"] not in ("", "nan")
        assert float(row["psnr_y"]) > 10 and row["crop_count"] == "10" and float(row["hf_ratio"]) >= 0
        # Offline: LPIPS has a random AlexNet, so no number; only final generators met the VGG19.
        assert row["lpips_backbone"] == "random" and row["lpips"] == ""
        assert row["vgg_backbone"] == ("random" if row["generator"] == "final" else "none")
        assert row["reference"] == "results/data/val_hr"  # validation ground truth, not the training scenes
    for pair_set in ("pairs", "pairs_bicubic", "pairs_oracle"):
        fidelity = {row["quantity"]: row for row in csv.DictReader((finished_run / f"results/{pair_set}/fidelity.csv").open())}
        assert float(fidelity["noise_sigma"]["real"]) > 0 and float(fidelity["high_frequency_energy"]["ratio"]) > 0
    pipeline = {row["quantity"] for row in csv.DictReader((finished_run / "results/pairs/fidelity.csv").open())}
    assert "kernel_error_mean" in pipeline  # the demo knows its hidden kernels


def most_jobs_at_once(log: Path, rule: str) -> int:
    """The most jobs of `rule` that were running at the same time, from Snakemake's log of a run."""
    running, peak, job_rules = set(), 0, {}
    for match in re.finditer(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)|^Finished jobid: (\d+)", log.read_text(), re.M):
        started_rule, started, finished = match.groups()
        if started:
            job_rules[started] = started_rule
            running.add(started)
        else:
            running.discard(finished)
        peak = max(peak, sum(job_rules[job] == rule for job in running))
    return peak


def test_on_two_cpu_cores_the_kernelgan_jobs_run_side_by_side(finished_run, tmp_path):
    # KernelGAN declares a GPU; without one, nothing holds its per-image jobs to one at a time.
    if torch.cuda.is_available():
        pytest.skip("with a GPU, the workflow profile runs one GPU job at a time")
    workdir = copy_of(finished_run, tmp_path)
    kernels = sorted(str(path.relative_to(workdir)) for path in (workdir / "results/kernels").glob("*/kernel_x4.npy"))
    kernelgan = {**TINY, "kernels": {**TINY["kernels"], "estimator": "kernelgan"}}
    result = run_snakemake(workdir, "--cores", "2", "--forcerun", "kernels_estimate", "--", *kernels, config=kernelgan)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))[-1]
    assert re.findall(r"^(?:local)?rule (\w+):", log.read_text(), re.M) == ["kernels_estimate"] * len(kernels)
    assert most_jobs_at_once(log, "kernels_estimate") == 2


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


def copy_of(finished_run, tmp_path):
    """A private copy of the finished run (outputs and Snakemake's records) for a test that runs jobs."""
    workdir = tmp_path / "run"
    shutil.copytree(finished_run, workdir, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    return workdir


def test_an_sr_setting_change_really_retrains(finished_run, tmp_path):
    """Not a dry run: the job must train again from step 1, not pick up the finished run's state."""
    workdir = copy_of(finished_run, tmp_path)
    out = workdir / "results/sr/esrgan/pipeline"
    before, _ = load_generator(out / "generator.pt")
    assert not (out / "checkpoint.pt").exists()
    changed = {**TINY, "sr": {**TINY["sr"], "pixel_weight": 0.5}}
    result = run_snakemake(workdir, "--cores", "1", "results/sr/esrgan/pipeline/generator.pt", config=changed)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = list(csv.DictReader((out / "loss.csv").open()))
    assert [int(row["step"]) for row in rows] == list(range(1, 7))
    after, meta = load_generator(out / "generator.pt")
    assert meta["settings"]["pixel_weight"] == 0.5
    assert any(not torch.equal(value, after.state_dict()[key]) for key, value in before.state_dict().items())
    # The superseded generator is kept (trained/<settings hash>/), the new one beside it.
    kept = sorted((out / "trained").glob("*/generator.pt"))
    assert len(kept) == 2 and {path.name for path in (out / "trained").glob("*/*")} == {"generator.pt", "generator_psnr.pt"}
    kept_weights = [load_generator(path)[0].state_dict() for path in kept]
    assert any(all(torch.equal(value, weights[key]) for key, value in before.state_dict().items()) for weights in kept_weights)
    assert not (out / "checkpoint.pt").exists()


def test_a_degrader_setting_change_really_retrains(finished_run, tmp_path):
    workdir = copy_of(finished_run, tmp_path)
    model = workdir / "results/degrader/dsgan.pt"
    before = load_checkpoint(model)["generator"]
    # The GAN weight: the demo's noise residual has no colour loss, so weight_color would not move it.
    changed = {**TINY, "degrader": {**TINY["degrader"], "weight_gan": 0.5}}
    result = run_snakemake(workdir, "--cores", "1", "results/degrader/dsgan.pt", config=changed)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    after = load_checkpoint(model)
    assert after["settings"]["weight_gan"] == 0.5 and after["step"] == TINY["degrader"]["iterations"]
    assert any(not torch.equal(value, after["generator"][key]) for key, value in before.items())
    kept = [load_checkpoint(path)["generator"] for path in sorted((model.parent / "trained").glob("*/dsgan.pt"))]
    assert len(kept) == 2 and any(all(torch.equal(value, net[key]) for key, value in before.items()) for net in kept)
    steps = [int(row["step"]) for row in csv.DictReader((workdir / "results/degrader/log.csv").open())]
    assert steps[0] <= 10 and steps[-1] == TINY["degrader"]["iterations"]
    assert not list(model.parent.glob("*.resume.pt"))


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
