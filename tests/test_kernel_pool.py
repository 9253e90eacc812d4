"""Kernel pool quality: each kernel's draw weight follows how many edges its image has, so a flat
image's barely constrained kernel is rarely drawn, and the pool file says so."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from rwsr.cli import main
from rwsr.io.images import write_image
from rwsr.kernels.crops import edge_evidence
from rwsr.kernels.pool import CONFIDENCE_FILE, load_pool, load_pool_weights, write_pool
from rwsr.ops.degradation import anisotropic_gaussian_kernel, blur_subsample

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def textured(name: str, side: int = 192) -> np.ndarray:
    import skimage.data

    pixels = getattr(skimage.data, name)().astype(np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    top, left = (pixels.shape[0] - 2 * side) // 2, (pixels.shape[1] - 2 * side) // 2
    hr = pixels[top : top + 2 * side, left : left + 2 * side, :3]
    return blur_subsample(hr, anisotropic_gaussian_kernel(13, 1.8, 1.0, 0.4, scale=2), 2)


def flat(side: int = 192, seed: int = 0) -> np.ndarray:
    """An overcast sky: a gentle brightness ramp with sensor noise, no edges."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.45, 0.7, side, dtype=np.float32)[:, None, None] * np.ones((1, side, 3), np.float32)
    return np.clip(ramp + rng.normal(0, 0.02, ramp.shape), 0, 1).astype(np.float32)


def test_edge_evidence_separates_flat_from_textured():
    for name in ("astronaut", "camera", "coffee"):
        assert edge_evidence(textured(name))["confidence"] == 1.0, name
    sky = edge_evidence(flat())
    assert sky["confidence"] < 0.05 and sky["noise_sigma"] > 0.005  # the noise is measured, not called edges
    assert edge_evidence(np.full((64, 64, 3), 0.5, np.float32))["confidence"] == 0.0
    # A few stars on black: some edges, far fewer than the crops' 3% share.
    stars = np.zeros((128, 128, 3), np.float32)
    stars[::40, ::40] = 1.0
    assert 0.0 < edge_evidence(blur_subsample(np.kron(stars, np.ones((2, 2, 1), np.float32)), anisotropic_gaussian_kernel(13, 1.2, 1.2, 0, 2), 2))["confidence"] < 0.5


def test_flat_image_is_down_weighted_in_the_pool(tmp_path, caplog):
    names = {"astronaut": textured("astronaut"), "overcast": flat(), "camera": textured("camera")}
    for name, pixels in names.items():
        write_image(tmp_path / f"{name}.png", pixels)
    config = json.dumps({"seed": 1, "device": "cpu", "kernels": {"g_channels": 8, "d_channels": 8, "iterations": 20}})
    outdirs = [tmp_path / "kernels" / name for name in names]
    args = ["kernelgan", "--input", *(str(tmp_path / f"{n}.png") for n in names), "--outdir", *map(str, outdirs)]
    assert main([*args, "--scale", "2", "--threads", "1", "--config", config]) == 0
    for outdir in outdirs:
        evidence = json.loads((outdir / CONFIDENCE_FILE).read_text())
        assert set(evidence) == {"edge_fraction", "noise_sigma", "confidence"}

    pool = tmp_path / "pool.npz"
    with caplog.at_level(logging.WARNING, logger="rwsr.kernels.pool"):
        assert main(["kernel-pool", "--input", *(str(d / "kernel_x2.npy") for d in outdirs), "--output", str(pool), "--config", config]) == 0
    kernels, images, _ = load_pool(pool)
    weights = load_pool_weights(pool)
    assert images == list(names) and weights.shape == (3,) and weights.sum() == pytest.approx(1.0)
    assert weights[1] < 0.05 * weights[0] and weights[0] == pytest.approx(weights[2])
    with np.load(pool) as data:
        np.testing.assert_allclose(data["confidence"], [1.0, data["confidence"][1], 1.0])
    logged = [r.getMessage() for r in caplog.records if "down-weighted" in r.getMessage()]
    assert len(logged) == 1 and "overcast" in logged[0]


