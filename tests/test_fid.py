"""FID and KID on fixed random crops, the FID Inception network's weights policy, score rows and table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from skimage import data as skdata

from rwsr.cli import main
from rwsr.errors import InputError
from rwsr.evaluate import reference_folders
from rwsr.evaluate.fid import (
    CropProtocol,
    crop_positions,
    frechet_distance,
    frechet_moments,
    iter_crops,
    kernel_inception_distance,
    load_statistics,
    save_statistics,
    set_statistics,
)
from rwsr.evaluate.table import COLUMNS, gather_table, write_rows
from rwsr.io.images import write_image

NOISE_LEVELS = (0.0, 0.03, 0.06, 0.12)
CPU = torch.device("cpu")
# Inputs resized to 96 rather than pytorch-fid's 299: ten times less CPU for the same behaviour.
FAST_SIDE = 96


@pytest.fixture(scope="module")
def noisy_sets(tmp_path_factory) -> dict[float, object]:
    """The same three photo tiles, clean and with three levels of Gaussian noise."""
    root = tmp_path_factory.mktemp("fid_sets")
    rng = np.random.default_rng(0)
    photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea()]
    folders = {}
    for level in NOISE_LEVELS:
        folder = root / f"noise_{level}"
        for index, photo in enumerate(photos):
            tile = photo[:128, :128].astype(np.float32) / 255.0
            write_image(folder / f"tile{index}.png", np.clip(tile + rng.normal(0, level, tile.shape), 0, 1))
        folders[level] = folder
    return folders


@pytest.fixture(scope="module")
def random_inception():
    from rwsr.nn.inception import FIDInception

    return FIDInception(weights="random", seed=0, input_side=FAST_SIDE)


def test_crop_positions_are_seeded_inside_and_area_weighted():
    sizes = [(100, 100), (100, 100 + 2 * 69)]  # 69x69 vs 69x207 crop positions: 1 to 3
    protocol = CropProtocol(crop_size=32, crop_count=4000, seed=3)
    plan = crop_positions(sizes, protocol)
    assert np.array_equal(plan, crop_positions(sizes, protocol))
    assert not np.array_equal(plan, crop_positions(sizes, CropProtocol(32, 4000, seed=4)))
    heights = np.array([h for h, _ in sizes])[plan[:, 0]]
    widths = np.array([w for _, w in sizes])[plan[:, 0]]
    assert (plan[:, 1] >= 0).all() and (plan[:, 1] + 32 <= heights).all()
    assert (plan[:, 2] >= 0).all() and (plan[:, 2] + 32 <= widths).all()
    assert abs(np.mean(plan[:, 0] == 1) - 0.75) < 0.03
    # Uniform over positions: the far edge of the wide image is reached as often as its near edge.
    lefts = plan[plan[:, 0] == 1, 2]
    assert abs(np.mean(lefts < 69) - np.mean(lefts >= 138)) < 0.05


def test_image_smaller_than_crop_is_named(noisy_sets):
    paths = sorted(noisy_sets[0.0].iterdir())
    with pytest.raises(InputError, match=r"tile0\.png.*evaluate\.crop_size"):
        next(iter_crops(paths, CropProtocol(crop_size=200, crop_count=10, seed=0), "test set"))


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_noise(noisy_sets, random_inception):
    protocol = CropProtocol(crop_size=64, crop_count=20, seed=0)
    stats = {level: set_statistics([path], protocol, random_inception, 10, CPU) for level, path in noisy_sets.items()}
    again = set_statistics([noisy_sets[0.0]], protocol, random_inception, 7, CPU)  # other batching, same crops
    clean = stats[0.0]
    distances = [frechet_distance(stats[level], clean) for level in NOISE_LEVELS[1:]]
    assert abs(frechet_distance(again, clean)) < 1e-3 * distances[0]
    assert distances[0] > 0
    assert all(a < b for a, b in zip(distances, distances[1:])), distances
    assert clean.inception_weights == "random" and clean.n_images == 3


@pytest.mark.parametrize("n, dim", [(400, 48), (20, 48)])  # full-rank and singular covariances
def test_frechet_distance_agrees_with_pytorch_fid(n, dim):
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim))
    y = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim)) * 0.7 + 0.3
    moments = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    expected = calculate_frechet_distance(*moments)
    assert expected > 1
    assert frechet_moments(*moments) == pytest.approx(expected, rel=1e-6)
    assert frechet_moments(*moments[:2], *moments[:2]) == pytest.approx(0.0, abs=1e-6 * expected)


@pytest.mark.slow
def test_frechet_distance_agrees_with_pytorch_fid_at_2048_dimensions():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    x, y = rng.gamma(2.0, size=(3000, 2048)), rng.gamma(2.2, size=(3000, 2048))
    moments = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert frechet_moments(*moments) == pytest.approx(calculate_frechet_distance(*moments), rel=1e-5)


def test_statistics_round_trip_and_protocol_mismatch(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 8))
    stats_args = dict(features=features.astype(np.float32), mu=features.mean(0), sigma=np.cov(features, rowvar=False),
                      inception_weights="random")  # fmt: skip
    from rwsr.evaluate.fid import SetStatistics

    stats = SetStatistics(**stats_args, protocol=CropProtocol(64, 50, 0), n_images=4, sources=("a", "b"))
    save_statistics(tmp_path / "ref.npz", stats)
    loaded = load_statistics(tmp_path / "ref.npz")
    assert loaded.protocol == stats.protocol and loaded.sources == ("a", "b") and loaded.n_images == 4
    assert frechet_distance(loaded, stats) == pytest.approx(0.0, abs=1e-6)
    assert np.array_equal(loaded.features, stats.features)
    other = SetStatistics(**stats_args, protocol=CropProtocol(64, 50, 1), n_images=4, sources=())
    with pytest.raises(InputError, match="recompute"):
        frechet_distance(other, stats)
    (tmp_path / "bad.npz").write_text("not numpy")
    with pytest.raises(InputError, match=r"bad\.npz"):
        load_statistics(tmp_path / "bad.npz")


def pytorch_fid_state_dict(monkeypatch) -> tuple[dict[str, torch.Tensor], torch.nn.Module]:
    """A perturbed state dict of exactly pytorch-fid's FID Inception, and pytorch-fid's own
    InceptionV3 loaded with it (pytorch-fid's builder is intercepted where it would download)."""
    import pytorch_fid.inception as pfi

    built, loaded = [], []
    original = pfi._inception_v3
    monkeypatch.setattr(pfi, "_inception_v3", lambda *a, **k: built.append(original(*a, **k)) or built[-1])
    generator = torch.Generator().manual_seed(0)

    def fake_download(*args, **kwargs):
        state = {}
        for key, value in built[-1].state_dict().items():
            if value.is_floating_point():
                noise = 0.05 * torch.randn(value.shape, generator=generator)
                value = value.abs() + 0.5 if key.endswith("running_var") else value + noise
            state[key] = value
        loaded.append(state)
        return state

    monkeypatch.setattr(pfi, "load_state_dict_from_url", fake_download)
    reference = pfi.InceptionV3([pfi.InceptionV3.DEFAULT_BLOCK_INDEX]).eval()
    return loaded[-1], reference


def test_auto_loads_pytorch_fid_weights_from_torch_home(tmp_path, monkeypatch):
    from pytorch_fid.inception import FID_WEIGHTS_URL

    from rwsr.nn.inception import FIDInception

    state, reference = pytorch_fid_state_dict(monkeypatch)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(state, checkpoints / FID_WEIGHTS_URL.rsplit("/", 1)[-1])

    net = FIDInception(weights="auto")
    assert net.weights.source == "imagenet" and net.weights.describe() == "pretrained" and net.init == "pretrained"
    images = torch.rand(2, 3, 80, 96, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = reference(images)[0].flatten(1)
        assert torch.allclose(net(images), expected, atol=1e-5)
        assert net(images).shape == (2, 2048)


def test_auto_without_weights_file_is_random_and_loud(tmp_path, monkeypatch, caplog):
    from rwsr.nn.inception import FIDInception

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    net = FIDInception(weights="auto", seed=5)
    assert net.weights.describe() == "random"
    assert "RANDOM weights" in caplog.text and "evaluate.inception_weights" in caplog.text
    same = FIDInception(weights="random", seed=5)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), same.state_dict().values()))


