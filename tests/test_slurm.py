"""Cluster submission through profiles/slurm, on a real single-node SLURM started on localhost
(munged, slurmctld, slurmd as background processes), checked against a local run of the same DAG;
and how the workflow profile (profiles/default) combines with --profile.

The cluster tests skip, saying why, where SLURM cannot run: .ci/setup-slurm.sh installs Debian's
slurm-wlm and munge when it can, and the daemons need root.
"""

from __future__ import annotations

import ast
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO, workflow_env
from test_environment import gpu_rules, local_rules

SLURM_PROFILE = REPO / "profiles" / "slurm"
WORKFLOW_PROFILE = REPO / "profiles" / "default"
SLURM_TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scontrol", "scancel")
# A second, non-default partition: jobs landing there prove RWSR_SLURM_PARTITION reached sbatch.
PARTITION = "rwsr"
# Settings only this test needs. The private cluster has no accounting database, so sacct cannot
# answer and squeue (finished jobs stay listed for MinJobAge) reports job states; status checks
# start after 1 s instead of 40 s; successful jobs keep their SLURM logs for the assertions.
TEST_ONLY_FLAGS = (
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "1",
    "--slurm-keep-successful-logs",
)


# ---------------------------------------------------------------------------------------------
# How the profiles combine (no cluster needed)


def effective_arguments(workdir: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    """The settings snakemake would run with, after merging --profile and the workflow profile,
    read from snakemake's own argument parser in a fresh process."""
    probe = textwrap.dedent("""
        import json, sys
        from snakemake.cli import parse_args

        _, args = parse_args(sys.argv[1:])

        def text(resources):
            return None if resources is None else {k: str(getattr(v, "raw", v)) for k, v in dict(resources).items()}

        print(json.dumps({
            "executor": args.executor, "cores": args.cores, "jobs": args.jobs,
            "resources": text(args.resources), "scopes": text(args.set_resource_scopes),
            "default_resources": text(args.default_resources),
            "rerun_incomplete": args.rerun_incomplete, "latency_wait": args.latency_wait, "retries": args.retries,
        }))
    """)
    result = subprocess.run([sys.executable, "-c", probe, "-s", str(REPO / "Snakefile"), *args], cwd=workdir,
                            capture_output=True, text=True, timeout=120, env=env or workflow_env())
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_slurm_profile_keeps_its_settings_under_the_workflow_profile(tmp_path):
    env = {key: value for key, value in workflow_env().items() if not key.startswith("RWSR_SLURM_")}
    settings = effective_arguments(tmp_path, "--profile", str(SLURM_PROFILE), env=env)
    assert settings["executor"] == "slurm"
    # A local core count would cap every cluster job's threads (snakemake constrains threads by
    # --cores even for remote jobs): the workflow profile must not set one.
    assert settings["cores"] is None
    assert settings["jobs"] >= 10
    assert settings["rerun_incomplete"] is True and settings["latency_wait"] >= 30
    defaults = settings["default_resources"]
    assert int(defaults["mem_mb"]) >= 1000 and int(defaults["cpus_per_gpu"]) >= 1
    # A job that hits its time limit is submitted again, with more time, and a training resumes:
    # SLURM sends SIGTERM ahead of the limit, on which rwsr writes a checkpoint.
    runtime = [eval(defaults["runtime"], {"attempt": attempt}) for attempt in (1, 2)]
    assert runtime[0] >= 30 and runtime[1] > runtime[0] and settings["retries"] >= 1
    assert re.fullmatch(r"--signal=TERM@\d+", ast.literal_eval(defaults["slurm_extra"]))
    assert "slurm_partition" not in defaults and "slurm_account" not in defaults
    # The local GPU limit (where torch sees CUDA) still comes through, but scoped per submitted job:
    # no cluster-wide cap.
    assert settings["resources"] == local_gpu_limit() and settings["scopes"] == {"gpu": "local"}


def test_slurm_profile_takes_partition_and_account_from_the_environment(tmp_path):
    env = {**workflow_env(), "RWSR_SLURM_PARTITION": "gpu-short", "RWSR_SLURM_ACCOUNT": "12345"}
    defaults = effective_arguments(tmp_path, "--profile", str(SLURM_PROFILE), env=env)["default_resources"]
    # Resource values are Python expressions: the names must arrive as string literals (an account
    # number must not turn into an int, a partition name must not be evaluated as a variable).
    assert ast.literal_eval(defaults["slurm_partition"]) == "gpu-short"
    assert ast.literal_eval(defaults["slurm_account"]) == "12345"


def local_gpu_limit() -> dict[str, str]:
    """The workflow profile's global resources on this machine: one GPU job at a time where torch
    sees CUDA, no limit otherwise (the GPU rules then run on the CPU, side by side)."""
    import torch

    return {"gpu": "1"} if torch.cuda.is_available() else {}


def test_local_runs_get_the_gpu_limit_only_with_a_gpu_and_no_executor(tmp_path):
    settings = effective_arguments(tmp_path)
    assert settings["executor"] is None and settings["default_resources"] is None
    assert settings["resources"] == local_gpu_limit()


@pytest.mark.parametrize("cuda", [True, False])
def test_the_workflow_profile_limits_gpu_jobs_exactly_when_torch_sees_cuda(monkeypatch, cuda):
    # The profile's template imports torch; a stand-in answers is_available() both ways on any machine.
    import types

    import yte

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: cuda))
    monkeypatch.setitem(sys.modules, "torch", fake)
    with (WORKFLOW_PROFILE / "config.yaml").open() as handle:
        profile = yte.process_yaml(handle, require_use_yte=True)
    assert profile.get("resources") == ({"gpu": 1} if cuda else None)
    assert profile["set-resource-scopes"] == {"gpu": "local"} and "cores" not in profile


