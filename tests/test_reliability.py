"""Reliability: divergence stops every trainer with a clear error and no NaN reaches a file,
SIGTERM/SIGINT stop training with a checkpoint that resumes to the same result, outputs get the
umask's mode, and a full disk or a wrong file is named in one line."""

from __future__ import annotations

import csv
import dataclasses
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import torch

from rwsr.degrader.apply import check_degrader_output, load_degrader
from rwsr.degrader.train import DegraderSettings, train_degrader
from rwsr.errors import InputError
from rwsr.io.images import ImageError, write_image
from rwsr.kernels.train import KernelGANSettings, train_batch
from rwsr.sr import train as sr_train
from rwsr.sr.train import train_sr
from rwsr.train.checkpoint import load_checkpoint, save_checkpoint
from rwsr.train.guards import INTERRUPTED_EXIT, DivergedError, StopSignals, TrainingInterrupted, stop_requested

from conftest import workflow_env
from test_dsgan import TINY as TINY_DEGRADER, folders, smooth_image  # noqa: F401 (fixture)
from test_sr_train import TINY as TINY_SR, assert_same_generators, pairs_dir, tiny_config_json, trained  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ABSURD_LR = 1e6


# ----------------------------------------------------------------------------- divergence


def test_sr_training_with_an_absurd_learning_rate_stops_naming_stage_step_and_keys(pairs_dir, tmp_path):
    settings = dataclasses.replace(TINY_SR, psnr_lr=ABSURD_LR)
    with pytest.raises(DivergedError, match=r"sr training \(esrgan\) diverged at step \d+.*sr\.psnr_lr") as error:
        train_sr(settings, pairs_dir, tmp_path, progress=False)
    print(error.value)
    assert not (tmp_path / "generator.pt").exists() and not (tmp_path / "checkpoint.pt").exists()


def test_degrader_training_with_an_absurd_learning_rate_stops(folders, tmp_path):
    source, target = folders
    settings = dataclasses.replace(TINY_DEGRADER, lr=ABSURD_LR, log_every=3)
    with pytest.raises(DivergedError, match=r"DSGAN\) diverged (at step|between steps) .*degrader\.lr") as error:
        train_degrader(source, target, tmp_path / "dsgan.pt", settings)
    print(error.value)
    assert not (tmp_path / "dsgan.pt").exists() and not (tmp_path / "dsgan.resume.pt").exists()


def test_kernelgan_with_an_absurd_learning_rate_stops():
    rng = np.random.default_rng(0)
    image = smooth_image(rng, 64)
    settings = KernelGANSettings.from_config(g_channels=8, d_channels=8, iterations=30, lr=ABSURD_LR)
    with pytest.raises(DivergedError, match=r"KernelGAN \(1 image\) diverged .*kernels\.lr") as error:
        train_batch([image], [0], settings, torch.device("cpu"))
    print(error.value)


def test_write_image_refuses_non_finite_pixels(tmp_path):
    pixels = np.full((8, 8, 3), 0.5, np.float32)
    pixels[2, 3, 1] = np.nan
    with pytest.raises(ImageError, match=r"refusing to write image .*bad\.png: 1 of its 192 .*NaN"):
        write_image(tmp_path / "bad.png", pixels)
    with pytest.raises(ImageError, match="NaN or infinite"):
        write_image(tmp_path / "bad.png", torch.full((1, 3, 4, 4), float("inf")))
    assert not list(tmp_path.iterdir())


def test_degrader_output_check_refuses_non_finite_and_flat_output():
    rng = np.random.default_rng(0)
    good = rng.random((16, 16, 3)).astype(np.float32)
    check_degrader_output(good, "a.png")
    with pytest.raises(InputError, match=r"output for b\.png has 1 NaN"):
        check_degrader_output(np.where(np.arange(768).reshape(16, 16, 3) == 5, np.nan, good), "b.png")
    with pytest.raises(InputError, match=r"output for c\.png is one flat colour"):
        check_degrader_output(np.zeros((16, 16, 3), np.float32), "c.png")
    # A flat input may come out flat.
    check_degrader_output(np.zeros((16, 16, 3), np.float32), "d.png", source=np.full((16, 16, 3), 0.2, np.float32))