def test_foreign_weights_file_names_the_config_key(tmp_path):
    from rwsr.nn.inception import FIDInception

    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "foreign.pth")
    with pytest.raises(InputError, match=r"evaluate\.inception_weights.*foreign\.pth"):
        FIDInception(weights=str(tmp_path / "foreign.pth"))


def row(model: str, variant: str, **changes) -> dict:
    base = dict(
        model=model, variant=variant, generator="final", scale=4, fid=1.5, kid=0.01, kid_std=0.001, psnr_y=25.0,
        ssim_y=0.7, lpips=float("nan"), hf_ratio=1.1, n_images=3, crop_size=64, crop_count=10, seed=0,
        backbone="random", lpips_backbone="random", vgg_backbone="random", reference="results/data/val_hr",
        n_reference_images=5, border=4,
    )  # fmt: skip
    return {**base, **changes}


def test_table_gathers_sorts_and_refuses_mixed_protocols(tmp_path):
    files = []
    rows = (("esrgan", "pipeline", "final"), ("esrgan", "bicubic-pairs", "psnr"), ("bicubic", "bicubic-upscale", "none"),
            ("esrgan", "oracle-pairs", "psnr"), ("esrgan", "pipeline", "psnr"))  # fmt: skip
    for name, variant, generator in rows:
        files.append(tmp_path / f"{name}__{variant}__{generator}.csv")
        write_rows(files[-1], [row(name, variant, generator=generator)])
    table = gather_table(files, tmp_path / "fid.csv")
    written = pd.read_csv(tmp_path / "fid.csv")
    assert list(written.columns) == list(COLUMNS)
    # Floor to ceiling, the PSNR phase's generator before the final one.
    assert list(zip(written.model, written.variant, written.generator)) == [
        ("bicubic", "bicubic-upscale", "none"), ("esrgan", "bicubic-pairs", "psnr"), ("esrgan", "pipeline", "psnr"),
        ("esrgan", "pipeline", "final"), ("esrgan", "oracle-pairs", "psnr"),
    ]  # fmt: skip
    assert len(table) == 5

    write_rows(tmp_path / "other.csv", [row("bebygan", "pipeline", seed=1)])
    with pytest.raises(InputError, match=r"'seed'.*other\.csv"):
        gather_table([*files, tmp_path / "other.csv"], tmp_path / "mixed.csv")
    # Rows whose Inception weights differ do not combine; the same file on two machines does.
    write_rows(tmp_path / "weights.csv", [row("bebygan", "pipeline", backbone="file:0123456789ab")])
    with pytest.raises(InputError, match=r"'backbone'.*weights\.csv"):
        gather_table([*files, tmp_path / "weights.csv"], tmp_path / "mixed.csv")
    with pytest.raises(InputError, match="more than one row"):
        gather_table([files[0], files[0]], tmp_path / "dup.csv")
    assert not (tmp_path / "mixed.csv").exists()


