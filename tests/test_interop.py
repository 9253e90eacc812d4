"""Weights in BasicSR's layout: `rwsr export` and sr.init_weights (rwsr.sr.interop)."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from rwsr.cli import main
from rwsr.config import load_config
from rwsr.errors import InputError
from rwsr.nn.rrdbnet import RRDBNet
from rwsr.sr import training_section
from rwsr.sr.interop import load_init_weights, to_basicsr
from rwsr.sr.train import build_networks, run_key, train_sr
from rwsr.sr.data import load_pair_folder
from rwsr.sr.upscale import load_generator, save_generator

from test_sr_train import TINY, photo_pairs


def bold_rrdbnet(features=8, blocks=2, growth=4, scale=4, seed=0):
    torch.manual_seed(seed)
    net = RRDBNet(features=features, blocks=blocks, growth=growth, scale=scale).eval()
    with torch.no_grad():  # bolder than the 0.1-scaled init, so every weight shows in the output
        for param in net.parameters():
            param.mul_(3.0).add_(0.01)
    return net


def basicsr_shapes(num_feat=64, num_block=23, num_grow_ch=32, num_in_ch=3, num_out_ch=3):
    """BasicSR's RRDBNet(num_in_ch, num_out_ch, scale=4, ...) parameter names and shapes, written out
    from basicsr/archs/rrdbnet_arch.py, independently of rwsr.sr.interop."""
    shapes = {"conv_first.weight": (num_feat, num_in_ch, 3, 3), "conv_first.bias": (num_feat,)}
    for block in range(num_block):
        for rdb in (1, 2, 3):
            for conv in (1, 2, 3, 4, 5):
                out = num_grow_ch if conv < 5 else num_feat
                name = f"body.{block}.rdb{rdb}.conv{conv}"
                shapes[f"{name}.weight"] = (out, num_feat + (conv - 1) * num_grow_ch, 3, 3)
                shapes[f"{name}.bias"] = (out,)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (num_feat, num_feat, 3, 3), (num_feat,)
    shapes["conv_last.weight"], shapes["conv_last.bias"] = (num_out_ch, num_feat, 3, 3), (num_out_ch,)
    return shapes


def basicsr_forward(p, x, num_block):
    """BasicSR's x4 RRDBNet forward, on a params dict in its names."""
    conv = lambda name, t: F.conv2d(t, p[f"{name}.weight"], p[f"{name}.bias"], padding=1)  # noqa: E731
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    feat = conv("conv_first", x)
    body = feat
    for block in range(num_block):
        rrdb_in = body
        for rdb in (1, 2, 3):
            outs = [body]
            for index in (1, 2, 3, 4):
                outs.append(lrelu(conv(f"body.{block}.rdb{rdb}.conv{index}", torch.cat(outs, 1))))
            body = conv(f"body.{block}.rdb{rdb}.conv5", torch.cat(outs, 1)) * 0.2 + body
        body = body * 0.2 + rrdb_in
    feat = feat + conv("conv_body", body)
    feat = lrelu(conv("conv_up1", F.interpolate(feat, scale_factor=2, mode="nearest")))
    feat = lrelu(conv("conv_up2", F.interpolate(feat, scale_factor=2, mode="nearest")))
    return conv("conv_last", lrelu(conv("conv_hr", feat)))


def export(tmp_path, net):
    save_generator(tmp_path / "generator.pt", net)
    assert main(["export", "--model", str(tmp_path / "generator.pt"), "--format", "basicsr",
                 "--output", str(tmp_path / "x.pth")]) == 0  # fmt: skip
    return tmp_path / "x.pth"


def test_export_writes_params_ema_in_basicsr_names_that_compute_basicsrs_network(tmp_path):
    net = bold_rrdbnet()
    content = torch.load(export(tmp_path, net), weights_only=True)
    assert list(content) == ["params_ema"]
    params = content["params_ema"]
    assert {k: tuple(v.shape) for k, v in params.items()} == basicsr_shapes(8, 2, 4)
    x = torch.rand(1, 3, 11, 13)
    with torch.no_grad():
        assert torch.allclose(basicsr_forward(params, x, 2), net(x), atol=1e-5)


def test_spandrel_loads_the_export_and_computes_the_same(tmp_path):
    spandrel = pytest.importorskip("spandrel")  # not a dependency: checked where it is installed
    net = bold_rrdbnet(features=16, blocks=2, growth=32)  # spandrel 0.4 assumes growth 32
    loaded = spandrel.ModelLoader().load_from_file(export(tmp_path, net))
    assert loaded.scale == 4
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        assert torch.allclose(loaded.model.eval()(x), net(x), atol=1e-5)


def test_export_warns_when_the_growth_is_one_spandrel_cannot_load(tmp_path, caplog):
    export(tmp_path, bold_rrdbnet(growth=4))
    assert "num_grow_ch 32" in caplog.text and "sr.growth" in caplog.text


def test_export_then_import_gives_identical_outputs(tmp_path):
    net = bold_rrdbnet()
    fresh = RRDBNet(features=8, blocks=2, growth=4, scale=4).eval()
    load_init_weights(export(tmp_path, net), fresh)
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert torch.equal(fresh(x), net(x))


