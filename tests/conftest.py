"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def offline_torch_home(tmp_path_factory, monkeypatch):
    """Each test sees an empty torch cache unless it writes weight files into it, so no test
    silently depends on pretrained weights the machine happens to have."""
    home = tmp_path_factory.mktemp("torch_home")
    monkeypatch.setenv("TORCH_HOME", str(home))
    yield home


@pytest.fixture
def repo() -> Path:
    return REPO


def workflow_env() -> dict[str, str]:
    """Environment for running snakemake / rwsr as subprocesses."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