def test_reference_folders_follow_config():
    config = {"evaluate": {"reference": "auto"}, "data": {"val_hr": "demo", "hr": "demo"}}
    # auto: the validation ground truth alone when there is one, the training HR only when not.
    assert [p.name for p in reference_folders(config)] == ["val_hr"]
    config["data"]["val_hr"] = None
    assert [p.name for p in reference_folders(config)] == ["hr"]
    config = {"evaluate": {"reference": ["hr", "val_hr"]}, "data": {"val_hr": "demo", "hr": "demo"}}
    assert [p.name for p in reference_folders(config)] == ["hr", "val_hr"]
    config["data"]["val_hr"] = None
    assert [p.name for p in reference_folders(config)] == ["hr"]
    config["evaluate"]["reference"] = ["val_hr"]
    with pytest.raises(InputError, match="evaluate.reference"):
        reference_folders(config)


def test_cli_writes_one_row_and_gathers_the_table(noisy_sets, tmp_path, monkeypatch, capsys):
    from rwsr.evaluate import table
    from rwsr.nn.inception import FIDInception

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(
        table,
        "build_inception",
        lambda config: FIDInception(config["evaluate"]["inception_weights"], seed=config["seed"], input_side=FAST_SIDE),
    )
    config = '{"evaluate": {"crop_size": 64, "crop_count": 10, "batch_size": 10}}'
    ref = tmp_path / "ref.npz"
    assert main(["fid-reference", "--reference", str(noisy_sets[0.0]), "--out", str(ref), "--config", config]) == 0
    args = ["evaluate", "--sr", str(noisy_sets[0.06]), "--reference", str(ref), "--ground-truth", str(noisy_sets[0.0])]
    row_args = ["--model", "esrgan", "--variant", "pipeline", "--out", str(tmp_path / "row.csv")]
    assert main([*args, *row_args, "--config", config]) == 0
    (written,) = pd.read_csv(tmp_path / "row.csv").to_dict("records")
    assert written["model"] == "esrgan" and written["variant"] == "pipeline"
    assert written["fid"] > 0 and written["crop_count"] == 10 and written["crop_size"] == 64
    assert written["backbone"] == "random" and written["n_images"] == 3
    # KID from the same features (10 crops: too few for its sign, see the KID tests); LPIPS has
    # no meaning on a random AlexNet, so its cell is empty; no generator file, no VGG19.
    assert np.isfinite(written["kid"]) and written["kid_std"] > 0
    assert written["lpips_backbone"] == "random" and np.isnan(written["lpips"])
    assert written["vgg_backbone"] == "none"
    assert written["reference"] == str(noisy_sets[0.0]) and written["n_reference_images"] == 3
    assert 15 < written["psnr_y"] < 40 and 0 < written["ssim_y"] < 1 and written["border"] == 4

    # A statistics file made under another protocol is refused, not silently compared.
    other = '{"evaluate": {"crop_size": 64, "crop_count": 11, "batch_size": 10}}'
    row_args = ["--model", "m", "--variant", "pipeline", "--out", str(tmp_path / "x.csv")]
    assert main([*args, *row_args, "--config", other]) == 2
    assert "recompute" in capsys.readouterr().err
    assert main(["fid-table", "--rows", str(tmp_path / "row.csv"), "--out", str(tmp_path / "fid.csv")]) == 0
    assert pd.read_csv(tmp_path / "fid.csv").shape == (1, len(COLUMNS))


