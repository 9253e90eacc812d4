"""RRDBNet, the SR discriminators and the shared GAN helpers (rwsr.train.gan)."""

import math

import pytest
import torch

from rwsr.nn.discriminators import PatchDiscriminator, VGGStyleDiscriminator
from rwsr.nn.rrdbnet import INIT_SCALE, RRDB, RRDBNet, ResidualDenseBlock
from rwsr.train.gan import (
    ema_update,
    interpolate_state,
    relativistic_d_loss,
    relativistic_g_loss,
)


@pytest.mark.parametrize("scale", [2, 4])
def test_rrdbnet_output_is_scale_times_larger(scale):
    net = RRDBNet(features=8, blocks=1, growth=4, scale=scale)
    out = net(torch.rand(2, 3, 10, 13))
    assert out.shape == (2, 3, 10 * scale, 13 * scale)


def test_rrdbnet_rejects_other_scales():
    with pytest.raises(ValueError, match="scale 2 or 4"):
        RRDBNet(scale=3)


def test_rrdbnet_arch_rebuilds_the_same_network():
    net = RRDBNet(features=8, blocks=2, growth=4, scale=4)
    clone = RRDBNet(**net.arch)
    clone.load_state_dict(net.state_dict())  # raises on any shape mismatch
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(net(x), clone(x))


def test_paper_sizes_give_esrgans_parameter_count():
    # ESRGAN's RRDBNet (23 blocks, 64 features, growth 32, x4) has 16.7M parameters.
    params = sum(p.numel() for p in RRDBNet().parameters())
    assert 16.6e6 < params < 16.8e6


def test_dense_block_convs_start_at_a_tenth_of_kaiming():
    torch.manual_seed(0)
    block = ResidualDenseBlock(features=64, growth=32)
    conv = block.convs[2]
    fan_in = conv.weight[0].numel()
    kaiming_std = math.sqrt(2.0 / fan_in)
    assert conv.weight.std().item() == pytest.approx(INIT_SCALE * kaiming_std, rel=0.1)


def test_rrdb_scales_its_residual_branch_by_0_2():
    block = RRDB(features=8, growth=4)
    for dense in block.dense:
        torch.nn.init.zeros_(dense.convs[4].weight)
        torch.nn.init.zeros_(dense.convs[4].bias)
    x = torch.randn(1, 8, 6, 6)
    # Each dense block is then the identity, so the branch is x and the output x + 0.2 * x.
    assert torch.allclose(block(x), 1.2 * x, atol=1e-6)


def test_vgg_discriminator_judges_128_crops_only():
    disc = VGGStyleDiscriminator(features=8, input_size=128)
    assert disc(torch.rand(2, 3, 128, 128)).shape == (2, 1)
    with pytest.raises(ValueError, match="patch discriminator"):
        disc(torch.rand(2, 3, 64, 64))


@pytest.mark.parametrize("side", [24, 48, 100])
def test_patch_discriminator_takes_any_crop_size(side):
    disc = PatchDiscriminator(features=8)
    out = disc(torch.rand(2, 3, side, side))
    assert out.shape[:2] == (2, 1) and min(out.shape[2:]) >= 1


def test_patch_discriminator_rejects_too_small_crops():
    with pytest.raises(ValueError, match="at least 24"):
        PatchDiscriminator(features=8)(torch.rand(1, 3, 16, 16))


def test_relativistic_losses_reward_the_right_side():
    confident_real = torch.full((4, 1), 5.0)
    confident_fake = torch.full((4, 1), -5.0)
    good_d = relativistic_d_loss(confident_real, confident_fake)
    fooled_d = relativistic_d_loss(confident_fake, confident_real)
    assert good_d < 0.01 < math.log(2) < fooled_d
    # The generator wins exactly when the discriminator is fooled, and the two losses mirror.
    assert torch.allclose(relativistic_g_loss(confident_real, confident_fake), fooled_d)
    assert torch.allclose(relativistic_g_loss(confident_fake, confident_real), good_d)


def test_relativistic_losses_compare_with_the_batch_average_per_position():
    real = torch.randn(3, 1, 5, 5)
    fake = torch.randn(3, 1, 5, 5)
    shifted = relativistic_d_loss(real + 7.0, fake + 7.0)  # a common offset cancels in the differences
    assert torch.allclose(shifted, relativistic_d_loss(real, fake), atol=1e-6)


def test_ema_update_moves_towards_the_model_by_one_minus_decay():
    ema, model = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    start = ema.weight.detach().clone()
    ema_update(ema, model, decay=0.75)
    assert torch.allclose(ema.weight, 0.75 * start + 0.25 * model.weight)


def test_network_interpolation_endpoints_and_midpoint():
    psnr, gan = RRDBNet(features=8, blocks=1, growth=4).state_dict(), RRDBNet(features=8, blocks=1, growth=4).state_dict()
    key = "conv_first.weight"
    assert torch.allclose(interpolate_state(psnr, gan, 0.0)[key], psnr[key])
    assert torch.allclose(interpolate_state(psnr, gan, 1.0)[key], gan[key])
    assert torch.allclose(interpolate_state(psnr, gan, 0.5)[key], (psnr[key] + gan[key]) / 2)
    with pytest.raises(ValueError):
        interpolate_state(psnr, RRDBNet(features=8, blocks=2, growth=4).state_dict(), 0.5)