def test_a_degrader_with_non_finite_weights_is_refused_when_loaded(folders, tmp_path):
    source, target = folders
    train_degrader(source, target, tmp_path / "dsgan.pt", dataclasses.replace(TINY_DEGRADER, iterations=1))
    state = torch.load(tmp_path / "dsgan.pt", weights_only=False)
    next(iter(state["generator"].values())).fill_(float("nan"))
    save_checkpoint(tmp_path / "broken.pt", state)
    with pytest.raises(InputError, match=r"broken\.pt holds \d+ NaN .*degrader\.lr"):
        load_degrader(tmp_path / "broken.pt")


# ----------------------------------------------------------------------------- SIGTERM / SIGINT


def test_stop_signals_defer_the_first_signal_and_restore_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stops:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stops.requested == signal.SIGTERM and stop_requested() == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before and stop_requested() is None
    with StopSignals() as stops:  # SLURM and Snakemake may both send SIGTERM: still deferred
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stops.requested == signal.SIGTERM
    with StopSignals(), pytest.raises(KeyboardInterrupt):  # a second Ctrl-C is not deferred
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.usefixtures("one_torch_thread")
def test_a_signal_mid_training_checkpoints_and_the_rerun_matches_a_straight_run(signum, pairs_dir, tmp_path,
                                                                                monkeypatch):  # fmt: skip
    # The straight run is made here, on the same single thread: multithreaded reductions differ in the last bits.
    trained = tmp_path / "straight"
    train_sr(TINY_SR, pairs_dir, trained, val=(pairs_dir / "lr", pairs_dir / "hr"), progress=False)
    tmp_path = tmp_path / "interrupted"
    real_crop_batch = sr_train.crop_batch

    def signal_at_step_7(pairs, batch, crop, seed, step, rank=0):
        if step == 6:  # the GAN phase's first step; no checkpoint falls due at its end (interval 4)
            os.kill(os.getpid(), signum)
        return real_crop_batch(pairs, batch, crop, seed, step, rank)

    monkeypatch.setattr(sr_train, "crop_batch", signal_at_step_7)
    with StopSignals(), pytest.raises(TrainingInterrupted, match=f"{signal.Signals(signum).name} after step 7"):
        train_sr(TINY_SR, pairs_dir, tmp_path, val=(pairs_dir / "lr", pairs_dir / "hr"), progress=False)
    monkeypatch.setattr(sr_train, "crop_batch", real_crop_batch)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 7 and not (tmp_path / "generator.pt").exists()
    (tmp_path / "loss.csv").unlink()  # as Snakemake removes a failed job's outputs
    train_sr(TINY_SR, pairs_dir, tmp_path, val=(pairs_dir / "lr", pairs_dir / "hr"), progress=False)
    assert (tmp_path / "loss.csv").read_text() == (trained / "loss.csv").read_text()
    assert_same_generators(trained, tmp_path)