def kid_of(a, b, subsets: int = 20, size: int = 1000) -> tuple[float, float]:
    return kernel_inception_distance(a, b, subsets, size, seed=0)


def feature_set(features: np.ndarray):
    from rwsr.evaluate.fid import SetStatistics

    return SetStatistics(features.astype(np.float32), features.mean(0), np.cov(features, rowvar=False),
                         CropProtocol(8, 10, 0), "random", 1, ())  # fmt: skip


def test_kid_grows_with_the_distance_between_sets_and_is_zero_between_samples_of_one():
    """2048-d features as Inception gives them (non-negative, correlated), 300 per side as in the
    demo: fewer samples than dimensions, where FID is biased but KID is not."""
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(64, 2048)) / 8

    def draw(shift: float) -> np.ndarray:
        latent = rng.normal(size=(300, 64)) + shift * np.linspace(-1, 1, 64)
        return np.abs(latent @ mixing)

    reference = feature_set(draw(0.0))
    same_kind, _ = kid_of(feature_set(draw(0.0)), reference, subsets=50, size=100)
    kids = [kid_of(feature_set(draw(shift)), reference, subsets=50, size=100)[0] for shift in (0.25, 0.5, 1.0)]
    assert kids == sorted(kids) and kids[0] > 0, kids
    assert abs(same_kind) < 0.1 * kids[0], (same_kind, kids)
    mean, std = kid_of(feature_set(draw(0.5)), reference, subsets=50, size=100)
    assert 0 < std < mean  # subsets of 100 of 300: they differ, and the spread says by how much