GPU_TOY = """
rule all:
    input: "gpu_a.done", "gpu_b.done", "cpu.done"

rule gpu_a:
    output: "gpu_a.done"
    resources: gpu=1
    shell: "{GPU_A}"

rule gpu_b:
    output: "gpu_b.done"
    resources: gpu=1
    shell: "{GPU_B}"

rule cpu:
    output: "cpu.done"
    threads: 3
    shell: "touch {output}"
"""


def toy_workflow(workdir: Path, gpu_job: str) -> Path:
    """Two GPU rules running `gpu_job` (with {me}/{other} naming the two) and one 3-thread CPU rule."""
    jobs = {name: gpu_job.format(me=name, other=other).replace("{", "{{").replace("}", "}}")
            for name, other in (("gpu_a", "gpu_b"), ("gpu_b", "gpu_a"))}
    snakefile = workdir / "Snakefile"
    snakefile.write_text(GPU_TOY.replace("{GPU_A}", jobs["gpu_a"]).replace("{GPU_B}", jobs["gpu_b"]))
    return snakefile


def test_local_profile_runs_one_gpu_job_at_a_time_only_with_a_gpu(tmp_path):
    if local_gpu_limit():
        # Each GPU job holds a lock directory for a while; a second GPU job starting meanwhile fails on mkdir.
        job = "mkdir gpu.lock && sleep 2 && rmdir gpu.lock && touch {me}.done"
    else:
        # Without CUDA the jobs run on the CPU: each succeeds only if the other starts while it runs.
        job = ("touch {me}.started && for i in $(seq 100); do [ -e {other}.started ] && break; sleep 0.1; done"
               " && [ -e {other}.started ] && touch {me}.done")  # fmt: skip
    snakefile = toy_workflow(tmp_path, job)
    result = subprocess.run(["snakemake", "-s", str(snakefile), "--workflow-profile", str(WORKFLOW_PROFILE),
                             "--cores", "4"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env=workflow_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "gpu_a.done").exists() and (tmp_path / "gpu_b.done").exists()


# ---------------------------------------------------------------------------------------------
# A private single-node SLURM cluster


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]

    def run(self, *command: str, check: bool = True) -> str:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=self.env)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
        return result.stdout

    def jobs(self, run_id: str) -> list[dict[str, str]]:
        """What SLURM itself recorded for the jobs of one snakemake run (named after its run ID)."""
        records = []
        for line in self.run("scontrol", "show", "job", "--oneliner").splitlines():
            fields = dict(re.findall(r"(\w+(?:/\w+)?)=(\S*)", line))
            if fields.get("JobName") == run_id:
                records.append(fields)
        return records

    def snakemake(self, workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
        workdir.mkdir(parents=True, exist_ok=True)
        return subprocess.run(["snakemake", *args], cwd=workdir, capture_output=True, text=True,
                              timeout=timeout, env=self.env)


def cluster_skip_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "single-node SLURM test runs on Linux only"
    search = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [tool for tool in SLURM_TOOLS if shutil.which(tool, path=search) is None]
    if missing:
        return (f"SLURM is not installed (missing {', '.join(missing)}); "
                ".ci/setup-slurm.sh installs slurm-wlm and munge as root on Debian")
    if os.geteuid() != 0:
        return "starting slurmd needs root (it launches jobs as their owner)"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def slurm_conf(root: Path, host: str, munge_socket: Path, cpus: int) -> str:
    return f"""\
ClusterName=rwsrtest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
# No systemd or cgroups here: plain process tracking, no task confinement, no accounting database.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# The node below declares more CPUs and memory than a CI machine may have (jobs only share them),
# and four GPUs backed by empty files: enough for the profile's requests (--cpus-per-gpu, --mem) to
# be scheduled as on a real GPU node, with the demo's per-image GPU jobs all running at once.
SlurmdParameters=config_overrides
GresTypes=gpu
ReturnToService=2
# Finished jobs stay visible to squeue and scontrol for an hour: the status command and the assertions read them.
MinJobAge=3600
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=65536 Gres=gpu:4 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
PartitionName={PARTITION} Nodes={host} MaxTime=INFINITE State=UP
"""


def tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    reason = cluster_skip_reason()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("slurm")
    for folder in ("munge", "state", "spool", "bin"):
        (root / folder).mkdir(mode=0o700)
    daemons: list[subprocess.Popen] = []

    def start(*command: str, log: str) -> None:
        with open(root / log, "w") as out:
            daemons.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True))

    sbin = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    env = {key: value for key, value in workflow_env().items()
           if not key.startswith(("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_", "RWSR_SLURM_"))}
    conf = root / "slurm.conf"
    munge_socket = root / "munge" / "munge.socket"
    # The slurm-jobstep plugin strips SLURM_* variables, SLURM_CONF among them, before the srun it
    # starts inside each job; a real cluster keeps slurm.conf where srun looks by default, this
    # private one tells srun through a wrapper first on PATH.
    srun = root / "bin" / "srun"
    srun.write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {shutil.which("srun", path=sbin)} "$@"\n')
    srun.chmod(0o755)
    env.update(SLURM_CONF=str(conf), PATH=f"{root / 'bin'}:{sbin}", RWSR_SLURM_PARTITION=PARTITION)
    host = socket.gethostname().split(".")[0]
    try:
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        start(shutil.which("munged", path=sbin), "--foreground", "--force", f"--socket={munge_socket}",
              f"--key-file={key}", f"--pid-file={root / 'munge' / 'munged.pid'}",
              f"--seed-file={root / 'munge' / 'seed'}", f"--log-file={root / 'munged.log'}", log="munged.out")
        conf.write_text(slurm_conf(root, host, munge_socket, cpus=max(16, os.cpu_count() or 1)))
        for index in range(4):
            (root / f"gpu{index}").touch()
        (root / "gres.conf").write_text(f"Name=gpu File={root}/gpu[0-3]\n")
        for _ in range(50):
            if munge_socket.exists():
                break
            time.sleep(0.1)
        start(shutil.which("slurmctld", path=sbin), "-D", "-f", str(conf), log="slurmctld.out")
        start(shutil.which("slurmd", path=sbin), "-D", "-f", str(conf), log="slurmd.out")
        cluster = Cluster(root, env)
        state = ""
        for _ in range(60):
            state = cluster.run("sinfo", "--noheader", "--Node", "--format=%T", check=False).strip()
            if set(state.split()) == {"idle"}:
                break
            if any(daemon.poll() is not None for daemon in daemons):
                break
            time.sleep(1)
        if set(state.split()) != {"idle"}:
            logs = "\n".join(f"--- {name}\n{tail(root / name)}" for name in
                             ("munged.out", "slurmctld.out", "slurmctld.log", "slurmd.out", "slurmd.log"))
            pytest.skip(f"could not start a single-node SLURM cluster (node state {state!r}):\n{logs}")
        yield cluster
    finally:
        if (root / "slurm.conf").exists():
            # Only this private cluster's jobs: scancel talks to the slurmctld that env's SLURM_CONF names.
            subprocess.run(["scancel", "--full", f"--user={pwd.getpwuid(os.getuid()).pw_name}"],
                           capture_output=True, env=env, timeout=30)
        for daemon in reversed(daemons):
            if daemon.poll() is None:
                os.killpg(daemon.pid, signal.SIGTERM)
        for daemon in reversed(daemons):
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait(timeout=15)


