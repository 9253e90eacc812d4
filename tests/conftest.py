"""Shared test fixtures."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def offline_torch_home(tmp_path_factory, monkeypatch):
    """Each test sees an empty torch cache unless it writes weight files into it, so no test
    silently depends on pretrained weights the machine happens to have."""
    home = tmp_path_factory.mktemp("torch_home")
    monkeypatch.setenv("TORCH_HOME", str(home))
    yield home


def cache_published_weights(url: str, build, seed: int):
    """A seeded torchvision model of the published file's exact format, saved where torch.hub
    caches `url` (the test's own TORCH_HOME): stands in for weights that cannot be downloaded."""
    import torch

    from rwsr.nn.pretrained import cache_path

    torch.manual_seed(seed)
    model = build(weights=None)
    path = cache_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model, path


@pytest.fixture
def one_torch_thread():
    """One torch thread for compute-heavy tests: the test machine's two cores are shared with
    subprocesses, and oversubscribed OpenMP threads spin instead of working."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def repo() -> Path:
    return REPO


def workflow_env() -> dict[str, str]:
    """Environment for running snakemake / rwsr as subprocesses."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = deep_merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def run_snakemake(workdir: Path, *args: str, config: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in `workdir` with config.yaml overlaid by `config`."""
    config_path = workdir / "test-config.yaml"
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    config_path.write_text(yaml.safe_dump(deep_merge(base, config or {})))
    command = ["snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(config_path), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=workflow_env())


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    lines = result.stdout.splitlines()
    if "Job stats:" not in lines:
        return {}
    jobs = {}
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs
