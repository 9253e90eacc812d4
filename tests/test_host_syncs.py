"""The training steps queue their work without waiting for the device (issue 18): no host sync in
a step, as counted on CPU by rwsr.train.syncs; what replaced per-step syncs (the EMA's foreach
lerp, the vectorised crops, the finiteness check at the log cadence) gives the same numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from rwsr.degrader import train as degrader_train
from rwsr.kernels import train as kernel_train
from rwsr.sr import train as sr_train
from rwsr.sr.data import PairSet, crop_batch, load_pair_folder
from rwsr.train.gan import ema_update
from rwsr.train.guards import DivergedError, FiniteGuard
from rwsr.train.syncs import count_host_syncs, to_host

from test_dsgan import TINY as TINY_DEGRADER, folders, smooth_image  # noqa: F401 (fixture)
from test_sr_train import TINY as TINY_SR, pairs_dir  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_counter_sees_item_bool_tolist_and_format_but_not_torch_internals():
    loss, model = torch.tensor(0.5), torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters())  # reads its CPU step counters with .item()
    with count_host_syncs() as counts:
        loss.item(), bool(loss > 0), loss.tolist(), f"{loss:.3g}", float(loss)
        model(torch.ones(1, 2)).sum().backward()
        optimizer.step()
    assert sum(counts.values()) == 5, counts
    assert loss.item() == 0.5  # the methods are back


@pytest.mark.parametrize("model", ["esrgan", "bebygan"])
def test_an_sr_step_makes_no_host_sync(model, pairs_dir):
    s = dataclasses.replace(TINY_SR, model=model, psnr_iterations=1, gan_iterations=1)
    run = sr_train.setup(s)
    state = sr_train.build_state(s, run)
    pairs = load_pair_folder(pairs_dir, s.scale)
    guard = FiniteGuard("test", "nothing")
    for _ in range(2):  # the PSNR step, then the GAN step (generator, discriminator, EMA)
        with count_host_syncs() as counts:
            lr_batch, hr_batch = sr_train.feed_data(s, run, pairs, state.step)
            parts = sr_train.optimize_parameters(s, run, state, lr_batch, hr_batch, guard)
        assert not counts, counts
        assert all(isinstance(v, torch.Tensor) and not v.requires_grad for v in parts.values())
        state.step += 1
    assert set(parts) >= {"l_gan", "l_percep", "d_loss", "d_real", "d_fake"}
    with count_host_syncs() as counts:
        to_host(parts)
        sr_train.check_finite(guard, state)
    assert sum(counts.values()) == 2, counts  # one for the log row, one for every finiteness check


def test_a_degrader_step_makes_no_host_sync(folders):
    source_dir, target_dir = folders
    s, device = TINY_DEGRADER, torch.device("cpu")
    source = degrader_train.CropPool(source_dir, "source")
    target = degrader_train.CropPool(target_dir, "target")
    state = degrader_train.build_state(s, device, 0)
    run = degrader_train.describe_run(s, device, source, target, 24, 0, degrader_train.NO_COMPRESSION, None,
                                      folders[0].parent / "log.csv")  # fmt: skip
    with count_host_syncs() as counts:
        clean, real = degrader_train.feed_data(run, state)
        losses = degrader_train.optimize_parameters(run, state, clean, real)
    assert not counts, counts
    assert all(not v.requires_grad for v in losses.values())


def test_kernelgan_steps_make_no_host_sync():
    image = smooth_image(np.random.default_rng(0), 64)
    settings = kernel_train.KernelGANSettings.from_config(g_channels=8, d_channels=8, iterations=3, constraint_update_every=1)
    state, data = kernel_train.build([image, image], [1, 2], settings, torch.device("cpu"), 64, torch.float32)
    with count_host_syncs() as counts:
        for step in range(3):
            g_in, real = kernel_train.feed_data(data, step)
            fake_d, losses = kernel_train.generator_step(state, settings, data, g_in)
            kernel_train.discriminator_step(state, data, real, fake_d)
            kernel_train.update_constraints(state.constraints, settings, step + 1, losses["bicubic"])
    assert not counts, counts


def test_ema_foreach_lerp_equals_a_loop_of_lerp_and_the_formula():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    ema = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    model[1].running_mean.fill_(0.25)
    looped = [p.detach().clone() for p in ema.parameters()]
    start = [p.detach().clone() for p in ema.parameters()]
    for decay in (0.1, 0.5, 0.9, 0.999):  # both branches of torch's lerp (weight below and above 0.5)
        ema_update(ema, model, decay)
        for reference, param in zip(looped, model.parameters()):
            reference.lerp_(param.detach(), 1.0 - decay)  # the loop ema_update ran before foreach
    for reference, ema_param in zip(looped, ema.parameters()):
        assert torch.equal(reference, ema_param)
    expected = start[0]
    for decay in (0.1, 0.5, 0.9, 0.999):
        expected = decay * expected + (1 - decay) * model[0].weight.detach()
    torch.testing.assert_close(ema[0].weight, expected)
    assert torch.equal(ema[1].running_mean, model[1].running_mean)  # buffers copied, not averaged


def test_a_non_finite_loss_is_caught_at_the_next_check_with_one_sync():
    guard = FiniteGuard("sr training (esrgan)", "config key 'sr.psnr_lr'")
    guard.watch(generator_loss=torch.tensor(1.0))
    guard.check(1)
    for value in (2.0, float("nan"), 3.0, 4.0):  # steps 2..5: NaN at step 3, then finite again
        guard.watch(generator_loss=torch.tensor(value), discriminator_loss=torch.tensor(1.0))
    expected = r"\(esrgan\) diverged between steps 2 and 5: generator_loss became NaN.*sr\.psnr_lr"
    with count_host_syncs() as counts, pytest.raises(DivergedError, match=expected):
        guard.check(5, {"the generator": torch.nn.Linear(2, 2)})
    assert sum(counts.values()) == 1, counts
    broken = torch.nn.Linear(2, 1)
    with torch.no_grad():
        broken.weight.fill_(float("inf"))
    with pytest.raises(DivergedError, match=r"at step 1: 2 parameter values of the EMA became"):
        FiniteGuard("sr training (esrgan)", "config key 'sr.psnr_lr'").check(1, {"the EMA": broken})


def test_sr_divergence_between_log_lines_is_still_caught(pairs_dir, tmp_path):
    settings = dataclasses.replace(TINY_SR, psnr_lr=1e6, log_interval=3, sample_interval=100, checkpoint_interval=100)
    with pytest.raises(DivergedError, match=r"sr training \(esrgan\) diverged (at step|between steps) .*sr\.psnr_lr"):
        sr_train.train_sr(settings, pairs_dir, tmp_path, progress=False)
    assert not (tmp_path / "generator.pt").exists() and not (tmp_path / "checkpoint.pt").exists()


def _crop_batch_one_by_one(pairs: PairSet, batch: int, hr_crop: int, seed: int, step: int, rank: int = 0):
    """crop_batch as it was before the batch was gathered at once: the draws and pixels to keep."""
    unpack = lambda chw: chw.float().div_(255.0) if chw.dtype == torch.uint8 else chw.float()  # noqa: E731
    rng = np.random.default_rng([seed, rank, step])
    s, lr_crop = pairs.scale, hr_crop // pairs.scale
    lrs, hrs = [], []
    for index in rng.integers(len(pairs.stems), size=batch):
        lr, hr = pairs.lr[index], pairs.hr[index]
        top = int(rng.integers(lr.shape[1] - lr_crop + 1))
        left = int(rng.integers(lr.shape[2] - lr_crop + 1))
        lr = lr[:, top : top + lr_crop, left : left + lr_crop]
        hr = hr[:, s * top : s * (top + lr_crop), s * left : s * (left + lr_crop)]
        hflip, vflip, transpose = rng.random(3) < 0.5
        dims = [d for d, flag in ((2, hflip), (1, vflip)) if flag]
        if dims:
            lr, hr = lr.flip(dims), hr.flip(dims)
        if transpose:
            lr, hr = lr.transpose(1, 2), hr.transpose(1, 2)
        lrs.append(unpack(lr))
        hrs.append(unpack(hr))
    return torch.stack(lrs), torch.stack(hrs)


def test_batched_crops_equal_crop_by_crop_ones_for_8_bit_float_and_mixed_images():
    rng = np.random.default_rng(0)
    lrs = tuple(torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8)) for h, w in ((20, 24), (30, 18), (16, 16)))
    hrs = tuple(t.repeat_interleave(4, 1).repeat_interleave(4, 2) for t in lrs)
    for hr in (hrs, (hrs[0].float() / 255, *hrs[1:]), tuple(t.float() / 255 for t in hrs)):
        pairs = PairSet(("a", "b", "c"), lrs, hr, 4)
        for step in range(30):
            for ours, reference in zip(crop_batch(pairs, 5, 64, 1, step), _crop_batch_one_by_one(pairs, 5, 64, 1, step)):
                assert ours.dtype == torch.float32 and torch.equal(ours, reference), step