def run_id(output: str) -> str:
    match = re.search(r"SLURM run ID: (\S+)", output)
    assert match, output[-3000:]
    return match.group(1)


def requested_gpus(job: dict[str, str]) -> int:
    match = re.search(r"gpu:(\d+)", job.get("TresPerJob", ""))
    return int(match.group(1)) if match else 0


@pytest.mark.slow  # a minute more of SLURM; the demo-stage test below checks the same on the kernels stage
def test_slurm_profile_asks_gpus_and_cpus_per_rule_without_capping_gpu_jobs(slurm_cluster, tmp_path):
    # Each GPU job waits for the other one to start: under a cluster-wide cap of one GPU job (the
    # local limit leaking into the cluster run) the first would wait in vain, time out and fail.
    snakefile = toy_workflow(
        tmp_path, "touch {me}.started; n=0; while [ ! -e {other}.started ]; do n=$((n+1)); "
                  "[ $n -gt 300 ] && exit 1; sleep 0.2; done; touch {me}.done")
    result = slurm_cluster.snakemake(tmp_path, "-s", str(snakefile), "--workflow-profile", str(WORKFLOW_PROFILE),
                                     "--profile", str(SLURM_PROFILE), *TEST_ONLY_FLAGS, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    jobs = {job["Comment"]: job for job in slurm_cluster.jobs(run_id(result.stderr))}
    assert set(jobs) == {"rule_gpu_a", "rule_gpu_b", "rule_cpu"}
    assert all(job["JobState"] == "COMPLETED" and job["Partition"] == PARTITION for job in jobs.values())
    for name in ("rule_gpu_a", "rule_gpu_b"):
        assert requested_gpus(jobs[name]) == 1
        assert jobs[name]["CpusPerTres"] == "gres:gpu:4"
    assert requested_gpus(jobs["rule_cpu"]) == 0
    assert jobs["rule_cpu"]["NumCPUs"] == "3"  # the rule's threads, not capped by any local core count
    assert all(job["MinMemoryNode"] == "8000M" and job["TimeLimit"] == "04:00:00" for job in jobs.values())


# ---------------------------------------------------------------------------------------------
# The pipeline's demo stages: through SLURM and locally, same outputs


def deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        nested = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = deep_merge(base[key], value) if nested else value
    return merged


def tiny_config() -> dict:
    """The demo config shrunk for speed. Stages grow into it: an override whose key is not in the
    schema yet is left out, and one below the schema's minimum is raised to it."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())["properties"]
    # KernelGAN, not the default spectral fit: its jobs ask for a GPU, which the cluster run checks.
    overrides = {"data": {"demo": {"crop": 128, "max_crops_per_photo": 1}}, "kernels": {"iterations": 30, "estimator": "kernelgan"}}
    known = {}
    for stage, values in overrides.items():
        properties = schema.get(stage, {}).get("properties", {})
        if set(values) <= set(properties):
            known[stage] = {key: max(value, properties[key].get("minimum", value)) if isinstance(value, int) else value
                            for key, value in values.items()}
    return deep_merge(yaml.safe_load((REPO / "config.yaml").read_text()), known)


def pipeline_targets(rules: set[str]) -> list[str]:
    """The data stage now; the kernel pool as soon as the kernels rules are in the workflow."""
    targets = ["data_downscale"]
    if any(rule.startswith("kernels_") for rule in rules):
        targets.append("results/kernels/pool.npz")
    return targets


def job_counts(output: str) -> Counter:
    """Snakemake's "Job stats" table: rule -> number of jobs it ran."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = [line.split() for line in table.strip().splitlines()[2:]]
    return Counter({row[0]: int(row[1]) for row in rows if len(row) == 2 and row[0] != "total"})


# Run metadata that records wall-clock time (results/kernels/<image>/settings.json), not results.
WALL_CLOCK_KEYS = {"seconds"}


def without_wall_clock(value):
    if isinstance(value, dict):
        return {key: without_wall_clock(item) for key, item in value.items() if key not in WALL_CLOCK_KEYS}
    if isinstance(value, list):
        return [without_wall_clock(item) for item in value]
    return value


def assert_same_file(local: Path, cluster: Path) -> None:
    if local.read_bytes() == cluster.read_bytes():
        return
    # Equal content may still differ in bytes: zip timestamps in .npz, encoder metadata in images,
    # timings in run metadata.
    if local.suffix == ".json":
        local_json, cluster_json = (without_wall_clock(json.loads(path.read_text())) for path in (local, cluster))
        assert local_json == cluster_json, local
    elif local.suffix == ".npz":
        with np.load(local) as a, np.load(cluster) as b:
            assert sorted(a.files) == sorted(b.files), local
            for name in a.files:
                np.testing.assert_array_equal(a[name], b[name], err_msg=f"{local}: {name}")
    elif local.suffix == ".png":
        import cv2

        np.testing.assert_array_equal(cv2.imread(str(local), cv2.IMREAD_UNCHANGED),
                                      cv2.imread(str(cluster), cv2.IMREAD_UNCHANGED), err_msg=str(local))
    else:
        raise AssertionError(f"{local} differs from its SLURM-run copy {cluster}")


def test_demo_stages_go_through_sbatch_and_match_a_local_run(slurm_cluster, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config()))
    common = ["-s", str(REPO / "Snakefile"), "--configfile", str(config)]
    listed = slurm_cluster.snakemake(tmp_path / "local", *common, "--list-rules")
    assert listed.returncode == 0, listed.stderr[-3000:]
    targets = pipeline_targets(set(listed.stdout.split()))

    local = slurm_cluster.snakemake(tmp_path / "local", *common, "--cores", "2", *targets)
    assert local.returncode == 0, local.stderr[-4000:]
    cluster = slurm_cluster.snakemake(tmp_path / "cluster", *common, "--profile", str(SLURM_PROFILE),
                                      *TEST_ONLY_FLAGS, *targets)
    assert cluster.returncode == 0, cluster.stderr[-4000:]

    # Every job of the DAG went through sbatch: one completed SLURM job per snakemake job, in the
    # partition the environment asked for, with a GPU exactly for the rules that declare one.
    # Local rules (cheap aggregates) run beside Snakemake, not through sbatch.
    expected = Counter({rule: count for rule, count in job_counts(local.stderr).items() if rule not in local_rules()})
    assert expected["data_downscale"] == 1
    jobs = slurm_cluster.jobs(run_id(cluster.stderr))
    assert Counter(job["Comment"].removeprefix("rule_").split("_wildcards_")[0] for job in jobs) == expected
    gpu = gpu_rules()
    by_rule: dict[str, list[dict[str, str]]] = {}
    for job in jobs:
        rule = job["Comment"].removeprefix("rule_").split("_wildcards_")[0]
        by_rule.setdefault(rule, []).append(job)
        assert job["JobState"] == "COMPLETED" and job["Partition"] == PARTITION, job
        assert requested_gpus(job) == (1 if rule in gpu else 0), job
        if rule in gpu:
            assert job["CpusPerTres"] == "gres:gpu:4", job
        logs = list((tmp_path / "cluster/.snakemake/slurm_logs").glob(f"rule_{rule}/**/{job['JobId']}.log"))
        assert logs, f"no SLURM log for job {job['JobId']} ({job['Comment']})"
    # The local one-GPU-job limit must not leak into the cluster run: a GPU rule's jobs are all
    # submitted at once (SLURM alone queues them), not one after the other ended.
    for rule, rule_jobs in by_rule.items():
        if rule in gpu and len(rule_jobs) > 1:
            assert max(job["SubmitTime"] for job in rule_jobs) < min(job["EndTime"] for job in rule_jobs), rule_jobs

    local_files, cluster_files = (
        sorted(path.relative_to(tmp_path / run) for path in (tmp_path / run / "results").rglob("*") if path.is_file())
        for run in ("local", "cluster")
    )
    assert local_files == cluster_files
    assert any(path.suffix == ".png" for path in local_files)
    for relative in local_files:
        assert_same_file(tmp_path / "local" / relative, tmp_path / "cluster" / relative)


