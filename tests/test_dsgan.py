"""DSGAN degrader: frequency split, networks, training (noise learning, checkpoints, resume),
tiled inference and the CLI. Networks are shrunk so each training takes seconds on a CPU."""

from __future__ import annotations

import csv
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rwsr.cli import main as rwsr_main
from rwsr.config import ConfigError, load_config
from rwsr.degrader.apply import degrade_pixels, load_degrader
from rwsr.ops.frequency import high_pass, low_pass, low_pass_kernel
from rwsr.degrader.train import DegraderSettings, train_degrader
from rwsr.errors import InputError
from rwsr.io.images import read_image, to_tensor, write_image
from rwsr.nn.dsgan import DSGANDiscriminator, DSGANGenerator
from rwsr.train.checkpoint import load_checkpoint

# Small networks and crops: what the tests check does not depend on the paper's sizes.
TINY = DegraderSettings.from_config(
    iterations=6, crop=24, batch=2, generator_channels=8, generator_blocks=1, discriminator_channels=8,
    generator_skip=True, weight_perceptual=0.0, checkpoint_every=3, log_every=1,
)  # fmt: skip
# Building VGG19 takes seconds, so only the tests that check the perceptual loss pay for it.
WITH_VGG = dict(weight_perceptual=0.01, vgg_layer="conv1_2", vgg_weights="random")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def smooth_image(rng: np.random.Generator, side: int) -> np.ndarray:
    noise = rng.random((side // 4, side // 4, 3)).astype(np.float32)
    return np.clip(cv2.resize(noise, (side, side), interpolation=cv2.INTER_CUBIC), 0, 1)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    for name, count in (("source", 3), ("target", 2)):
        for index in range(count):
            write_image(tmp_path / name / f"{name}{index}.png", smooth_image(rng, 40 + 8 * index))
    return tmp_path / "source", tmp_path / "target"


# ----------------------------------------------------------------------------- frequency split
@pytest.mark.parametrize("kind", ["box", "gaussian"])
def test_frequency_split_separates_flat_from_detail(kind):
    flat = torch.full((1, 3, 20, 20), 0.3)
    assert torch.allclose(low_pass(flat, kind), flat, atol=1e-6)
    assert high_pass(flat, kind).abs().max() < 1e-6
    image = torch.rand(2, 3, 20, 20)
    assert torch.allclose(low_pass(image, kind) + high_pass(image, kind), image, atol=1e-6)
    assert low_pass(image, kind, size=5, valid=True).shape == (2, 3, 16, 16)
    kernel = low_pass_kernel(kind, 7)
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(kernel, kernel.flip(0)) and torch.allclose(kernel, kernel.T)


def test_high_pass_of_white_noise_keeps_the_expected_energy():
    # x - mean of its 5x5 window: variance sigma^2 (1 - 1/25) for white noise.
    noise = torch.randn(1, 3, 200, 200, generator=torch.Generator().manual_seed(0)) * 0.1
    assert high_pass(noise, "box", 5)[..., 2:-2, 2:-2].std().item() == pytest.approx(0.1 * (24 / 25) ** 0.5, rel=0.02)
    assert low_pass(noise, "box", 5).std().item() == pytest.approx(0.1 / 5, rel=0.05)


def test_bad_filter_settings_are_rejected():
    with pytest.raises(ValueError, match="odd"):
        low_pass_kernel("box", 4)
    with pytest.raises(ValueError, match="unknown"):
        low_pass_kernel("median", 5)
    with pytest.raises(ConfigError, match="degrader.filter_size"):
        load_config({"degrader": {"filter_size": 4}})
    with pytest.raises(ConfigError, match="degrader.bogus"):
        load_config({"degrader": {"bogus": 1}})


# ----------------------------------------------------------------------------- networks
def test_discriminator_judges_only_high_frequencies():
    torch.manual_seed(0)
    discriminator = DSGANDiscriminator(channels=8).eval()
    image = torch.rand(1, 3, 24, 24)
    logits = discriminator(image)
    assert logits.shape == (1, 1, 24, 24)
    # A brightness shift lives entirely in the low frequencies: D must not see it.
    assert torch.allclose(discriminator(image + 0.2), logits, atol=1e-5)
    assert not torch.allclose(discriminator(image + 0.05 * torch.randn_like(image)), logits, atol=1e-3)


def test_generator_keeps_size_and_range():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 17, 23)
    paper = DSGANGenerator(channels=8, blocks=2)
    output = paper(image)
    assert output.shape == image.shape and output.min() >= 0 and output.max() <= 1
    # The skip variant starts as the identity, so an untrained degrader changes nothing.
    assert torch.equal(DSGANGenerator(channels=8, blocks=2, skip=True)(image), image)


@pytest.mark.parametrize("filter_kind", ["box", "gaussian"])
def test_high_band_residual_cannot_tint_or_shade(filter_kind):
    """generator_residual high: whatever the weights, a tint (a bias on the residual) or a slow
    shading change never reaches the output; the same network adding its full residual shifts it."""
    torch.manual_seed(0)
    image = torch.rand(1, 3, 48, 40)
    networks = {band: DSGANGenerator(channels=8, blocks=1, skip=True, noise_channels=1, residual_band=band,
                                     filter=filter_kind, filter_size=5) for band in ("high", "full")}  # fmt: skip
    with torch.no_grad():
        for network in networks.values():
            torch.manual_seed(1)
            for weight in (network.tail.weight, network.tail.bias):
                weight.copy_(0.05 * torch.randn_like(weight))
            network.tail.bias.add_(torch.tensor([0.2, -0.1, 0.05]))  # a strong tint
    high, full = (networks[band](image) - image for band in ("high", "full"))
    assert high.mean(dim=(2, 3)).abs().max() < 2e-3  # no colour shift (borders: reflect padding)
    assert full.mean(dim=(2, 3)).abs().max() > 0.1
    assert high.std() > 0.01  # it still adds detail: the high band of what it makes
    with pytest.raises(ValueError, match="residual_band"):
        DSGANGenerator(skip=True, residual_band="low")


def test_noise_residual_is_white_zero_mean_noise_whatever_the_weights():
    """generator_residual noise: with any weights the residual is a fresh draw of zero-mean noise,
    uncorrelated between neighbouring pixels (no stripes, no tint, no sharpening); the same
    weights adding a full residual make a pattern."""
    image = torch.linspace(0, 1, 96).repeat(3, 96, 1).unsqueeze(0)  # dark on the left, bright on the right
    networks = {band: DSGANGenerator(channels=8, blocks=1, skip=True, residual_band=band) for band in ("noise", "full")}
    with torch.no_grad():
        for network in networks.values():
            torch.manual_seed(1)
            for weight in (network.tail.weight, network.tail.bias, network.head[0].weight):
                weight.copy_(0.3 * torch.randn_like(weight))
    torch.manual_seed(2)
    with torch.no_grad():
        noise, again, full = networks["noise"](image) - image, networks["noise"](image) - image, networks["full"](image) - image
    assert not torch.allclose(noise, again)  # a new draw per call
    assert noise.mean(dim=(2, 3)).abs().max() < 0.1 * noise.std()  # no tint

    def neighbour_correlation(residual: torch.Tensor) -> float:
        r = residual - residual.mean(dim=(2, 3), keepdim=True)
        pairs = [(r[..., :, 1:], r[..., :, :-1]), (r[..., 1:, :], r[..., :-1, :]), (r[..., 1:, 1:], r[..., :-1, :-1])]
        return max(abs(float((a * b).mean() / (a.std() * b.std()))) for a, b in pairs)

    assert neighbour_correlation(noise) < 0.1
    assert neighbour_correlation(full) > 0.5
    with pytest.raises(ValueError, match="skip"):
        DSGANGenerator(skip=False, residual_band="noise")


def test_noise_residual_config_needs_skip():
    with pytest.raises(ConfigError, match="degrader.generator_skip"):
        load_config({"degrader": {"generator_residual": "noise", "generator_skip": False}})


# ----------------------------------------------------------------------------- training
def read_log(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_training_writes_model_log_and_samples_and_round_trips(folders, tmp_path):
    source, target = folders
    out = tmp_path / "run" / "dsgan.pt"
    settings = dataclasses.replace(TINY, **WITH_VGG)
    summary = train_degrader(source, target, out, settings, seed=3, device="cpu", config=load_config(None))
    assert summary["steps"] == TINY.iterations
    state = load_checkpoint(out)
    assert state["step"] == TINY.iterations and state["vgg_weights"] == "random"
    assert state["vgg_init"] == "kaiming_normal_fan_out"
    # Step 1 starts at the identity (perceptual loss 0); once the output moves, VGG sees it.
    assert float(read_log(out.with_name("log.csv"))[-1]["perceptual"]) > 0
    assert state["architecture"]["generator_channels"] == 8
    assert not out.with_name("dsgan.resume.pt").exists()
    assert [int(row["step"]) for row in read_log(out.with_name("log.csv"))] == list(range(1, TINY.iterations + 1))
    grid = read_image(out.with_name("samples.png")).pixels
    assert grid.shape == (3 * 24 + 2 * 2, 3 * 24 + 2 * 2, 3)  # 3 rows of input | output | target
    assert (out.with_name("dsgan.config.yaml")).is_file()

    # Round trip: the loaded generator has the trained (non-default) architecture and weights.
    generator = load_degrader(out, "cpu")
    assert not generator.training
    reference = DSGANGenerator(channels=8, blocks=1, skip=True, residual_band=TINY.generator_residual)
    reference.load_state_dict(state["generator"])
    image = read_image(next(source.iterdir())).pixels
    expected = reference(to_tensor(image)).clamp(0, 1)[0].permute(1, 2, 0).detach().numpy()
    np.testing.assert_array_equal(degrade_pixels(generator, image, "cpu"), expected)
    # Trained weights differ from the identity the skip generator starts from.
    assert np.abs(expected - image).max() > 0


def test_same_seed_gives_the_same_model(folders, tmp_path):
    source, target = folders
    settings = dataclasses.replace(TINY, iterations=3)
    for name in ("a", "b"):
        train_degrader(source, target, tmp_path / name / "dsgan.pt", settings, seed=5, device="cpu")
    a, b = (load_checkpoint(tmp_path / name / "dsgan.pt")["generator"] for name in ("a", "b"))
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_interrupted_run_resumes_to_the_same_result(folders, tmp_path):
    source, target = folders
    straight = tmp_path / "straight" / "dsgan.pt"
    train_degrader(source, target, straight, TINY, seed=2, device="cpu")

    resumed = tmp_path / "resumed" / "dsgan.pt"
    # Stop at step 4: the checkpoint is from step 3 and the log has a row (step 4) past it.
    first = train_degrader(source, target, resumed, TINY, seed=2, device="cpu", stop_after=4)
    assert first["steps"] == 4 and not resumed.exists()
    assert load_checkpoint(resumed.with_name("dsgan.resume.pt"))["step"] == 3
    second = train_degrader(source, target, resumed, TINY, seed=2, device="cpu")
    assert second["resumed_from"] == 3 and second["steps"] == TINY.iterations

    steps = [int(row["step"]) for row in read_log(resumed.with_name("log.csv"))]
    assert steps == list(range(1, TINY.iterations + 1))  # no duplicated or missing rows
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    assert b["step"] == TINY.iterations
    # Optimizer state, crop RNG and torch RNG all came back: bit-identical weights.
    for net in ("generator", "discriminator"):
        assert all(torch.equal(a[net][key], b[net][key]) for key in a[net]), net


def test_resume_ignores_a_checkpoint_from_other_settings(folders, tmp_path, caplog):
    source, target = folders
    out = tmp_path / "dsgan.pt"
    train_degrader(source, target, out, TINY, seed=2, device="cpu", stop_after=3)
    other = dataclasses.replace(TINY, weight_gan=0.5)
    summary = train_degrader(source, target, out, other, seed=2, device="cpu")
    assert summary["resumed_from"] == 0 and "weight_gan" in caplog.text
    # Changed training images: the old checkpoint belongs to other data.
    train_degrader(source, target, out, TINY, seed=2, device="cpu", stop_after=3)
    write_image(target / "target0.png", smooth_image(np.random.default_rng(9), 40))
    caplog.clear()
    assert train_degrader(source, target, out, TINY, seed=2, device="cpu")["resumed_from"] == 0
    assert "target:" in caplog.text
    never = dataclasses.replace(TINY, resume="never")
    train_degrader(source, target, tmp_path / "b.pt", never, seed=2, device="cpu", stop_after=3)
    assert train_degrader(source, target, tmp_path / "b.pt", never, seed=2, device="cpu")["resumed_from"] == 0


@pytest.mark.slow
def test_killed_process_resumes_from_its_last_checkpoint(folders, tmp_path):
    source, target = folders
    out = tmp_path / "dsgan.pt"
    config = '{"device": "cpu", "degrader": {"iterations": 400, "crop": 24, "batch": 2, "generator_channels": 8, ' \
             '"generator_blocks": 1, "discriminator_channels": 8, "vgg_weights": "random", "vgg_layer": "conv1_2", ' \
             '"checkpoint_every": 5, "log_every": 1}}'  # fmt: skip
    command = [sys.executable, "-m", "rwsr.cli", "train-degrader", "--source", str(source), "--target", str(target),
               "--out", str(out), "--threads", "1", "--config", config]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    resume_file = out.with_name("dsgan.resume.pt")
    deadline = time.monotonic() + 300
    while not resume_file.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert resume_file.exists() and not out.exists()
    killed_at = load_checkpoint(resume_file)["step"]
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert load_checkpoint(out)["step"] == 400
    steps = [int(row["step"]) for row in read_log(out.with_name("log.csv"))]
    assert steps == list(range(1, 401)) and killed_at < 400


# ----------------------------------------------------------------------------- inference
def test_tiled_inference_matches_whole_image():
    torch.manual_seed(0)
    generator = DSGANGenerator(channels=8, blocks=2).eval()  # receptive radius: 6 convs -> 6 px
    image = np.random.default_rng(0).random((37, 50, 3)).astype(np.float32)
    whole = degrade_pixels(generator, image, "cpu", tile=512)
    tiled = degrade_pixels(generator, image, "cpu", tile=16, tile_pad=6)
    assert tiled.shape == image.shape and tiled.dtype == np.float32
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    # Without context the tile borders differ: the padding is what makes tiles seamless.
    assert np.abs(degrade_pixels(generator, image, "cpu", tile=16, tile_pad=0) - whole).max() > 1e-3


def test_load_degrader_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_degrader(tmp_path / "none.pt")
    torch.save({"generator": {}}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a DSGAN"):
        load_degrader(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(InputError, match="cannot read"):
        load_degrader(tmp_path / "junk.pt")


def test_cli_trains_and_degrades(folders, tmp_path, capsys):
    source, target = folders
    config = tmp_path / "config.yaml"
    config.write_text(
        "degrader: {crop: 64, batch: 2, generator_channels: 8, generator_blocks: 1, discriminator_channels: 8,\n"
        "           weight_perceptual: 0, checkpoint_every: 2}\n"
    )
    out = tmp_path / "model" / "dsgan.pt"
    args = ["train-degrader", "--source", str(source), "--target", str(target), "--out", str(out),
            "--iterations", "2", "--crop", "20", "--device", "cpu", "--config", str(config)]  # fmt: skip
    assert rwsr_main(args) == 0
    state = load_checkpoint(out)
    assert state["step"] == 2 and state["run_key"]["crop"] == 20 and state["vgg_weights"] == "unused"
    assert state["settings"]["generator_channels"] == 8  # from the config file
    assert state["config"]["degrader"]["iterations"] == 2

    degraded = tmp_path / "degraded"
    assert rwsr_main(["degrade", "--model", str(out), "--input", str(source), "--output", str(degraded),
                      "--tile", "16", "--device", "cpu"]) == 0  # fmt: skip
    for path in source.iterdir():
        assert read_image(degraded / path.name).pixels.shape == read_image(path).pixels.shape

    # Bad input: one line naming the problem, exit status 2.
    assert rwsr_main([*args[:2], str(tmp_path / "missing"), *args[3:]]) == 2
    assert "missing" in capsys.readouterr().err
    assert rwsr_main([*args, "--batch", "0"]) == 2
    assert "degrader.batch" in capsys.readouterr().err


# ----------------------------------------------------------------------------- behaviour
NOISE_SIGMA = 0.08
# Shrunk networks and a higher learning rate and GAN weight than the paper's (2e-4, 0.005), so
# that 300 iterations (about 40 s on one shared core) get the GAN to its balance.
BEHAVIOUR = DegraderSettings.from_config(
    iterations=300, crop=32, batch=8, lr=1e-3, decay_start=0.75, weight_gan=0.05, generator_channels=16,
    generator_blocks=2, generator_skip=True, discriminator_channels=8, vgg_layer="conv1_2", vgg_weights="random",
    checkpoint_every=1000, log_every=50,
)  # fmt: skip


def photo(name: str) -> np.ndarray:
    """A 96-pixel downscale of a scikit-image photograph: smooth, natural content."""
    import skimage.data

    pixels = getattr(skimage.data, name)().astype(np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return cv2.resize(np.ascontiguousarray(pixels[:384, :384, :3]), (96, 96), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> Path:
    """source/: four clean photos; clean/: four other clean photos; noisy/: those plus Gaussian noise."""
    root = tmp_path_factory.mktemp("domains")
    rng = np.random.default_rng(0)
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        write_image(root / "source" / f"{name}.png", photo(name))
    for name in ("camera", "cat", "immunohistochemistry", "hubble_deep_field"):
        clean = photo(name)
        write_image(root / "clean" / f"{name}.png", clean)
        noisy = np.clip(clean + rng.normal(0.0, NOISE_SIGMA, clean.shape).astype(np.float32), 0, 1)
        write_image(root / "noisy" / f"{name}.png", noisy)
    return root


def high_std(folder: Path) -> float:
    return float(np.mean([high_pass(to_tensor(read_image(p).pixels)).std().item() for p in sorted(folder.iterdir())]))


def degrade_and_measure(model: Path, source: Path) -> tuple[float, float]:
    """High-pass std of the degraded sources, and the mean |low-pass(output) - low-pass(input)|."""
    generator = load_degrader(model, "cpu")
    stds, colour = [], []
    for path in sorted(source.iterdir()):
        clean = read_image(path).pixels
        output = degrade_pixels(generator, clean, "cpu")
        stds.append(high_pass(to_tensor(output)).std().item())
        colour.append((low_pass(to_tensor(output), valid=True) - low_pass(to_tensor(clean), valid=True)).abs().mean().item())
    return float(np.mean(stds)), float(np.mean(colour))


def test_learns_the_targets_noise_and_keeps_the_colours(domains, tmp_path):
    train_degrader(domains / "source", domains / "noisy", tmp_path / "dsgan.pt", BEHAVIOUR, seed=0, device="cpu")
    output_std, colour_error = degrade_and_measure(tmp_path / "dsgan.pt", domains / "source")
    source_std, target_std = high_std(domains / "source"), high_std(domains / "noisy")
    assert target_std > 1.4 * source_std  # the noise dominates the targets' high frequencies
    # Tolerance 30%: a 300-step GAN hovers around its balance (0.77-0.86 over seeds 0-2).
    assert 0.7 < output_std / target_std < 1.3
    assert output_std > 1.15 * source_std
    # The low-pass residue of the true noise itself is about 0.013 (0.8 x sigma / 5 for the 5x5 box).
    assert colour_error < 0.015


def test_adds_almost_no_noise_for_a_clean_target(domains, tmp_path):
    train_degrader(domains / "source", domains / "clean", tmp_path / "dsgan.pt", BEHAVIOUR, seed=0, device="cpu")
    output_std, colour_error = degrade_and_measure(tmp_path / "dsgan.pt", domains / "source")
    source_std = high_std(domains / "source")
    assert output_std / source_std == pytest.approx(1.0, abs=0.1)
    assert colour_error < 0.01


# ----------------------------------------------------------------------------- the pipeline's mode
KERNEL_NOISE_SIGMA = 0.04
# The demo's degrader settings (config.yaml): a noise residual, the noise-matched step published.
DEMO_LIKE = dataclasses.replace(
    BEHAVIOUR, weight_gan=0.02, generator_noise_channels=1, generator_residual="noise", select="noise", select_every=20,
    source="kernel", vgg_layer="conv2_2",
)  # fmt: skip


@pytest.fixture(scope="module")
def kernel_domains(tmp_path_factory) -> Path:
    """The pipeline's degrader data: source/ = photos blurred with an anisotropic kernel and
    subsampled (clean), noisy/ = other photos through the same blur plus Gaussian noise,
    held_out/ = yet other clean photos through the same blur, to measure on."""
    from rwsr.ops.degradation import add_gaussian_noise, anisotropic_gaussian_kernel, blur_subsample

    root = tmp_path_factory.mktemp("kernel_domains")
    rng = np.random.default_rng(1)
    kernel = anisotropic_gaussian_kernel(13, 1.6, 0.9, 0.7, scale=2)
    for folder, names in (("source", ("astronaut", "coffee", "chelsea", "rocket")),
                          ("noisy", ("camera", "cat", "immunohistochemistry", "page")),
                          ("held_out", ("retina", "coins", "moon", "grass"))):  # fmt: skip
        for name in names:
            lr = blur_subsample(cv2.resize(photo(name), (192, 192), interpolation=cv2.INTER_CUBIC), kernel, 2)
            write_image(root / folder / f"{name}.png", add_gaussian_noise(lr, KERNEL_NOISE_SIGMA, rng) if folder == "noisy" else lr)
    return root


def band_energy(pixels: np.ndarray) -> float:
    """Energy between fine and coarse scales (Gaussian sigma 1 minus sigma 3): edges and texture
    that a blur removes and white noise barely touches."""
    return float(np.std(cv2.GaussianBlur(pixels, (0, 0), 1.0) - cv2.GaussianBlur(pixels, (0, 0), 3.0)))


def test_learns_the_noise_of_kernel_blurred_real_lr_and_adds_no_blur(kernel_domains, tmp_path):
    from rwsr.ops.degradation import add_gaussian_noise
    from rwsr.ops.noise_level import noise_sigma

    summary = train_degrader(kernel_domains / "source", kernel_domains / "noisy", tmp_path / "dsgan.pt", DEMO_LIKE,
                             seed=0, device="cpu")  # fmt: skip
    state = load_checkpoint(tmp_path / "dsgan.pt")
    assert state["input_domain"] == "kernel" and 0 < state["selection"]["best_step"] <= summary["steps"]
    assert 0 < state["selection"]["residual_scale"] < 4  # calibrated, not clamped at a bound
    generator = load_degrader(tmp_path / "dsgan.pt", "cpu")
    torch.manual_seed(0)
    # Measured on photos the degrader never saw, through the same blur.
    sources = [read_image(p).pixels for p in sorted((kernel_domains / "held_out").iterdir())]
    outputs = [degrade_pixels(generator, source, "cpu") for source in sources]
    target_noise = np.mean([noise_sigma(read_image(p).pixels) for p in sorted((kernel_domains / "noisy").iterdir())])
    assert target_noise == pytest.approx(KERNEL_NOISE_SIGMA, rel=0.15)
    ratio = np.mean([noise_sigma(output) for output in outputs]) / target_noise
    assert 0.75 <= ratio <= 1.33, ratio
    assert np.mean([noise_sigma(source) for source in sources]) < 0.3 * target_noise  # the noise is the degrader's
    # No blur on top of the kernel's: an extra Gaussian blur of sigma 0.5 / 0.7 LR pixels keeps
    # 0.95 / 0.90 of these images' band energy (measured); the degrader must keep more.
    kept = [band_energy(output) / band_energy(source) for source, output in zip(sources, outputs)]
    assert np.mean(kept) >= 0.95 and min(kept) >= 0.9, kept
    # Colours stay: as close to the source as the true noise leaves them (clipping at black shifts dark areas).
    rng = np.random.default_rng(2)
    for source, output in zip(sources, outputs):
        truly_noisy = add_gaussian_noise(source, KERNEL_NOISE_SIGMA, rng)
        assert np.abs(cv2.GaussianBlur(output, (0, 0), 2) - cv2.GaussianBlur(truly_noisy, (0, 0), 2)).mean() < 0.01
