"""The README never lies: every shell command in its ```bash blocks is run by a test, as written,
against the tiny config (or dry-run, for the cluster commands), or named with the test that covers
it. A command added to the README without an entry in COVERED fails here."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib

import pytest

from conftest import REPO, run_snakemake, workflow_env

# How each README command is checked:
#   RUN      run as written here, in an empty folder holding config.yaml;
#   DRY_RUN  a snakemake command dry-run here (-n added) on the tiny config: its arguments parse and
#            its DAG builds, profiles included (the cluster needs SLURM to run it for real);
#   "tests/<file>.py::<name>"  the test (or fixture) that runs it, or checks what it relies on.
RUN, DRY_RUN = "run", "dry-run"
TRAINED_MODEL = "tests/test_dag.py::test_the_readme_trained_model_commands_run_on_a_finished_run"
COVERED = {
    "pip install -e . && snakemake --cores all": "tests/test_dag.py::finished_run",
    'pip install -e ".[test]" && pytest': "tests/test_readme.py::test_ci_runs_the_readme_test_command",
    "snakemake --report report.html": "tests/test_dag.py::test_the_readme_report_shows_the_score_table_and_the_figures",
    "snakemake -n --config scale=3": "tests/test_readme.py::test_the_readme_config_error_example_prints_what_it_shows",
    "snakemake -n results/fid.csv --config pairs='{noise: patches}'":
        "tests/test_dag.py::test_the_readme_pairs_example_plans_pairs_sr_and_evaluate_only",
    "rwsr --help": RUN,
    "rwsr demo-data --outdir results/data/demo --config config.yaml": RUN,
    "rwsr make-pairs --hr results/data/hr --real-lr results/data/real_lr --real-lr-manifest results/data/real_lr.csv"
    " --kernel-pool results/kernels/pool.npz --degrader results/degrader/dsgan.pt --outdir /tmp/pairs --config config.yaml":
        "tests/test_dag.py::test_the_readme_make_pairs_command_runs_on_a_finished_run",
    'pip install -e ".[slurm]"': "tests/test_readme.py::test_the_readme_install_extras_exist",
    "export RWSR_SLURM_PARTITION=gpu":
        "tests/test_slurm.py::test_slurm_profile_takes_partition_and_account_from_the_environment",
    "export RWSR_SLURM_ACCOUNT=proj123":
        "tests/test_slurm.py::test_slurm_profile_takes_partition_and_account_from_the_environment",
    "snakemake --profile profiles/slurm results/fid.csv": DRY_RUN,
    "snakemake --profile profiles/slurm results/fid.csv --set-resources sr_train:runtime=2880 sr_train:mem_mb=32000":
        DRY_RUN,
    # Building a conda environment needs conda and the network; the test checks that the env file
    # installs this checkout from where Snakemake builds it.
    "snakemake --profile profiles/slurm --sdm conda --conda-prefix /shared/conda-envs --conda-create-envs-only":
        "tests/test_environment.py::test_conda_environment_installs_this_checkout_from_where_snakemake_builds_it",
    "snakemake --profile profiles/slurm --sdm conda --conda-prefix /shared/conda-envs results/fid.csv":
        "tests/test_environment.py::test_conda_environment_installs_this_checkout_from_where_snakemake_builds_it",
    "snakemake --cores 8 results/fid.csv": DRY_RUN,
    # "Using your trained model", run line by line on a finished run (whitespace collapsed here).
    'rwsr upscale --model results/sr/esrgan/pipeline/generator.pt --input results/data/val_lr/coffee_0.png --output coffee_0_x4.png': TRAINED_MODEL,
    'rwsr upscale --model results/sr/esrgan/pipeline/generator.pt --input results/data/val_lr --output upscaled': TRAINED_MODEL,
    'mkdir -p my_photos && cp results/data/val_lr/*.png my_photos/': TRAINED_MODEL,
    'rwsr upscale --model results/sr/esrgan/pipeline/generator.pt --input my_photos --output my_photos --suffix _x4': TRAINED_MODEL,
    'rwsr export --model results/sr/esrgan/pipeline/generator.pt --format basicsr --output esrgan_pipeline_x4.pth': TRAINED_MODEL,
    "sed 's|^ init_weights: null| init_weights: esrgan_pipeline_x4.pth|' config.yaml > finetune.yaml": TRAINED_MODEL,
    'rwsr train-sr --pairs results/pairs --outdir results/finetune --config finetune.yaml': TRAINED_MODEL,
}  # fmt: skip


def readme_commands() -> list[str]:
    """Every command line of the README's ```bash blocks: continuation lines joined, trailing
    comments and comment-only lines dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(" ".join(line.split()))
    return commands


def commands_checked_by(way: str) -> list[str]:
    return [command for command, check in COVERED.items() if check == way]


def test_every_readme_command_is_covered_by_a_test_that_exists():
    commands = readme_commands()
    uncovered = [command for command in commands if command not in COVERED]
    assert not uncovered, f"README commands no test runs; add each to COVERED in {__file__}: {uncovered}"
    stale = [command for command in COVERED if command not in commands]
    assert not stale, f"COVERED names commands the README no longer shows: {stale}"
    for check in set(COVERED.values()) - {RUN, DRY_RUN}:
        path, name = check.split("::")
        assert re.search(rf"^def {name}\(", (REPO / path).read_text(), re.M), f"{check} does not exist"


@pytest.mark.parametrize("command", commands_checked_by(RUN))
def test_readme_command_runs_as_written(tmp_path, command):
    shutil.copy(REPO / "config.yaml", tmp_path)
    result = subprocess.run(shlex.split(command), cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env=workflow_env())  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("command", commands_checked_by(DRY_RUN))
def test_readme_snakemake_command_plans_the_dag(tmp_path, command):
    from test_dag import TINY

    words = shlex.split(command)
    assert words[0] == "snakemake"
    profile = [str(REPO / word) if word.startswith("profiles/") else word for word in words[1:]]
    result = run_snakemake(tmp_path, "-n", *profile, config=TINY)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "sr_train" in result.stdout and "This was a dry-run" in result.stdout


def test_the_readme_config_error_example_prints_what_it_shows(tmp_path):
    readme = (REPO / "README.md").read_text()
    shown = re.search(r"snakemake -n --config scale=3\n# invalid config:\n#\s+(.*)\n", readme).group(1)
    result = run_snakemake(tmp_path, *shlex.split("-n --config scale=3"))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "invalid config:" in output and shown in output, output[-2000:]
    assert not (tmp_path / "results").exists()


def test_ci_runs_the_readme_test_command():
    test_command = next(command for command in readme_commands() if "[test]" in command and "pytest" in command)
    ci_lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    assert test_command in ci_lines


def test_the_readme_install_extras_exist():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = {extra for command in readme_commands() for extra in re.findall(r'pip install -e "\.\[(\w+)\]"', command)}
    assert named and named <= set(extras), (named, set(extras))
    assert any(req.startswith("snakemake-executor-plugin-slurm") for req in extras["slurm"])

