"""The SR stage's data and training loop (rwsr.sr.data, rwsr.sr.train, `rwsr train-sr`)."""

import csv
import dataclasses
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from rwsr.config import load_config
from rwsr.errors import InputError
from rwsr.io.images import read_image, write_image
from rwsr.ops.degradation import anisotropic_gaussian_kernel, blur_subsample
from rwsr.ops.resize import imresize, imresize_array
from rwsr.sr import LOSS_KEYS, training_section
from rwsr.sr import train as sr_train
from rwsr.sr.data import crop_batch, load_pair_folder, load_pairs
from rwsr.sr.train import SRSettings, train_sr
from rwsr.sr.upscale import load_generator
from rwsr.train.checkpoint import load_checkpoint
from rwsr.train.gan import ema_decay_at, ema_update, interpolate_state

from conftest import REPO, workflow_env

# A network small enough that a few steps take seconds on a 2-core CPU.
TINY = SRSettings.from_config(
    load_config({"device": "cpu", "scale": 4}), blocks=1, features=8, growth=4, crop=32, batch=2,
    psnr_iterations=6, psnr_milestones=[4], psnr_lr=1e-3, gan_iterations=4, gan_milestones=[2],
    discriminator="patch", discriminator_features=8, ema_decay=0.9, interpolation_alpha=0.8,
    checkpoint_interval=4, log_interval=1, sample_interval=5, vgg_weights="random",
)  # fmt: skip


