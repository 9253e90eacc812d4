"""Generator files and (tiled) inference: rwsr.sr.upscale and `rwsr upscale`."""

import numpy as np
import pytest
import torch

from rwsr.cli import main
from rwsr.errors import InputError
from rwsr.io.images import read_image, to_tensor, write_image
from rwsr.nn.rrdbnet import RRDBNet
from rwsr.sr.upscale import load_generator, save_generator, upscale_tensor

# Receptive field radius of a 1-block RRDBNet in LR pixels: conv_first + 15 dense convs + conv_body
# (17), plus under one more for the convs after upsampling; a pad of 20 covers it.
ONE_BLOCK_FIELD_PAD = 20
# Tiled and untiled outputs agree to float rounding once the pad covers the receptive field.
TILE_TOLERANCE = 1e-5


def small_generator(blocks=1, scale=4, seed=0):
    torch.manual_seed(seed)
    net = RRDBNet(features=8, blocks=blocks, growth=4, scale=scale).eval()
    # Bolder weights than the 0.1-scaled init, so that context really changes the output.
    with torch.no_grad():
        for param in net.parameters():
            param.mul_(3.0)
    return net


@pytest.mark.parametrize("scale", [2, 4])
def test_tiled_equals_untiled_when_the_pad_covers_the_receptive_field(scale):
    net = small_generator(scale=scale)
    lr = torch.rand(1, 3, 37, 45)
    whole = upscale_tensor(net, lr, scale)
    tiled = upscale_tensor(net, lr, scale, tile=16, tile_pad=ONE_BLOCK_FIELD_PAD)
    assert tiled.shape == whole.shape == (1, 3, 37 * scale, 45 * scale)
    assert (tiled - whole).abs().max().item() < TILE_TOLERANCE


def test_tiling_without_context_differs_so_the_check_above_is_sensitive():
    net = small_generator()
    lr = torch.rand(1, 3, 37, 45)
    no_pad = upscale_tensor(net, lr, 4, tile=16, tile_pad=0)
    assert (no_pad - upscale_tensor(net, lr, 4)).abs().max().item() > 100 * TILE_TOLERANCE


def test_generator_file_rebuilds_the_network(tmp_path):
    net = small_generator(blocks=2, scale=2)
    save_generator(tmp_path / "g.pt", net, {"note": "test"})
    loaded, meta = load_generator(tmp_path / "g.pt")
    assert loaded.arch == net.arch and meta == {"note": "test"}
    x = torch.rand(1, 3, 9, 9)
    assert torch.equal(loaded(x), net(x))


def test_foreign_or_missing_generator_file_is_an_input_error(tmp_path):
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not an rwsr generator file"):
        load_generator(tmp_path / "other.pt")
    with pytest.raises(InputError, match="not found"):
        load_generator(tmp_path / "missing.pt")


def test_upscale_cli_writes_each_image_scale_times_larger(tmp_path):
    net = small_generator()
    save_generator(tmp_path / "generator.pt", net)
    rng = np.random.default_rng(0)
    for stem, (h, w) in {"a": (20, 24), "b": (17, 30)}.items():
        write_image(tmp_path / "in" / f"{stem}.png", rng.random((h, w, 3)).astype(np.float32))
    config = '{"device": "cpu"}'
    status = main(["upscale", "--model", str(tmp_path / "generator.pt"), "--input", str(tmp_path / "in"),
                   "--output", str(tmp_path / "out"), "--tile", "8", "--tile-pad", str(ONE_BLOCK_FIELD_PAD),
                   "--config", config])  # fmt: skip
    assert status == 0
    for stem in ("a", "b"):
        lr = read_image(tmp_path / "in" / f"{stem}.png").pixels
        out = read_image(tmp_path / "out" / f"{stem}.png").pixels
        assert out.shape == (lr.shape[0] * 4, lr.shape[1] * 4, 3)
        expected = upscale_tensor(net, to_tensor(lr), 4).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        assert np.abs(out - expected).max() <= 0.5 / 255 + 1e-6  # 8-bit rounding only


def test_upscale_cli_reports_a_bad_model_file_in_one_line(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "a.png", np.zeros((8, 8, 3), np.float32))
    status = main(["upscale", "--model", str(tmp_path / "nope.pt"), "--input", str(tmp_path / "in"),
                   "--output", str(tmp_path / "out"), "--config", '{"device": "cpu"}'])  # fmt: skip
    assert status == 2
    assert "nope.pt" in capsys.readouterr().err
