"""Software deployment: envs/rwsr.yaml installs what pyproject.toml declares, and every rule names it
in `conda:` and keeps its own log and benchmark files (the cluster and `--sdm conda` rely on both)."""

from __future__ import annotations

import re
import subprocess
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO, workflow_env

ENV_FILE = REPO / "envs" / "rwsr.yaml"
RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


@dataclass(frozen=True)
class RuleBlock:
    """One `rule NAME:` block of a rule file, its directives as raw text (`{"log": '"logs/x.log",'}`)."""

    name: str
    path: Path
    directives: dict[str, str]

    def value(self, directive: str) -> str:
        """The directive's first quoted string (the file or path it names), or "" when it has none."""
        match = re.search(r"""(["'])(.*?)\1""", self.directives.get(directive, ""))
        return match.group(2) if match else ""


def rule_blocks(path: Path) -> list[RuleBlock]:
    """The rules of a Snakemake file, read by indentation: the style puts every directive on its own
    line, one level under `rule NAME:`, with its value on the lines below (rules may sit under an `if`)."""
    lines = path.read_text().splitlines()
    blocks = []
    for start, line in enumerate(lines):
        header = re.match(r"^(\s*)rule\s+(\w+)\s*:", line)
        if not header:
            continue
        indent = len(header.group(1))
        directives: dict[str, str] = {}
        current = None
        for body in lines[start + 1 :]:
            if not body.strip() or body.strip().startswith("#"):
                continue
            depth = len(body) - len(body.lstrip())
            if depth <= indent:
                break
            directive = re.match(r"^\s*(\w+)\s*:(.*)$", body)
            if directive and (current is None or depth <= directives[current][1]):
                current = directive.group(1)
                directives[current] = (directive.group(2).strip(), depth)
            elif current is not None:
                text, level = directives[current]
                directives[current] = (f"{text}\n{body.strip()}".strip(), level)
        blocks.append(RuleBlock(header.group(2), path, {key: text for key, (text, _) in directives.items()}))
    return blocks


def all_rules() -> list[RuleBlock]:
    return [block for path in RULE_FILES for block in rule_blocks(path)]


def gpu_rules() -> set[str]:
    """Rules that declare a GPU (resources gpu=...): the ones that ask SLURM for one."""
    return {rule.name for rule in all_rules() if re.search(r"\bgpu\s*=", rule.directives.get("resources", ""))}


def local_rules() -> set[str]:
    """Rules named in a `localrules:` directive of the Snakefile or a rule file."""
    names = set()
    for path in [REPO / "Snakefile", *RULE_FILES]:
        for block in re.findall(r"^localrules:\s*\n((?:[ \t]+\w+,?\s*\n)+)", path.read_text(), re.M):
            names |= set(re.findall(r"\w+", block))
    return names


def normalised(requirements: list[str]) -> dict[str, str]:
    """{canonical name: specifier} so that spelling (Opencv_Python vs opencv-python) does not matter."""
    parsed = [Requirement(text) for text in requirements]
    return {canonicalize_name(req.name): str(req.specifier) for req in parsed}


def conda_requirements() -> tuple[dict[str, str], str]:
    """The pip-installable requirements of envs/rwsr.yaml, and its python pin."""
    env = yaml.safe_load(ENV_FILE.read_text())
    plain = [dep for dep in env["dependencies"] if isinstance(dep, str)]
    pip_sections = [dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict) and "pip" in dep]
    python = next((dep.removeprefix("python").strip() for dep in plain if re.match(r"python\b", dep)), "")
    # conda packages other than python/pip count as requirements too (conda's `=` pin is pip's `==`).
    conda_side = [re.sub(r"(?<![<>=!])=(?!=)", "==", dep) for dep in plain if not re.match(r"(python|pip)\b", dep)]
    pip_side = [dep for section in pip_sections for dep in section if not dep.startswith("-")]
    return normalised(conda_side + pip_side), python


def test_conda_environment_installs_the_pyproject_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    installed, python = conda_requirements()
    declared = normalised(project["dependencies"])
    missing = {name: spec for name, spec in declared.items() if name not in installed}
    extra = {name: spec for name, spec in installed.items() if name not in declared}
    differing = {name: (declared[name], installed[name]) for name in declared.keys() & installed.keys()
                 if declared[name] != installed[name]}
    assert not missing, f"in pyproject.toml but not in {ENV_FILE.name}: {missing}"
    assert not extra, f"in {ENV_FILE.name} but not in pyproject.toml: {extra}"
    assert not differing, f"version pins differ (pyproject, env): {differing}"
    assert python == project["requires-python"], f"python {python!r} vs requires-python {project['requires-python']!r}"


def test_the_snakefile_requires_the_snakemake_that_pyproject_installs():
    declared = {Requirement(text).name: Requirement(text).specifier for text in
                tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}  # fmt: skip
    (minimum,) = re.findall(r'^min_version\("([\d.]+)"\)', (REPO / "Snakefile").read_text(), re.M)
    assert minimum in declared["snakemake"], (minimum, declared["snakemake"])


