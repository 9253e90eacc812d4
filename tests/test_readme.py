"""The README never lies about set-up: .ci/run runs the README's test command verbatim."""

from __future__ import annotations

import re

from conftest import REPO


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("pip install")]


def test_ci_runs_the_readme_test_command():
    commands = readme_commands()
    test_command = next(command for command in commands if "[test]" in command and "pytest" in command)
    ci_lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    assert test_command in ci_lines


def test_readme_has_a_demo_command_that_builds_the_score_table():
    assert any("snakemake" in command and "results/fid.csv" in command for command in readme_commands())