def test_pool_without_confidence_files_draws_equally(tmp_path, caplog):
    paths = []
    for name, sigma in (("a", 1.0), ("b", 1.6)):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "kernel_x2.npy", anisotropic_gaussian_kernel(13, sigma, 1.0, 0.2, scale=2))
        paths.append(tmp_path / name / "kernel_x2.npy")
    with caplog.at_level(logging.WARNING, logger="rwsr.kernels.pool"):
        write_pool(paths, 2, tmp_path / "pool.npz")
    np.testing.assert_allclose(load_pool_weights(tmp_path / "pool.npz"), [0.5, 0.5])
    assert sum(CONFIDENCE_FILE in r.getMessage() for r in caplog.records) == 2
    # A pool written before weights existed reads as uniform.
    np.savez(tmp_path / "old.npz", kernels=np.stack([np.load(p) for p in paths]), images=np.array(["a", "b"]), scale=np.int64(2))
    np.testing.assert_allclose(load_pool_weights(tmp_path / "old.npz"), [0.5, 0.5])
    # Every image without edges: equal draws rather than nothing to draw.
    for path in paths:
        (path.parent / CONFIDENCE_FILE).write_text(json.dumps({"confidence": 0.0}))
    write_pool(paths, 2, tmp_path / "none.npz")
    np.testing.assert_allclose(load_pool_weights(tmp_path / "none.npz"), [0.5, 0.5])


def write_kernels(root, sigmas: dict[str, tuple[float, float]], size: int = 25) -> list:
    paths = []
    for name, (sigma_x, sigma_y) in sigmas.items():
        (root / name).mkdir()
        np.save(root / name / "kernel_x2.npy", anisotropic_gaussian_kernel(size, sigma_x, sigma_y, 0.5, scale=2))
        (root / name / CONFIDENCE_FILE).write_text(json.dumps({"confidence": 1.0}))
        paths.append(root / name / "kernel_x2.npy")
    return paths


def test_a_failed_estimate_far_wider_than_the_rest_is_never_drawn(tmp_path, caplog):
    """One camera's shots: five kernels of similar size (one elongated), and one whose variance is
    about 9x theirs, as KernelGAN gives when it diverges on one image. That one is rejected and
    logged; the others, the elongated one included, share the draws equally."""
    sigmas = {"a": (1.0, 1.0), "b": (1.1, 1.05), "c": (1.2, 1.1), "elongated": (1.6, 0.7), "d": (1.05, 1.15), "diverged": (3.4, 3.0)}
    with caplog.at_level(logging.WARNING, logger="rwsr.kernels.pool"):
        write_pool(write_kernels(tmp_path, sigmas), 2, tmp_path / "pool.npz")
    with np.load(tmp_path / "pool.npz") as data:
        assert list(data["rejected"]) == [False] * 5 + [True]
        assert data["spread"][5] > 7 * np.median(data["spread"])
    np.testing.assert_allclose(load_pool_weights(tmp_path / "pool.npz"), [0.2] * 5 + [0.0])
    logged = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(logged) == 1 and "diverged" in logged[0]
    # The pairs stage's draws: every kept kernel once per round, the rejected one never.
    from rwsr.pairs.make import load_kernel_pool

    draws = load_kernel_pool(tmp_path / "pool.npz", 2).draws(np.random.default_rng(0))
    first = [next(draws) for _ in range(50)]
    assert set(first[:5]) == {0, 1, 2, 3, 4} and 5 not in first


def test_a_pool_of_genuinely_varied_blurs_keeps_every_kernel(tmp_path):
    """Sizes spread evenly over a 4x range of variance (no majority to stand out from), five equal
    kernels and one with 1.5x their variance (a bit off is not a failure), and a pool of two very
    different kernels (no way to tell which one failed): nothing is rejected."""
    varied = {f"k{i}": (s, s) for i, s in enumerate(np.geomspace(0.8, 1.6, 6))}
    write_pool(write_kernels(tmp_path, varied), 2, tmp_path / "varied.npz")
    np.testing.assert_allclose(load_pool_weights(tmp_path / "varied.npz"), [1 / 6] * 6)
    (tmp_path / "tight").mkdir()
    tight = {**{f"same{i}": (1.0, 1.0) for i in range(5)}, "bit_wider": (1.22, 1.22)}
    write_pool(write_kernels(tmp_path / "tight", tight), 2, tmp_path / "tight.npz")
    np.testing.assert_allclose(load_pool_weights(tmp_path / "tight.npz"), [1 / 6] * 6)
    (tmp_path / "two").mkdir()
    write_pool(write_kernels(tmp_path / "two", {"sharp": (0.8, 0.8), "wide": (3.0, 3.0)}), 2, tmp_path / "two.npz")
    np.testing.assert_allclose(load_pool_weights(tmp_path / "two.npz"), [0.5, 0.5])