def photo_pairs(folder, count=3, side=96, scale=4, seed=0):
    """Pairs made with the pipeline's degradation model from random smooth images."""
    rng = np.random.default_rng(seed)
    kernel = anisotropic_gaussian_kernel(13, 1.5, 1.0, 0.3, scale)
    for index in range(count):
        coarse = rng.random((side // 8, side // 8, 3)).astype(np.float32)
        hr = np.clip(imresize_array(coarse, 8), 0, 1)
        write_image(folder / "hr" / f"img{index}.png", hr)
        write_image(folder / "lr" / f"img{index}.png", blur_subsample(hr, kernel, scale))
    return folder


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    return photo_pairs(tmp_path_factory.mktemp("pairs"))


def steps_in(loss_csv):
    with open(loss_csv, newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


# --- data ---


def test_crops_stay_aligned_through_flips_and_rotations(tmp_path):
    # HR made of 4x4 blocks of the LR pixels: an aligned crop of any orientation keeps HR = nearest(LR).
    rng = np.random.default_rng(1)
    lr = rng.random((24, 20, 3)).astype(np.float32)
    write_image(tmp_path / "lr" / "a.png", lr)
    write_image(tmp_path / "hr" / "a.png", lr.repeat(4, 0).repeat(4, 1))
    pairs = load_pair_folder(tmp_path, 4)
    for step in range(20):
        lr_batch, hr_batch = crop_batch(pairs, 4, 32, seed=0, step=step)
        assert lr_batch.shape == (4, 3, 8, 8) and hr_batch.shape == (4, 3, 32, 32)
        assert torch.equal(hr_batch, lr_batch.repeat_interleave(4, 2).repeat_interleave(4, 3))


def test_crops_depend_only_on_seed_rank_and_step(pairs_dir):
    pairs = load_pair_folder(pairs_dir, 4)
    first = crop_batch(pairs, 4, 32, seed=3, step=7)
    assert torch.equal(first[1], crop_batch(pairs, 4, 32, seed=3, step=7)[1])
    assert not torch.equal(first[1], crop_batch(pairs, 4, 32, seed=3, step=8)[1])
    assert not torch.equal(first[1], crop_batch(pairs, 4, 32, seed=3, step=7, rank=1)[1])


def test_pairs_of_the_wrong_size_name_the_files(tmp_path):
    write_image(tmp_path / "lr" / "a.png", np.zeros((10, 10, 3), np.float32))
    write_image(tmp_path / "hr" / "a.png", np.zeros((30, 40, 3), np.float32))
    with pytest.raises(InputError, match=r"a\.png.*exactly scale=4"):
        load_pair_folder(tmp_path, 4)
    write_image(tmp_path / "lr" / "b.png", np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InputError, match="LR only: \\['b'\\]"):
        load_pairs(tmp_path / "lr", tmp_path / "hr", 4)


# --- settings ---


def test_demo_config_and_schema_defaults_fill_the_settings():
    demo = SRSettings.from_config(load_config(REPO / "config.yaml"))
    assert demo.model == "esrgan" and demo.crop % demo.scale == 0
    paper = SRSettings.from_config()  # the schema's defaults: ESRGAN's paper settings
    assert (paper.blocks, paper.crop, paper.batch, paper.psnr_lr, paper.gan_weight) == (23, 128, 16, 2e-4, 5e-3)
    assert paper.psnr_milestones == (200_000, 400_000, 600_000, 800_000) and paper.device == "auto"


@pytest.mark.parametrize("model", sorted(sr_train.MODELS))
def test_each_loss_declares_exactly_the_settings_it_reads(model):
    """LOSS_KEYS decides which config changes re-run a model's training: it must list every
    constructor argument that from_settings fills, and each must be a settings field."""
    import inspect

    loss_cls = sr_train.MODELS[model][1]
    arguments = set(inspect.signature(loss_cls.__init__).parameters) - {"self", "seed", "need_perceptual"}
    assert set(LOSS_KEYS[model]) == arguments
    assert arguments <= {f.name for f in dataclasses.fields(SRSettings)}
    changed = dataclasses.replace(SRSettings.from_config(model=model, gan_iterations=0), gan_weight=0.125)
    assert loss_cls.from_settings(changed).gan_weight == 0.125


def test_training_section_drops_only_other_models_keys():
    sr = load_config(REPO / "config.yaml")["sr"]
    esrgan, bebygan = training_section(sr, "esrgan"), training_section(sr, "bebygan")
    assert "best_buddy_weight" not in esrgan and "pixel_weight" in esrgan and "perceptual_weight" in esrgan
    assert "best_buddy_weight" in bebygan and "pixel_weight" not in bebygan
    assert not {"model", "tile", "tile_pad"} & (set(esrgan) | set(bebygan))
    assert esrgan["psnr_iterations"] == bebygan["psnr_iterations"] == sr["psnr_iterations"]


def test_vgg_discriminator_with_other_crops_is_a_config_error(pairs_dir, tmp_path):
    settings = dataclasses.replace(TINY, discriminator="vgg128")
    with pytest.raises(InputError, match="sr.crop"):
        train_sr(settings, pairs_dir, tmp_path / "out", progress=False)


# --- training ---


@pytest.fixture(scope="module")
def trained(pairs_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train_sr(TINY, pairs_dir, out, val=(pairs_dir / "lr", pairs_dir / "hr"), progress=False)
    return out


def test_training_writes_psnr_gan_and_interpolated_generators(trained):
    for name in ("generator.pt", "generator_psnr.pt", "generator_gan.pt", "config.yaml"):
        assert (trained / name).is_file(), name
    assert not (trained / "checkpoint.pt").exists()  # a finished run leaves nothing to resume
    psnr, _ = load_generator(trained / "generator_psnr.pt")
    gan, _ = load_generator(trained / "generator_gan.pt")
    final, meta = load_generator(trained / "generator.pt")
    assert meta["phase"] == "interpolated" and meta["vgg_weights"] == "random"
    assert meta["vgg_init"] == "kaiming_normal_fan_out"  # the random VGG19 that trained it carried signal
    expected = interpolate_state(psnr.state_dict(), gan.state_dict(), TINY.interpolation_alpha)
    for key, value in final.state_dict().items():
        assert torch.allclose(value, expected[key]), key
    assert not torch.equal(psnr.state_dict()["conv_first.weight"], gan.state_dict()["conv_first.weight"])


def test_loss_log_covers_both_phases_with_finite_losses(trained):
    with open(trained / "loss.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == list(range(1, 11))
    assert [r["phase"] for r in rows] == ["psnr"] * 6 + ["gan"] * 4
    for row in rows[6:]:
        for key in ("l_pix", "l_percep", "l_gan", "d_loss"):
            assert np.isfinite(float(row[key])), key
    assert np.isfinite(float(rows[-1]["val_psnr"]))
    assert list((trained / "samples").glob("step_*.png"))


def test_ema_of_a_short_run_forgets_the_initial_weights():
    """With the paper's decay 0.999, a plain EMA of a 2000-step run would still hold 0.999^2000 =
    14% of the random initial weights; the warm-up brings that to nothing, as long runs have."""
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1) and ema_decay_at(0.999, 10**6) == 0.999
    ema, model = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        ema.weight.fill_(100.0)  # the initial weights
        model.weight.fill_(1.0)  # where training went
    for updates in range(2000):
        ema_update(ema, model, ema_decay_at(0.999, updates))
    assert ema.weight.item() == pytest.approx(1.0, abs=1e-3)


def test_same_seed_same_generator(trained, pairs_dir, tmp_path):
    train_sr(TINY, pairs_dir, tmp_path, val=(pairs_dir / "lr", pairs_dir / "hr"), progress=False)
    first, _ = load_generator(trained / "generator.pt")
    again, _ = load_generator(tmp_path / "generator.pt")
    for key, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


def kill_after_checkpoint(monkeypatch, at_step):
    real_save = sr_train.save_checkpoint

    def save_then_die(path, state):
        real_save(path, state)
        if state["step"] == at_step:
            raise KeyboardInterrupt(f"killed after the step-{at_step} checkpoint")

    monkeypatch.setattr(sr_train, "save_checkpoint", save_then_die)
    return lambda: monkeypatch.setattr(sr_train, "save_checkpoint", real_save)


def assert_same_generators(first_dir, second_dir, names=("generator.pt", "generator_psnr.pt", "generator_gan.pt")):
    for name in names:
        first, _ = load_generator(first_dir / name)
        second, _ = load_generator(second_dir / name)
        for key, value in first.state_dict().items():
            assert torch.allclose(value, second.state_dict()[key], atol=1e-6), (name, key)


def test_interrupted_run_resumes_to_the_same_result(trained, pairs_dir, tmp_path, monkeypatch):
    restore = kill_after_checkpoint(monkeypatch, 8)  # past the phase switch: the GAN phase must resume too
    with pytest.raises(KeyboardInterrupt):
        train_sr(TINY, pairs_dir, tmp_path, val=(pairs_dir / "lr", pairs_dir / "hr"), progress=False)
    assert not (tmp_path / "generator.pt").exists()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 8
    restore()
    # Snakemake deletes a failed job's declared outputs: the checkpoint alone must carry the run on.
    (tmp_path / "loss.csv").unlink()
    (tmp_path / "generator_psnr.pt").unlink()

    train_sr(TINY, pairs_dir, tmp_path, val=(pairs_dir / "lr", pairs_dir / "hr"), progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()
    assert (tmp_path / "loss.csv").read_text() == (trained / "loss.csv").read_text()
    assert_same_generators(trained, tmp_path)


def test_a_checkpoint_of_other_settings_is_not_resumed(trained, pairs_dir, tmp_path, monkeypatch, caplog):
    restore = kill_after_checkpoint(monkeypatch, 8)
    with pytest.raises(KeyboardInterrupt):
        train_sr(dataclasses.replace(TINY, pixel_weight=0.5), pairs_dir, tmp_path, progress=False)
    restore()
    # Bookkeeping keys are not "other settings": the run resumes at step 8.
    caplog.set_level("INFO", logger="rwsr.sr.train")
    with monkeypatch.context() as patch:
        kill_after_checkpoint(patch, 10)  # stop again once finished training, before the outputs
        with pytest.raises(KeyboardInterrupt):
            train_sr(dataclasses.replace(TINY, pixel_weight=0.5, log_interval=2, tile=8), pairs_dir, tmp_path,
                     progress=False)  # fmt: skip
    assert "at step 8 of 10" in caplog.text
    caplog.clear()
    # The config's pixel weight goes back: the checkpoint (even a finished one) is another run's.
    train_sr(TINY, pairs_dir, tmp_path, val=(pairs_dir / "lr", pairs_dir / "hr"), progress=False)
    assert "not resuming" in caplog.text and "pixel_weight: 0.5 -> 0.01" in caplog.text
    assert (tmp_path / "loss.csv").read_text() == (trained / "loss.csv").read_text()
    assert_same_generators(trained, tmp_path)


def test_resume_never_starts_over(trained, pairs_dir, tmp_path, monkeypatch, caplog):
    restore = kill_after_checkpoint(monkeypatch, 8)
    with pytest.raises(KeyboardInterrupt):
        train_sr(TINY, pairs_dir, tmp_path, val=(pairs_dir / "lr", pairs_dir / "hr"), progress=False)
    restore()
    caplog.set_level("INFO", logger="rwsr.sr.train")
    train_sr(dataclasses.replace(TINY, resume="never"), pairs_dir, tmp_path, val=(pairs_dir / "lr", pairs_dir / "hr"),
             progress=False)  # fmt: skip
    assert "ignoring" in caplog.text and "resumed" not in caplog.text
    assert steps_in(tmp_path / "loss.csv") == list(range(1, 11))


def test_bf16_autocast_and_channels_last_train_without_nan(pairs_dir, tmp_path):
    settings = dataclasses.replace(TINY, amp="bf16", channels_last=True, psnr_iterations=2, gan_iterations=2)
    train_sr(settings, pairs_dir, tmp_path, progress=False)
    with open(tmp_path / "loss.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and all(np.isfinite(float(r["l_pix"])) for r in rows)


def test_cli_reports_a_missing_pair_set_in_one_line(tmp_path):
    result = subprocess.run(
        ["rwsr", "train-sr", "--pairs", str(tmp_path / "none"), "--outdir", str(tmp_path / "out"),
         "--config", '{"device": "cpu"}'],
        capture_output=True, text=True, env=workflow_env(),
    )  # fmt: skip
    assert result.returncode == 2
    assert "none" in result.stderr and "Traceback" not in result.stderr


def tiny_config_json(**changes):
    sr = {f.name: getattr(TINY, f.name) for f in dataclasses.fields(TINY)}
    for key in ("scale", "seed", "device"):
        sr.pop(key)
    sr = {k: list(v) if isinstance(v, tuple) else v for k, v in {**sr, **changes}.items()}
    import json

    return json.dumps({"device": "cpu", "scale": 4, "sr": sr})


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(pairs_dir, tmp_path):
    result = subprocess.run(
        ["rwsr", "train-sr", "--nproc", "2", "--pairs", str(pairs_dir), "--outdir", str(tmp_path),
         "--no-progress", "--config", tiny_config_json()],
        capture_output=True, text=True, env=workflow_env(), timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "checkpoint.pt").exists()
    assert steps_in(tmp_path / "loss.csv") == list(range(1, 11))
    assert (tmp_path / "generator.pt").is_file()


@pytest.mark.slow
def test_sigkill_then_resume_reaches_the_final_step(pairs_dir, tmp_path):
    config = tiny_config_json(psnr_iterations=200, gan_iterations=20, checkpoint_interval=10, log_interval=5)
    command = ["rwsr", "train-sr", "--pairs", str(pairs_dir), "--outdir", str(tmp_path), "--config", config]
    process = subprocess.Popen(command, env=workflow_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "checkpoint.pt"
    while not checkpoint.exists() and process.poll() is None:
        time.sleep(0.05)
    process.kill()
    process.wait()
    killed_at = load_checkpoint(checkpoint)["step"]
    assert 0 < killed_at < 220 and not (tmp_path / "generator.pt").exists()
    log = subprocess.run(command, env=workflow_env(), capture_output=True, text=True, check=True).stderr
    assert f"resumed from {checkpoint} at step {killed_at}" in log
    assert not checkpoint.exists() and (tmp_path / "generator.pt").is_file()
    assert steps_in(tmp_path / "loss.csv") == list(range(5, 221, 5))


@pytest.mark.slow
def test_demo_psnr_phase_beats_bicubic_on_held_out_pairs(tmp_path):
    """On the demo set, with pairs degraded as its real LR images are: the demo config's PSNR phase
    must beat bicubic upscaling on the held-out validation pairs."""
    from rwsr.data.demo import build_demo, hidden_degradation
    from rwsr.ops.degradation import jpeg_roundtrip

    config = load_config(REPO / "config.yaml")
    config = load_config({**config, "device": "cpu", "sr": {**config["sr"], "gan_iterations": 0}})
    build_demo(config, tmp_path / "demo")
    rng = np.random.default_rng(123)
    for path in sorted((tmp_path / "demo" / "hr").glob("*.png")):
        hr = read_image(path).pixels
        lr, _, record = hidden_degradation(hr, rng, 4, config["data"]["demo"])
        write_image(tmp_path / "pairs" / "hr" / path.name, hr)
        write_image(tmp_path / "pairs" / "lr" / path.name, jpeg_roundtrip(np.clip(lr, 0, 1), record["jpeg_quality"]))
    val = load_pairs(tmp_path / "demo" / "val_lr", tmp_path / "demo" / "val_hr", 4)
    model_path = train_sr(SRSettings.from_config(config), tmp_path / "pairs", tmp_path / "out", progress=False)
    model, _ = load_generator(model_path)
    ours, bicubic = [], []
    for lr, hr in zip(val.lr, val.hr):
        lr, hr = lr.float().unsqueeze(0) / 255, hr.float().unsqueeze(0) / 255
        with torch.no_grad():
            ours.append(sr_train.psnr(model(lr), hr, 4))
        bicubic.append(sr_train.psnr(imresize(lr, 4), hr, 4))
    print(f"demo val PSNR: ours {np.mean(ours):.2f} dB, bicubic {np.mean(bicubic):.2f} dB")
    assert np.mean(ours) > np.mean(bicubic)