def test_export_of_x2_is_a_clear_error(tmp_path, capsys):
    save_generator(tmp_path / "generator.pt", RRDBNet(features=8, blocks=1, growth=4, scale=2))
    status = main(["export", "--model", str(tmp_path / "generator.pt"), "--output", str(tmp_path / "x.pth")])
    assert status == 2
    assert "x2" in capsys.readouterr().err and not (tmp_path / "x.pth").exists()


def test_export_does_not_write_over_its_model(tmp_path, capsys):
    save_generator(tmp_path / "generator.pt", RRDBNet(features=8, blocks=1, growth=4))
    before = (tmp_path / "generator.pt").read_bytes()
    status = main(["export", "--model", str(tmp_path / "generator.pt"), "--output", str(tmp_path / "generator.pt")])
    assert status == 2 and (tmp_path / "generator.pt").read_bytes() == before
    assert load_generator(tmp_path / "generator.pt")[0].scale == 4


def test_a_state_dict_in_basicsrs_exact_names_and_shapes_loads(tmp_path):
    # One distinct constant per tensor: cheap at ESRGAN x4's size, and any mix-up of two tensors shows.
    fabricated = {name: torch.full(shape, float(i)) for i, (name, shape) in enumerate(basicsr_shapes().items())}
    torch.save({"params_ema": fabricated}, tmp_path / "esrgan.pth")
    net = RRDBNet(features=64, blocks=23, growth=32, scale=4)
    load_init_weights(tmp_path / "esrgan.pth", net)
    ours = net.state_dict()
    assert torch.equal(ours["body.22.dense.2.convs.4.weight"], fabricated["body.22.rdb3.conv5.weight"])
    assert torch.equal(ours["upconvs.1.bias"], fabricated["conv_up2.bias"])
    exported = to_basicsr(net)
    assert list(exported) == list(fabricated)  # export writes exactly these names, in BasicSR's order
    assert all(torch.equal(v, fabricated[k]) for k, v in exported.items())


@pytest.mark.parametrize("wrapper", ["params_ema", "params", None])
def test_params_ema_params_or_a_bare_state_dict_load(tmp_path, wrapper):
    net = bold_rrdbnet()
    state = to_basicsr(net)
    decoy = {k: torch.zeros_like(v) for k, v in state.items()}  # params beside params_ema: the EMA wins
    content = {"params_ema": state, "params": decoy} if wrapper == "params_ema" else (
        {wrapper: state} if wrapper else state)  # fmt: skip
    torch.save(content, tmp_path / "w.pth")
    fresh = RRDBNet(features=8, blocks=2, growth=4)
    load_init_weights(tmp_path / "w.pth", fresh)
    assert torch.equal(fresh.conv_last.weight, net.conv_last.weight)


def esrgan_repository_names(params, num_block):
    """The ESRGAN repository's two layouts of the same weights: RRDBNet_arch.py's, and the original
    one-Sequential network's (model.N), as in its transer_RRDB_models.py."""
    trunk, old = {}, {}
    fixed = {"conv_first": ("conv_first", "model.0"), "conv_body": ("trunk_conv", f"model.1.sub.{num_block}"),
             "conv_up1": ("upconv1", "model.3"), "conv_up2": ("upconv2", "model.6"),
             "conv_hr": ("HRconv", "model.8"), "conv_last": ("conv_last", "model.10")}  # fmt: skip
    for name, value in params.items():
        module, kind = name.rsplit(".", 1)
        if module in fixed:
            trunk[f"{fixed[module][0]}.{kind}"] = old[f"{fixed[module][1]}.{kind}"] = value
        else:
            _, block, rdb, conv = module.split(".")
            trunk[f"RRDB_trunk.{block}.{rdb.upper()}.{conv}.{kind}"] = value
            old[f"model.1.sub.{block}.{rdb.upper()}.{conv}.0.{kind}"] = value
    return trunk, old


def test_the_esrgan_repositorys_older_layouts_load(tmp_path):
    net = bold_rrdbnet(blocks=2)
    x = torch.rand(1, 3, 9, 10)
    for index, state in enumerate(esrgan_repository_names(to_basicsr(net), 2)):
        torch.save(state, tmp_path / f"{index}.pth")
        fresh = RRDBNet(features=8, blocks=2, growth=4).eval()
        load_init_weights(tmp_path / f"{index}.pth", fresh)
        with torch.no_grad():
            assert torch.equal(fresh(x), net(x))


