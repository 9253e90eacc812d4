"""Report figures: `rwsr compare-crops` and `rwsr plot-losses`, through the CLI as rules call them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rwsr.cli import main
from rwsr.errors import InputError
from rwsr.evaluate.compare import GAP, LABEL_HEIGHT, MIN_WIDTH, compare_crops, layout_size
from rwsr.evaluate.curves import plot_losses
from rwsr.io.images import read_image, write_image


def make_folder(folder: Path, stems: list[str], size: tuple[int, int], value: float) -> Path:
    folder.mkdir(parents=True)
    for index, stem in enumerate(stems):
        pixels = np.full((*size, 3), value, np.float32)
        pixels[0, 0] = index / 10  # top-left marker: tells which stem a tile came from
        write_image(folder / f"{stem}.png", pixels)
    return folder


def test_compare_crops_layout_and_content(tmp_path):
    stems = ["b", "a", "c", "d"]
    # Sizes differ by a crop-to-multiple remainder, as SR outputs and ground truth do.
    rows = [make_folder(tmp_path / name, stems, (40, 52), value) for name, value in (("x", 0.2), ("y", 0.6))]
    truth = make_folder(tmp_path / "gt", stems, (41, 53), 1.0)
    out = tmp_path / "cmp.png"
    main(["compare-crops", "--rows", *map(str, rows), "--labels", "x", "y", "--ground-truth", str(truth),
          "--out", str(out), "--crop", "16", "--count", "3", "--zoom", "4"])  # fmt: skip
    pixels = read_image(out).pixels
    tile = 16 * 4
    assert pixels.shape[:2] == layout_size(3, 3, tile) == (LABEL_HEIGHT + 3 * tile + 2 * GAP, MIN_WIDTH)
    # Each column's tiles come from its own folder (values 0.2, 0.6, 1.0 at the tile centres).
    for col, value in enumerate((0.2, 0.6, 1.0)):
        x = col * (tile + GAP) + tile // 2
        for line in range(3):
            assert pixels[LABEL_HEIGHT + line * (tile + GAP) + tile // 2, x] == pytest.approx([value] * 3, abs=1 / 255)
    # The label band holds drawn text (dark pixels), not just the white background.
    assert pixels[:LABEL_HEIGHT].min() < 0.5


def test_compare_crops_enlarges_each_pixel_into_a_zoom_square(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    rng = np.random.default_rng(0)
    image = rng.random((8, 8, 3)).astype(np.float32)
    write_image(folder / "a.png", image)
    compare_crops([folder], ["x"], tmp_path / "cmp.png", crop=8, count=1, zoom=4)
    tile = read_image(tmp_path / "cmp.png").pixels[LABEL_HEIGHT : LABEL_HEIGHT + 32, :32]
    expected = read_image(folder / "a.png").pixels.repeat(4, axis=0).repeat(4, axis=1)
    np.testing.assert_allclose(tile, expected, atol=1 / 255)


def test_compare_crops_shrinks_crop_to_small_images(tmp_path):
    rows = [make_folder(tmp_path / "x", ["a"], (12, 20), 0.5)]
    assert compare_crops(rows, ["x"], tmp_path / "cmp.png", crop=96, count=3) == layout_size(1, 1, 12 * 4)


def test_compare_crops_rejects_mismatched_inputs(tmp_path):
    x = make_folder(tmp_path / "x", ["a", "b"], (20, 20), 0.5)
    y = make_folder(tmp_path / "y", ["a"], (20, 20), 0.5)
    with pytest.raises(InputError, match="2 folders in --rows but 1 names"):
        compare_crops([x, y], ["x"], tmp_path / "cmp.png")
    with pytest.raises(InputError, match=f"{y}.*'b'"):
        compare_crops([x, y], ["x", "y"], tmp_path / "cmp.png")
    with pytest.raises(InputError, match="missing"):
        compare_crops([x], ["x"], tmp_path / "cmp.png", ground_truth=tmp_path / "missing")
    assert not (tmp_path / "cmp.png").exists()


def write_log(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_plot_losses_writes_png(tmp_path):
    # An SR-style log: a text phase column, a column empty in the PSNR phase, an lr column.
    sr = write_log(tmp_path / "loss.csv", "step,phase,lr,pixel,d_loss\n1,psnr,1e-4,0.5,\n2,psnr,1e-4,0.4,\n3,gan,1e-4,0.3,0.7\n")
    kernel = write_log(tmp_path / "log.csv", "step,loss_g,loss_d\n")
    out = tmp_path / "curves.png"
    main(["plot-losses", "--logs", str(sr), str(kernel), "--labels", "sr", "kernel", "--out", str(out)])
    figure = read_image(out).pixels
    # Two stacked subplots of a 8 x 2.6 inch panel each, at 100 dpi.
    assert figure.shape[:2] == (520, 800)
    assert figure.std() > 0.05


def test_plot_losses_rejects_bad_logs(tmp_path):
    good = write_log(tmp_path / "good.csv", "step,loss\n1,0.5\n")
    no_step = write_log(tmp_path / "nostep.csv", "iteration,loss\n1,0.5\n")
    empty = write_log(tmp_path / "empty.csv", "")
    with pytest.raises(InputError, match="not found: .*absent.csv"):
        plot_losses([good, tmp_path / "absent.csv"], None, tmp_path / "c.png")
    with pytest.raises(InputError, match="nostep.csv has no 'step' column"):
        plot_losses([no_step], None, tmp_path / "c.png")
    with pytest.raises(InputError, match="empty.csv is not a loss log"):
        plot_losses([empty], None, tmp_path / "c.png")
    with pytest.raises(InputError, match="1 files in --logs but 2 names"):
        plot_losses([good], ["a", "b"], tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_cli_reports_input_error_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rwsr.cli", "plot-losses", "--logs", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "c.png")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert "absent.csv" in result.stderr and "Traceback" not in result.stderr


def test_kernel_figure_shows_estimates_beside_the_true_kernels(tmp_path):
    from rwsr.data.demo import hidden_kernel_path
    from rwsr.evaluate.figures import kernel_figure

    table = tmp_path / "demo" / "degradations.csv"
    kernels = []
    for index, name in enumerate(("a", "b")):
        kernel = np.zeros((13, 13), np.float32)
        kernel[6, 6 + index] = 1.0
        kernels.append(tmp_path / f"{name}.npy")
        np.save(kernels[-1], kernel)
        hidden_kernel_path(table, name).parent.mkdir(parents=True, exist_ok=True)
        np.save(hidden_kernel_path(table, name), kernel)
    fidelity = write_log(tmp_path / "fidelity.csv", "quantity,synthesized,real,ratio,note\nkernel_error:a,0.25,,,x\n"
                         "kernel_draw_share:a,1,,,x\nkernel_draw_share:b,0,,,x\n")
    kernel_figure(kernels, ["a", "b"], tmp_path / "k.png", table, fidelity)
    with_truth = read_image(tmp_path / "k.png").pixels
    kernel_figure(kernels, ["a", "b"], tmp_path / "k1.png")
    alone = read_image(tmp_path / "k1.png").pixels
    assert with_truth.shape[1] >= 512 and with_truth.shape[0] > alone.shape[0]  # a second row of panels
    with pytest.raises(InputError, match="not found: .*c.npy"):
        kernel_figure([*kernels, tmp_path / "c.npy"], ["a", "b", "c"], tmp_path / "k2.png")


def test_degradation_figure_puts_real_and_synthesized_crops_side_by_side(tmp_path):
    from rwsr.evaluate.figures import degradation_figure, fidelity_summary, read_fidelity

    real = make_folder(tmp_path / "real", ["p", "q"], (40, 40), 0.1)
    clean = make_folder(tmp_path / "clean", ["t0", "t1"], (24, 24), 0.5)
    synthesized = make_folder(tmp_path / "synth", ["t0", "t1"], (24, 24), 0.9)
    fidelity = write_log(tmp_path / "fidelity.csv", "quantity,synthesized,real,ratio,note\n"
                         "noise_sigma,0.01,0.02,0.5,x\nhigh_frequency_energy,0.03,0.03,1.0,x\n")  # fmt: skip
    out = tmp_path / "d.png"
    main(["report-degradation", "--real-lr", str(real), "--lr", str(clean), str(synthesized), "--labels", "clean",
          "synthesized", "--fidelity", str(fidelity), "--out", str(out)])  # fmt: skip
    pixels = read_image(out).pixels
    assert pixels.shape[1] >= 512
    # Three columns of panels: the real crop's dark grey, the clean mid grey and the bright synthesized.
    middle = pixels[pixels.shape[0] // 3]
    for value in (0.1, 0.5, 0.9):
        assert np.any(np.all(np.abs(middle - value) < 2 / 255, axis=1)), value
    assert "noise_sigma: synthesized 0.01 vs real 0.02 (x0.50)" in fidelity_summary(read_fidelity(fidelity))
    with pytest.raises(InputError, match="no tile named 't1'"):
        degradation_figure(real, [("clean", clean), ("short", make_folder(tmp_path / "short", ["t0"], (24, 24), 0.5))],
                           tmp_path / "e.png")  # fmt: skip