def checkout_seen_by_jobs(tmp_path: Path) -> str:
    """RWSR_CHECKOUT as the workflow exports it to what it starts (conda, post-deploy scripts, jobs),
    read by a probe rule of a Snakefile that includes ours from elsewhere, run from a third folder."""
    wrapper = tmp_path / "wrapper" / "Snakefile"
    wrapper.parent.mkdir()
    wrapper.write_text(f'include: "{REPO / "Snakefile"}"\n\n\nrule probe:\n    output:\n        "probe.txt",\n'
                       '    shell:\n        "echo $RWSR_CHECKOUT > {output}"\n')  # fmt: skip
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = subprocess.run(["snakemake", "-s", str(wrapper), "-d", str(workdir), "--configfile", str(REPO / "config.yaml"),
                             "--cores", "1", "probe"], capture_output=True, text=True, timeout=300, env=workflow_env())  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return (workdir / "probe.txt").read_text().strip()


def test_conda_environment_installs_this_checkout_from_where_snakemake_builds_it(tmp_path, monkeypatch):
    # Snakemake copies the env file to <conda-prefix>/<hash>.yaml and runs `conda env create` on the
    # copy; conda hands the pip section to pip as a requirements file in that folder and runs pip
    # there. The editable path must name this checkout from there, whatever the prefix.
    from pip._internal.network.session import PipSession
    from pip._internal.req.req_file import parse_requirements

    env = yaml.safe_load(ENV_FILE.read_text())
    pip_lines = [line for dep in env["dependencies"] if isinstance(dep, dict) for line in dep.get("pip", [])]
    prefix = tmp_path / "shared" / "conda-envs"
    prefix.mkdir(parents=True)
    (prefix / "0123abcd.yaml").write_text(ENV_FILE.read_text())
    requirements = prefix / "condaenv.requirements.txt"
    requirements.write_text("\n".join(pip_lines) + "\n")
    checkout = checkout_seen_by_jobs(tmp_path)
    monkeypatch.chdir(prefix)
    monkeypatch.setenv("RWSR_CHECKOUT", checkout)
    parsed = list(parse_requirements(str(requirements), session=PipSession()))
    editable = [Path(req.requirement).resolve() for req in parsed if req.is_editable]
    assert editable == [REPO], (pip_lines, checkout)


def test_the_rule_file_reader_sees_every_rule_snakemake_sees():
    result = subprocess.run(["snakemake", "--list-rules"], cwd=REPO, capture_output=True, text=True,
                            timeout=300, env=workflow_env())
    assert result.returncode == 0, result.stderr[-2000:]
    listed = set(result.stdout.split())
    read = {rule.name for rule in all_rules()} | {rule.name for rule in rule_blocks(REPO / "Snakefile")}
    # A rule file may exist before the Snakefile includes it; every included rule must be read.
    assert listed and listed <= read, f"rules the reader missed: {listed - read}"


def test_every_rule_names_the_shared_conda_environment():
    for rule in all_rules():
        conda = rule.value("conda")
        assert conda, f"rule {rule.name} ({rule.path.name}) has no conda: directive"
        assert (rule.path.parent / conda).resolve() == ENV_FILE, f"rule {rule.name} names {conda}"


def test_every_rule_has_its_own_log_and_benchmark_under_its_stage():
    seen_logs: dict[str, str] = {}
    for rule in all_rules():
        stage = rule.path.stem
        log, benchmark = rule.value("log"), rule.value("benchmark")
        assert log.startswith(f"logs/{stage}/"), f"rule {rule.name}: log {log!r} is not under logs/{stage}/"
        assert benchmark.startswith(f"benchmarks/{stage}/"), (
            f"rule {rule.name}: benchmark {benchmark!r} is not under benchmarks/{stage}/"
        )
        assert log not in seen_logs, f"rules {seen_logs.get(log)} and {rule.name} share the log {log}"
        seen_logs[log] = rule.name


def test_gpu_rules_ask_for_exactly_one_gpu():
    # profiles/default limits gpu to 1 and the SLURM plugin turns gpu=N into --gpus=N: a rule asking
    # for more would be silently cut to 1 locally while holding N GPUs on the cluster. Every GPU rule
    # asks through common.smk's GPU_JOB: 1, or 0 under device: cpu.
    for rule in all_rules():
        for value in re.findall(r"\bgpu\s*=\s*([^,\s]+)", rule.directives.get("resources", "")):
            assert value == "GPU_JOB", f"rule {rule.name} asks for gpu={value}"


def test_rule_file_reader_reads_directives_and_nested_rules(tmp_path):
    smk = tmp_path / "demo.smk"
    smk.write_text(textwrap.dedent("""\
        if True:

            rule demo_a:
                output:
                    "a",
                log:
                    "logs/demo/a.log",
                resources:
                    gpu=1,
                shell:
                    "x"


        rule demo_b:
            output:
                table="b",
                lr=directory("c"),
            conda:
                "../envs/x.yaml"
        """))
    first, second = rule_blocks(smk)
    assert (first.name, first.value("log"), first.value("benchmark")) == ("demo_a", "logs/demo/a.log", "")
    assert "gpu=1" in first.directives["resources"]
    assert (second.name, second.value("conda")) == ("demo_b", "../envs/x.yaml")
    assert set(second.directives) == {"output", "conda"}