def test_wrong_shapes_or_sizes_name_the_file_and_the_first_mismatching_key(tmp_path):
    torch.save({"params_ema": to_basicsr(bold_rrdbnet(features=16))}, tmp_path / "wide.pth")
    with pytest.raises(InputError, match=r"wide\.pth: conv_first\.weight has shape \(16, 3, 3, 3\) but the generator "
                                         r"\(features 8, blocks 2, growth 4, x4\) needs \(8, 3, 3, 3\); the file holds "
                                         r"in_channels 3, features 16, blocks 2, growth 4"):  # fmt: skip
        load_init_weights(tmp_path / "wide.pth", RRDBNet(features=8, blocks=2, growth=4))
    torch.save(to_basicsr(bold_rrdbnet(blocks=1)), tmp_path / "short.pth")
    with pytest.raises(InputError, match=r"short\.pth: no weights for body\.1\.rdb1\.conv1\.weight"):
        load_init_weights(tmp_path / "short.pth", RRDBNet(features=8, blocks=2, growth=4))
    torch.save(to_basicsr(bold_rrdbnet(blocks=2)), tmp_path / "long.pth")
    with pytest.raises(InputError, match=r"long\.pth: body\.1\.rdb1\.conv1\.weight \(and 29 more\) has no place"):
        load_init_weights(tmp_path / "long.pth", RRDBNet(features=8, blocks=1, growth=4))


def test_an_rwsr_generator_file_of_either_scale_seeds_a_generator(tmp_path):
    for scale in (2, 4):
        net = bold_rrdbnet(scale=scale)
        save_generator(tmp_path / f"x{scale}.pt", net, {"settings": {"betas": (0.9, 0.99)}})
        fresh = RRDBNet(features=8, blocks=2, growth=4, scale=scale)
        load_init_weights(tmp_path / f"x{scale}.pt", fresh)
        assert all(torch.equal(v, net.state_dict()[k]) for k, v in fresh.state_dict().items())


def test_a_basicsr_x2_model_gets_the_pixel_unshuffle_hint(tmp_path):
    state = {k: torch.zeros(v) for k, v in basicsr_shapes(8, 1, 4, num_in_ch=12).items()}  # BasicSR x2: 3 * 4 in
    torch.save({"params_ema": state}, tmp_path / "x2.pth")
    with pytest.raises(InputError, match="pixel-unshuffle"):
        load_init_weights(tmp_path / "x2.pth", RRDBNet(features=8, blocks=1, growth=4, scale=2))


def test_files_that_hold_no_weights_are_named(tmp_path):
    torch.save({"epoch": 3}, tmp_path / "other.pth")
    with pytest.raises(InputError, match=r"other\.pth: holds no state dict"):
        load_init_weights(tmp_path / "other.pth", RRDBNet(features=8, blocks=1, growth=4))
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(InputError, match=r"text\.pth: not a PyTorch weights file"):
        load_init_weights(tmp_path / "text.pth", RRDBNet(features=8, blocks=1, growth=4))
    with pytest.raises(InputError, match=r"sr\.init_weights.*missing\.pth"):
        load_init_weights(tmp_path / "missing.pth", RRDBNet(features=8, blocks=1, growth=4))


# --- sr.init_weights in training ---


def seed_file(tmp_path, settings):
    net = bold_rrdbnet(features=settings.features, blocks=settings.blocks, growth=settings.growth, seed=5)
    torch.save({"params_ema": to_basicsr(net)}, tmp_path / "published.pth")
    return tmp_path / "published.pth", net


def test_init_weights_seed_the_generator_at_step_zero(tmp_path):
    path, published = seed_file(tmp_path, TINY)
    generator, _, _ = build_networks(dataclasses.replace(TINY, init_weights=str(path)))
    assert all(torch.equal(v, published.state_dict()[k]) for k, v in generator.state_dict().items())
    random_start, _, _ = build_networks(TINY)
    assert not torch.equal(random_start.conv_first.weight, published.conv_first.weight)


def test_a_run_of_no_steps_from_init_weights_publishes_exactly_them(tmp_path):
    path, published = seed_file(tmp_path, TINY)
    settings = dataclasses.replace(TINY, init_weights=str(path), psnr_iterations=0, gan_iterations=0)
    final = train_sr(settings, photo_pairs(tmp_path / "pairs", count=2, side=64), tmp_path / "out", progress=False)
    trained, meta = load_generator(final)
    assert all(torch.equal(v, published.state_dict()[k]) for k, v in trained.state_dict().items())
    assert meta["settings"]["init_weights"] == str(path)


def test_new_init_weights_at_the_same_path_change_the_run_key(tmp_path):
    path, _ = seed_file(tmp_path, TINY)
    settings = dataclasses.replace(TINY, init_weights=str(path))
    pairs = load_pair_folder(photo_pairs(tmp_path / "pairs", count=1, side=64), 4)
    before = run_key(settings, pairs, 1, "random", "kaiming_normal_fan_out")
    torch.save({"params_ema": to_basicsr(bold_rrdbnet(features=8, blocks=1, growth=4, seed=9))}, path)
    assert run_key(settings, pairs, 1, "random", "kaiming_normal_fan_out") != before


def test_init_weights_is_a_training_setting_the_sr_train_rule_sees():
    config = load_config({"sr": {"init_weights": "esrgan.pth"}})
    assert config["sr"]["init_weights"] == "esrgan.pth" and load_config(None)["sr"]["init_weights"] is None
    assert training_section(config["sr"], "esrgan")["init_weights"] == "esrgan.pth"
