"""BebyGAN as `sr.model: bebygan`: its loss object in the shared loop, the cosine schedule with
restarts and warm-up, the region mask in front of the discriminator, fp32 under autocast."""

import csv
import dataclasses

import numpy as np
import pytest
import torch

from rwsr.config import ConfigError, load_config
from rwsr.errors import InputError
from rwsr.ops.resize import imresize
from rwsr.sr.bebygan_losses import back_projection_loss, best_buddies, candidate_patches, unfold_patches
from rwsr.sr.losses import BebyGANLoss, PerceptualLoss
from rwsr.sr.train import SRSettings, get_lr, train_sr
from rwsr.sr.upscale import load_generator

from conftest import REPO
from test_sr_train import TINY, photo_pairs

TINY_BEBYGAN = dataclasses.replace(
    TINY, model="bebygan", psnr_iterations=3, gan_iterations=3, schedule="cosine", psnr_periods=(3,),
    gan_periods=(2,), warmup_iterations=1, checkpoint_interval=3, sample_interval=6,
)  # fmt: skip


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    return photo_pairs(tmp_path_factory.mktemp("pairs"))


# --- training end to end ---


def test_bebygan_trains_both_phases_and_its_generator_upscales(pairs_dir, tmp_path):
    final = train_sr(TINY_BEBYGAN, pairs_dir, tmp_path, val=(pairs_dir / "lr", pairs_dir / "hr"), progress=False)
    with open(tmp_path / "loss.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["phase"] for r in rows] == ["psnr"] * 3 + ["gan"] * 3
    for row in rows[3:]:
        for key in ("l_bb", "l_bp", "l_percep", "l_gan", "d_loss"):
            assert np.isfinite(float(row[key])), key
        assert float(row["l_bb"]) > 0 and float(row["l_percep"]) > 0
    # The loop logs the cosine schedule's rates: warm-up start, then the restart of the 2-step GAN periods.
    assert [float(r["lr"]) for r in rows] == pytest.approx([get_lr(TINY_BEBYGAN, step) for step in range(6)])
    assert float(rows[3]["lr"]) == pytest.approx(float(rows[5]["lr"]))
    model, meta = load_generator(final)
    assert meta["settings"]["model"] == "bebygan" and meta["phase"] == "interpolated"
    lr = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        sr = model(lr)
    assert sr.shape == (1, 3, 40, 48) and torch.isfinite(sr).all()


def test_bebygan_is_a_config_choice_with_paper_defaults():
    settings = SRSettings.from_config(load_config({"sr": {"model": "bebygan", "schedule": "cosine"}}))
    assert settings.model == "bebygan" and settings.schedule == "cosine"
    assert settings.perceptual_layers == {"conv3_4": 0.125, "conv4_4": 0.25, "conv5_4": 0.5}
    assert (settings.mask_window, settings.mask_threshold, settings.gan_periods) == (11, 0.025, (200_000,) * 3)
    demo = SRSettings.from_config(load_config(REPO / "config.yaml"), model="bebygan")
    assert demo.model == "bebygan" and demo.schedule == "multistep"
    with pytest.raises(ConfigError, match="sr.perceptual_layers"):
        load_config({"sr": {"perceptual_layers": {"relu5_4": 1.0}}})


def test_vgg192_discriminator_needs_192_pixel_crops(pairs_dir, tmp_path):
    with pytest.raises(InputError, match="sr.crop.*vgg192 judges 192x192"):
        train_sr(dataclasses.replace(TINY_BEBYGAN, discriminator="vgg192"), pairs_dir, tmp_path, progress=False)


# --- schedule ---


def test_cosine_schedule_warms_up_restarts_at_the_peak_and_reaches_the_minimum():
    s = dataclasses.replace(
        SRSettings.from_config(), schedule="cosine", psnr_iterations=10, psnr_lr=2e-3, psnr_periods=(10,),
        gan_lr=1e-3, gan_periods=(20, 30), warmup_iterations=5, warmup_factor=0.1, min_lr=1e-6,
    )  # fmt: skip
    gan = [get_lr(s, 10 + t) for t in range(120)]
    base, low = 1e-3, 1e-6
    assert gan[0] == pytest.approx(low + 0.1 * (base - low))
    assert all(a < b for a, b in zip(gan[0:5], gan[1:6]))  # warm-up ramps up
    for peak, end in ((5, 19), (25, 49), (55, 79), (85, 109)):  # periods 20, 30, then 30 repeating
        assert gan[peak] == pytest.approx(base)  # every period climbs back to the peak
        assert gan[end] == pytest.approx(low)  # and anneals to the minimum on its last step
        assert all(a > b for a, b in zip(gan[peak:end], gan[peak + 1 : end + 1]))
    assert gan[20] == pytest.approx(gan[0]) and gan[50] == pytest.approx(gan[0])  # restarts reopen the warm-up
    assert max(gan) == pytest.approx(base) and min(gan) == pytest.approx(low)
    assert get_lr(s, 0) == pytest.approx(low + 0.1 * (2e-3 - low)) and get_lr(s, 9) == pytest.approx(low)
    no_warmup = dataclasses.replace(s, warmup_iterations=0)
    assert get_lr(no_warmup, 10) == pytest.approx(base) and get_lr(no_warmup, 10 + 20) == pytest.approx(base)


def test_multistep_stays_the_esrgan_default():
    s = SRSettings.from_config()
    assert s.schedule == "multistep"
    assert [get_lr(s, step) for step in (0, 199_999, 200_000, 999_999)] == pytest.approx([2e-4, 2e-4, 1e-4, 1.25e-5])
    start = s.psnr_iterations
    assert [get_lr(s, start + t) for t in (0, 50_000, 300_000)] == pytest.approx([1e-4, 5e-5, 6.25e-6])


# --- losses ---


def half_flat_lr():
    """LR 1x3x16x32: left half a constant grey, right half a full-contrast checkerboard."""
    lr = torch.full((1, 3, 16, 32), 0.5)
    checker = ((torch.arange(16).view(-1, 1) + torch.arange(16).view(1, -1)) % 2).float()
    lr[..., 16:] = checker
    return lr


def test_region_mask_hides_flat_regions_from_the_discriminator():
    loss = BebyGANLoss(scale=4, need_perceptual=False)
    lr = half_flat_lr()
    hr, sr = torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    real, fake = loss.discriminator_inputs(sr, hr, lr)
    flat, textured = np.s_[..., :40], np.s_[..., 72:]  # away from the boundary at 64 (window and bicubic reach)
    assert real[flat].abs().max().item() == 0 and fake[flat].abs().max().item() == 0
    assert torch.equal(real[textured], hr[textured]) and torch.equal(fake[textured], sr[textured])
    # Whatever SR paints in flat regions, the discriminator sees the same input.
    repainted = sr.clone()
    repainted[flat] = torch.rand_like(repainted[flat])
    assert torch.equal(loss.discriminator_inputs(repainted, hr, lr)[1], fake)


def dist2(rows, candidates):
    """Squared distances by explicit differences (no matrix-product shortcut)."""
    return torch.cdist(rows, candidates, compute_mode="donot_use_mm_for_euclid_dist") ** 2


def test_buddy_choice_matches_the_definition():
    """The chunked single-product score picks argmin alpha*||sr - g||^2 + beta*||hr - g||^2."""
    torch.manual_seed(3)
    hr = torch.rand(2, 3, 30, 30)
    sr = hr + 0.3 * torch.randn_like(hr)
    candidates = candidate_patches(hr)
    for alpha, beta in ((1.0, 1.0), (1.0, 0.2), (0.3, 1.0)):
        score = alpha * dist2(unfold_patches(sr), candidates) + beta * dist2(unfold_patches(hr), candidates)
        assert torch.equal(best_buddies(sr, hr, alpha, beta)[2], score.argmin(dim=2))


def test_losses_stay_float32_under_bf16_autocast():
    torch.manual_seed(4)
    hr = torch.rand(2, 3, 48, 48)
    sr = hr + 0.05 * torch.randn_like(hr)
    lr = imresize(hr, 0.25) + 0.01
    plain = back_projection_loss(sr, lr, 4), best_buddies(sr, hr)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = back_projection_loss(sr, lr, 4), best_buddies(sr, hr)
    assert mixed[0].dtype == torch.float32 and mixed[0].item() == pytest.approx(plain[0].item(), rel=1e-6)
    assert torch.equal(mixed[1][2], plain[1][2]) and torch.equal(mixed[1][1], plain[1][1])


def test_multi_layer_perceptual_loss_is_the_weighted_sum_of_its_layers():
    torch.manual_seed(5)
    sr, hr = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    layers = {"conv3_4": 0.125, "conv5_4": 0.5}
    total = PerceptualLoss(layers, "random", seed=7)(sr, hr)
    parts = [w * PerceptualLoss(name, "random", seed=7)(sr, hr) for name, w in layers.items()]
    assert total.item() == pytest.approx(sum(p.item() for p in parts), rel=1e-5)
