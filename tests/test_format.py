"""The Snakemake files are formatted by snakefmt, with the settings in pyproject.toml ([tool.snakefmt])."""

from __future__ import annotations

import shutil
import subprocess

from conftest import REPO


def test_snakemake_files_are_snakefmt_clean():
    snakefmt = shutil.which("snakefmt")
    assert snakefmt, 'snakefmt is not installed: pip install -e ".[test]"'
    result = subprocess.run([snakefmt, "--check", "--diff", "Snakefile", "workflow/rules"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
