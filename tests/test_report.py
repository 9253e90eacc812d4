"""Report figures: `rwsr compare-crops` and `rwsr plot-losses`, through the CLI as rules call them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rwsr.cli import main
from rwsr.errors import InputError
from rwsr.evaluate.compare import GAP, LABEL_HEIGHT, compare_crops, layout_size
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
          "--out", str(out), "--crop", "16", "--count", "3"])  # fmt: skip
    pixels = read_image(out).pixels
    assert pixels.shape[:2] == layout_size(3, 3, 16) == (LABEL_HEIGHT + 3 * 16 + 2 * GAP, 3 * 16 + 2 * GAP)
    # Each column's tiles come from its own folder (values 0.2, 0.6, 1.0 at the tile centres).
    for col, value in enumerate((0.2, 0.6, 1.0)):
        x = col * (16 + GAP) + 8
        for line in range(3):
            assert pixels[LABEL_HEIGHT + line * (16 + GAP) + 8, x] == pytest.approx([value] * 3, abs=1 / 255)
    # The label band holds drawn text (dark pixels), not just the white background.
    assert pixels[:LABEL_HEIGHT].min() < 0.5


def test_compare_crops_shrinks_crop_to_small_images(tmp_path):
    rows = [make_folder(tmp_path / "x", ["a"], (12, 20), 0.5)]
    assert compare_crops(rows, ["x"], tmp_path / "cmp.png", crop=96, count=3) == layout_size(1, 1, 12)


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