# ---------------------------------------------------------------------------------------------
# A time limit: SIGTERM ahead of it, a checkpoint, a retry with more time that resumes

TRAINER = '''\
"""A stand-in for rwsr's trainers with their signal handling: STEPS one-second steps, a checkpoint on
SIGTERM (rwsr.train.guards), exit status 75; a re-run resumes from the checkpoint."""
import sys, time
from pathlib import Path
from rwsr.errors import INTERRUPTED_EXIT
from rwsr.io.atomic import write_text_atomic
from rwsr.train.guards import StopSignals, stop_requested

STEPS, checkpoint, out = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
step = int(checkpoint.read_text()) if checkpoint.exists() else 0
print("starting at step", step, flush=True)
with StopSignals():
    while step < STEPS:
        time.sleep(1)
        step += 1
        if stop_requested():
            write_text_atomic(checkpoint, str(step))
            print("stopped by a signal after step", step, flush=True)
            sys.exit(INTERRUPTED_EXIT)
write_text_atomic(out, str(step))
'''

TIME_LIMIT_TOY = '''\
rule train:
    output:
        "trained.txt",
    log:
        "train.log",
    resources:
        # 1 minute, then 2: the first attempt cannot finish 80 one-second steps
        runtime=lambda wildcards, attempt: attempt,
        # the profile's lead time would exceed a 1-minute limit
        slurm_extra="'--signal=TERM@30'",
    shell:
        "python trainer.py 80 checkpoint.txt {output:q} >> {log:q} 2>&1"
'''