def test_sigterm_to_train_sr_exits_75_and_the_rerun_equals_an_uninterrupted_run(pairs_dir, tmp_path):
    config = tiny_config_json(psnr_iterations=24, gan_iterations=6, checkpoint_interval=1000, sample_interval=1000)

    def command(outdir):
        return ["rwsr", "train-sr", "--pairs", str(pairs_dir), "--outdir", str(outdir), "--no-progress",
                "--config", config]  # fmt: skip

    env = {**workflow_env(), "OMP_NUM_THREADS": "1"}
    straight = subprocess.run(command(tmp_path / "straight"), env=env, capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr[-2000:]
    process = subprocess.Popen(command(tmp_path / "cut"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    loss_csv = tmp_path / "cut" / "loss.csv"
    while process.poll() is None and (not loss_csv.exists() or len(loss_csv.read_text().splitlines()) < 4):
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == INTERRUPTED_EXIT, stderr[-2000:]
    stopped_at = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["step"]
    assert 0 < stopped_at < 30 and f"after step {stopped_at}" in stderr and "Traceback" not in stderr
    again = subprocess.run(command(tmp_path / "cut"), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and f"at step {stopped_at} of 30" in again.stderr
    assert loss_csv.read_text() == (tmp_path / "straight" / "loss.csv").read_text()
    assert_same_generators(tmp_path / "straight", tmp_path / "cut")


def test_a_stop_request_mid_degrader_training_checkpoints_and_resumes_to_the_same_result(folders, tmp_path,
                                                                                         monkeypatch):  # fmt: skip
    import rwsr.degrader.train as degrader_train

    source, target = folders
    settings = dataclasses.replace(TINY_DEGRADER, checkpoint_every=100)
    train_degrader(source, target, tmp_path / "straight" / "dsgan.pt", settings)
    calls = iter(range(1000))
    monkeypatch.setattr(degrader_train, "stop_requested", lambda: signal.SIGTERM if next(calls) == 3 else None)
    out = tmp_path / "cut" / "dsgan.pt"
    with pytest.raises(TrainingInterrupted, match="SIGTERM after step 4"):
        train_degrader(source, target, out, settings)
    assert load_checkpoint(out.with_name("dsgan.resume.pt"))["step"] == 4 and not out.exists()
    out.with_name("log.csv").unlink()  # as Snakemake removes a failed job's outputs
    monkeypatch.setattr(degrader_train, "stop_requested", lambda: None)
    assert train_degrader(source, target, out, settings)["resumed_from"] == 4
    assert out.with_name("log.csv").read_text() == (tmp_path / "straight" / "log.csv").read_text()
    straight = load_checkpoint(tmp_path / "straight" / "dsgan.pt")["generator"]
    for key, value in load_checkpoint(out)["generator"].items():
        assert torch.equal(value, straight[key]), key


# ----------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("umask", [0o002, 0o022])
def test_outputs_get_the_mode_a_plain_open_gives_under_the_umask(umask, tmp_path):
    from rwsr.io.atomic import write_csv_atomic, write_text_atomic

    previous = os.umask(umask)
    try:
        (tmp_path / "plain.txt").write_text("x")
        write_text_atomic(tmp_path / "out" / "a.txt", "x")
        write_csv_atomic(tmp_path / "out" / "b.csv", ["a"], [{"a": 1}])
        write_image(tmp_path / "out" / "c.png", np.zeros((4, 4, 3), np.float32))
        save_checkpoint(tmp_path / "out" / "d.pt", {"step": 1})
    finally:
        os.umask(previous)
    expected = 0o666 & ~umask
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == expected
    for path in (tmp_path / "out").iterdir():
        assert path.stat().st_mode & 0o777 == expected, path.name


# ----------------------------------------------------------------------------- clear errors


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs (root only; skips elsewhere)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_named_with_the_file_and_the_reason(full_disk, pairs_dir, capsys):
    from rwsr.cli import main
    from rwsr.errors import OutputError

    with pytest.raises(OutputError, match=r"cannot write .*c\.pt: no space left on device"):
        save_checkpoint(full_disk / "c.pt", {"weights": torch.zeros(100_000)})
    with pytest.raises(OutputError, match=r"cannot write .*a\.png: no space left on device"):
        write_image(full_disk / "a.png", np.random.default_rng(0).random((300, 300, 3)))
    assert not list(full_disk.iterdir())  # no temporary files left behind
    status = main(["train-sr", "--pairs", str(pairs_dir), "--outdir", str(full_disk / "sr"), "--no-progress",
                   "--config", tiny_config_json(features=64, blocks=2)])  # fmt: skip
    error = capsys.readouterr().err
    assert status == 73 and "no space left on device" in error and str(full_disk / "sr") in error


def test_a_wrong_model_file_and_bad_inline_json_are_one_line_errors(tmp_path, capsys):
    from rwsr.cli import main

    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "a.png", np.zeros((8, 8, 3), np.float32))
    assert main(["upscale", "--model", str(tmp_path / "notes.txt"), "--input", str(tmp_path / "in"),
                 "--output", str(tmp_path / "out"), "--config", '{"device": "cpu"}']) == 2  # fmt: skip
    assert "notes.txt is not an rwsr generator file" in capsys.readouterr().err
    assert main(["upscale", "--model", "m.pt", "--input", "in", "--output", "out", "--config", "{device: cpu}"]) == 2
    assert "not valid JSON" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_to_a_ddp_launch_checkpoints_and_exits_75(pairs_dir, tmp_path):
    config = tiny_config_json(psnr_iterations=400, gan_iterations=0, checkpoint_interval=1000, sample_interval=1000)
    command = ["rwsr", "train-sr", "--nproc", "2", "--pairs", str(pairs_dir), "--outdir", str(tmp_path), "--no-progress",
               "--config", config]  # fmt: skip
    process = subprocess.Popen(command, env=workflow_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    loss_csv = tmp_path / "loss.csv"
    while process.poll() is None and (not loss_csv.exists() or len(loss_csv.read_text().splitlines()) < 4):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # to the launcher only: it passes the signal on
    stderr = process.communicate(timeout=300)[1]
    assert process.returncode == INTERRUPTED_EXIT, stderr[-3000:]
    assert 0 < load_checkpoint(tmp_path / "checkpoint.pt")["step"] < 400