def test_kid_on_inception_features_ranks_strong_noise_above_weak(noisy_sets, random_inception):
    protocol = CropProtocol(crop_size=64, crop_count=40, seed=0)
    stats = {level: set_statistics([noisy_sets[level]], protocol, random_inception, 20, CPU) for level in (0.0, 0.03, 0.12)}
    itself, _ = kid_of(stats[0.0], stats[0.0])
    weak, strong = kid_of(stats[0.03], stats[0.0])[0], kid_of(stats[0.12], stats[0.0])[0]
    assert strong > weak and strong > 5 * abs(itself), (itself, weak, strong)


def test_kid_matches_the_unbiased_mmd_formula_on_known_samples():
    """Against a direct sum over pairs, on small 3-d samples where the double loop is cheap."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 3)), rng.normal(0.5, 1.0, size=(9, 3))

    def k(a, b):
        return (a @ b / 3 + 1) ** 3

    m = 9  # subsets of the smaller side's size; with one subset the draw is a permutation of y
    rng_draw = np.random.default_rng(0)
    xs, ys = x[rng_draw.choice(12, m, replace=False)], y[rng_draw.choice(9, m, replace=False)]
    within = sum(k(xs[i], xs[j]) + k(ys[i], ys[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    across = sum(k(xs[i], ys[j]) for i in range(m) for j in range(m)) / (m * m)
    kid, std = kernel_inception_distance(feature_set(x), feature_set(y), subsets=1, subset_size=100, seed=0)
    assert kid == pytest.approx(within - 2 * across, rel=1e-6) and std == 0.0  # features are stored as float32


def test_the_end_of_run_summary_flags_every_random_backbone(tmp_path):
    from rwsr.evaluate.summary import summary_text

    rows = [row("esrgan", "pipeline", backbone="pretrained", lpips_backbone="pretrained", vgg_backbone="random"),
            row("esrgan", "pipeline", generator="psnr", backbone="pretrained", lpips_backbone="pretrained",
                vgg_backbone="none")]  # fmt: skip
    write_rows(tmp_path / "fid.csv", rows)
    text = summary_text(tmp_path)
    assert text.startswith("!!! RANDOM") and "vgg19-dcbb9e9d.pth" in text and "sr.vgg_weights" in text
    assert "pt_inception" not in text and "alexnet" not in text  # pretrained ones are not flagged
    assert "esrgan" in text.split("Scores")[1]  # the table follows the banner
    write_rows(tmp_path / "fid.csv", [row("esrgan", "pipeline")])
    text = summary_text(tmp_path)
    assert "pt_inception-2015-12-05-6726825d.pth" in text and "alexnet-owt-7be5be79.pth" in text
    write_rows(tmp_path / "fid.csv", [row("esrgan", "pipeline", backbone="pretrained", lpips_backbone="pretrained",
                                          vgg_backbone="none")])  # fmt: skip
    assert "RANDOM" not in summary_text(tmp_path)


def test_the_end_of_run_summary_shows_each_pair_sets_noise_and_colour_shift(tmp_path):
    from rwsr.evaluate.summary import summary_text

    write_rows(tmp_path / "fid.csv", [row("esrgan", "pipeline")])
    (tmp_path / "pairs").mkdir()
    (tmp_path / "pairs" / "fidelity.csv").write_text(
        "quantity,synthesized,real,ratio,note\nnoise_sigma,0.0115,0.0125,0.92,n\ncolour_shift,0.0281,,,n\n"
    )
    text = summary_text(tmp_path)
    line = next(line for line in text.splitlines() if line.startswith("pipeline "))
    assert line.split() == ["pipeline", "0.0115", "0.0125", "0.92", "0.0281"]