@pytest.mark.slow  # about 3 minutes of SLURM time limits
def test_a_job_past_its_time_limit_checkpoints_and_finishes_through_retries(slurm_cluster, tmp_path):
    (tmp_path / "trainer.py").write_text(TRAINER)
    (tmp_path / "Snakefile").write_text(TIME_LIMIT_TOY)
    result = slurm_cluster.snakemake(tmp_path, "-s", str(tmp_path / "Snakefile"), "--workflow-profile",
                                     str(WORKFLOW_PROFILE), "--profile", str(SLURM_PROFILE), *TEST_ONLY_FLAGS,
                                     timeout=600)  # fmt: skip
    log = (tmp_path / "train.log").read_text() if (tmp_path / "train.log").exists() else ""
    assert result.returncode == 0, result.stderr[-4000:] + log
    assert (tmp_path / "trained.txt").read_text() == "80"
    # The last attempt's log (Snakemake clears a job's log before each attempt): it resumed mid-run.
    resumed_at = re.search(r"starting at step (\d+)", log)
    assert resumed_at and 0 < int(resumed_at.group(1)) < 80, log
    jobs = slurm_cluster.jobs(run_id(result.stderr))
    assert len(jobs) >= 2 and jobs[-1]["JobState"] == "COMPLETED"
    assert {job["TimeLimit"] for job in jobs} >= {"00:01:00", "00:02:00"}
