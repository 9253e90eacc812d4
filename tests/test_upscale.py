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


# --- `rwsr upscale`: what it reads, where it writes, what it refuses ---


def photo_folder(folder, stems=("a", "b"), side=12):
    rng = np.random.default_rng(1)
    for stem in stems:
        write_image(folder / f"{stem}.png", rng.random((side, side + 2, 3)).astype(np.float32))
    return folder


def run_upscale(tmp_path, *args):
    if not (tmp_path / "generator.pt").exists():
        save_generator(tmp_path / "generator.pt", small_generator())
    return main(
        ["upscale", "--model", str(tmp_path / "generator.pt"), "--config", '{"device": "cpu"}', *map(str, args)]
    )


def test_upscale_takes_a_single_file_into_a_folder_or_a_named_file(tmp_path):
    photos = photo_folder(tmp_path / "photos")
    assert run_upscale(tmp_path, "--input", photos / "a.png", "--output", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]  # b was not asked for
    assert read_image(tmp_path / "out" / "a.png").pixels.shape == (48, 56, 3)
    assert run_upscale(tmp_path, "--input", photos / "b.png", "--output", tmp_path / "b_big.png") == 0
    assert read_image(tmp_path / "b_big.png").pixels.shape == (48, 56, 3)


def test_a_16_bit_input_gives_a_16_bit_png_and_an_8_bit_jpeg(tmp_path):
    write_image(tmp_path / "deep.png", np.full((8, 10, 3), 0.5, np.float32), bit_depth=16)
    assert run_upscale(tmp_path, "--input", tmp_path / "deep.png", "--output", tmp_path / "out.png") == 0
    assert run_upscale(tmp_path, "--input", tmp_path / "deep.png", "--output", tmp_path / "out.jpg") == 0
    assert read_image(tmp_path / "out.png").bit_depth == 16 and read_image(tmp_path / "out.jpg").bit_depth == 8


def test_upscale_takes_a_folder(tmp_path):
    photos = photo_folder(tmp_path / "photos", stems=("a", "b", "c"))
    assert run_upscale(tmp_path, "--input", photos, "--output", tmp_path / "out", "--no-progress") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]


@pytest.mark.parametrize("single_file", [False, True])
def test_upscale_refuses_the_input_folder_without_suffix_and_leaves_the_originals(tmp_path, capsys, single_file):
    photos = photo_folder(tmp_path / "photos")
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    source = photos / "a.png" if single_file else photos
    assert run_upscale(tmp_path, "--input", source, "--output", photos) == 2
    err = capsys.readouterr().err
    assert str(photos) in err and "--suffix" in err
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before


def test_upscale_refuses_an_output_file_that_is_the_input(tmp_path, capsys):
    photos = photo_folder(tmp_path / "photos")
    before = (photos / "a.png").read_bytes()
    assert run_upscale(tmp_path, "--input", photos / "a.png", "--output", photos / "a.png") == 2
    assert "refusing to write" in capsys.readouterr().err
    assert (photos / "a.png").read_bytes() == before


def test_upscale_into_the_input_folder_with_a_suffix_and_again(tmp_path, caplog):
    photos = photo_folder(tmp_path / "photos")
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    assert run_upscale(tmp_path, "--input", photos, "--output", photos, "--suffix", "_x4") == 0
    assert sorted(p.name for p in photos.iterdir()) == ["a.png", "a_x4.png", "b.png", "b_x4.png"]
    assert all((photos / name).read_bytes() == data for name, data in before.items())
    # A second run does not take a_x4.png for a new photo (no a_x4_x4.png) and keeps what exists.
    caplog.set_level("INFO")
    assert run_upscale(tmp_path, "--input", photos, "--output", photos, "--suffix", "_x4") == 0
    assert sorted(p.name for p in photos.iterdir()) == ["a.png", "a_x4.png", "b.png", "b_x4.png"]
    assert "skipping" in caplog.text and "earlier output" in caplog.text


def test_upscale_skips_existing_outputs_unless_overwrite(tmp_path, caplog):
    photos = photo_folder(tmp_path / "photos")
    out = tmp_path / "out"
    out.mkdir()
    write_image(out / "a.png", np.zeros((4, 4, 3), np.float32))  # a stale output
    caplog.set_level("INFO")
    assert run_upscale(tmp_path, "--input", photos, "--output", out) == 0
    assert read_image(out / "a.png").pixels.shape == (4, 4, 3)  # kept
    assert read_image(out / "b.png").pixels.shape == (48, 56, 3)
    assert f"skipping {photos / 'a.png'}" in caplog.text
    assert run_upscale(tmp_path, "--input", photos, "--output", out, "--overwrite") == 0
    assert read_image(out / "a.png").pixels.shape == (48, 56, 3)  # replaced


def test_upscale_half_on_cpu_is_a_clear_error_not_a_silent_fp32_run(tmp_path, capsys):
    photos = photo_folder(tmp_path / "photos")
    assert run_upscale(tmp_path, "--input", photos, "--output", tmp_path / "out", "--half", "--device", "cpu") == 2
    err = capsys.readouterr().err
    assert "--half fp16 needs a CUDA device" in err and "cpu" in err
    assert not (tmp_path / "out").exists()


def test_upscale_half_choices_are_the_dtypes_it_knows():
    from rwsr.sr.cli import HALF_CHOICES
    from rwsr.sr.upscale import HALF_DTYPES

    assert set(HALF_CHOICES) == set(HALF_DTYPES)


def test_upscale_missing_input_names_it(tmp_path, capsys):
    assert run_upscale(tmp_path, "--input", tmp_path / "nothing", "--output", tmp_path / "out") == 2
    assert f"--input {tmp_path / 'nothing'}" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("half", ["fp16", "bf16"])
def test_half_matches_fp32_within_two_levels_on_cuda(tmp_path, half):
    torch.manual_seed(0)
    net = RRDBNet(features=8, blocks=2, growth=4, scale=4)
    with torch.no_grad():  # 2x the init spreads the outputs around mid-grey, so clamping hides little
        for param in net.parameters():
            param.mul_(2.0)
        net.conv_last.bias.fill_(0.5)
    save_generator(tmp_path / "generator.pt", net)
    photos = photo_folder(tmp_path / "photos", stems=("a",), side=40)
    for name, extra in (("fp32", []), (half, ["--half", half])):
        status = main(["upscale", "--model", str(tmp_path / "generator.pt"), "--input", str(photos),
                       "--output", str(tmp_path / name), "--device", "cuda", *extra])  # fmt: skip
        assert status == 0
    full = read_image(tmp_path / "fp32" / "a.png").pixels
    reduced = read_image(tmp_path / half / "a.png").pixels
    assert full.std() > 0.05 and ((full > 0) & (full < 1)).mean() > 0.8  # a real image, not a clamped flat one
    assert np.abs(full - reduced).max() <= 2 / 255 + 1e-6
