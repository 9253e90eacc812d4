"""Does the configured degrader learn a known noise level? Prints figures, asserts nothing.

    python bench/bench_degrader_noise.py                       # config.yaml's degrader, sigma 0.04, seeds 0 1
    python bench/bench_degrader_noise.py --sigma 0.02 --jpeg 80 --iterations 1000 --kernel
    python bench/bench_degrader_noise.py --jpeg 80 --kernel --set generator_residual=high

Source: clean 96-pixel photos. Target: other photos plus Gaussian noise of `--sigma` (and JPEG at
`--jpeg`, which the degrader then also sees on its outputs). With `--kernel`, both sides are first
blurred with an anisotropic kernel and subsampled x2, as in the pipeline's `degrader.source: kernel`.
For each seed: the degraded sources' blind noise level (after the same JPEG) over the target's, the
high-pass std ratio, the colour error, and the band energy kept (below 1: the degrader blurs); then
what the degrader changed (output after JPEG minus source) against what the true degradation changes
(source plus the same Gaussian noise, then the same JPEG, minus source), as the ratio of their stds
in radial frequency bands: about 1 in every band for a degrader that makes the target's noise, well
above 1 in some bands for one that draws patterns, which a blind noise level on flat patches misses.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

from rwsr.config import load_config
from rwsr.degrader.apply import degrade_pixels, load_degrader
from rwsr.degrader.train import DegraderSettings, train_degrader
from rwsr.io.images import read_image, write_image
from rwsr.ops.degradation import add_gaussian_noise, anisotropic_gaussian_kernel, blur_subsample, jpeg_roundtrip
from rwsr.ops.jpeg import NO_COMPRESSION, Compression
from rwsr.ops.noise_level import high_frequency_energy, noise_sigma

ROOT = Path(__file__).resolve().parents[1]
SOURCE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
TARGET_PHOTOS = ("camera", "cat", "immunohistochemistry", "page")


def photo(name: str, side: int) -> np.ndarray:
    import skimage.data

    pixels = getattr(skimage.data, name)().astype(np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return cv2.resize(np.ascontiguousarray(pixels[:, :, :3]), (side, side), interpolation=cv2.INTER_AREA)


def make_domains(root: Path, sigma: float, jpeg: int | None, kernel: bool) -> None:
    rng = np.random.default_rng(0)
    blur = anisotropic_gaussian_kernel(13, 1.6, 0.9, 0.7, scale=2)
    for folder, names in (("source", SOURCE_PHOTOS), ("target", TARGET_PHOTOS)):
        for name in names:
            image = blur_subsample(photo(name, 192), blur, 2) if kernel else photo(name, 96)
            if folder == "target":
                image = add_gaussian_noise(image, sigma, rng)
                image = jpeg_roundtrip(image, jpeg) if jpeg else image
            write_image(root / folder / f"{name}.png", image)


def band_energy(pixels: np.ndarray) -> float:
    return float(np.std(cv2.GaussianBlur(pixels, (0, 0), 1.0) - cv2.GaussianBlur(pixels, (0, 0), 3.0)))


# Radial frequency bands in cycles per pixel (0.5: Nyquist along an axis, 0.71 on the diagonal).
BANDS = (0.0, 0.0625, 0.125, 0.25, 0.5, 0.71)


def band_stds(residual: np.ndarray) -> np.ndarray:
    """Std of an HxWxC residual within each radial frequency band of BANDS (Parseval)."""
    residual = residual - residual.mean(axis=(0, 1))
    power = np.mean([np.abs(np.fft.fft2(residual[:, :, c])) ** 2 for c in range(residual.shape[2])], axis=0)
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(residual.shape[0]), np.fft.fftfreq(residual.shape[1]), indexing="ij"))
    return np.array([np.sqrt(power[(radius >= low) & (radius < high)].sum()) / radius.size
                     for low, high in zip(BANDS[:-1], BANDS[1:])])  # fmt: skip


def residual_against_truth(sources: list[np.ndarray], outputs: list[np.ndarray], sigma: float,
                           jpeg: int | None) -> np.ndarray:  # fmt: skip
    """Per band: std of (output - source) over std of (true degradation of source - source)."""
    rng = np.random.default_rng(1)
    truths = [add_gaussian_noise(source, sigma, rng) for source in sources]
    truths = [jpeg_roundtrip(t, jpeg) if jpeg else t for t in truths]
    made = np.mean([band_stds(o - s) for s, o in zip(sources, outputs)], axis=0)
    true = np.mean([band_stds(t - s) for s, t in zip(sources, truths)], axis=0)
    return made / true


def measure(model: Path, root: Path, jpeg: int | None, sigma: float) -> dict[str, float]:
    generator = load_degrader(model, "cpu")
    torch.manual_seed(0)
    sources = [read_image(p).pixels for p in sorted((root / "source").iterdir())]
    targets = [read_image(p).pixels for p in sorted((root / "target").iterdir())]
    outputs = [degrade_pixels(generator, source, "cpu") for source in sources]
    outputs = [jpeg_roundtrip(o, jpeg) if jpeg else o for o in outputs]
    return {
        "noise_ratio": np.mean([noise_sigma(o) for o in outputs]) / np.mean([noise_sigma(t) for t in targets]),
        "hf_ratio": np.mean([high_frequency_energy(o) for o in outputs]) / np.mean([high_frequency_energy(t) for t in targets]),
        "colour_error": np.mean([np.abs(cv2.GaussianBlur(o, (0, 0), 2) - cv2.GaussianBlur(s, (0, 0), 2)).mean()
                                 for s, o in zip(sources, outputs)]),
        "band_kept": np.mean([band_energy(o) / band_energy(s) for s, o in zip(sources, outputs)]),
        **{f"change_vs_truth {low:g}-{high:g}": r for low, high, r in
           zip(BANDS[:-1], BANDS[1:], residual_against_truth(sources, outputs, sigma, jpeg))},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "config.yaml"), help="config whose degrader section is used")
    parser.add_argument("--sigma", type=float, default=0.04, help="target noise std on [0, 1]")
    parser.add_argument("--jpeg", type=int, help="JPEG quality of the targets (default: none)")
    parser.add_argument("--kernel", action="store_true", help="blur and subsample both domains first")
    parser.add_argument("--iterations", type=int, help="override degrader.iterations")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a degrader key")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = load_config(args.config)
    for item in args.set:
        key, value = item.split("=", 1)
        config["degrader"][key] = yaml.safe_load(value)
    settings = DegraderSettings.from_config(load_config(config))
    if args.iterations:
        settings = dataclasses.replace(settings, iterations=args.iterations)
    settings = dataclasses.replace(settings, checkpoint_every=10**9, resume="never")
    compression = Compression((args.jpeg,)) if args.jpeg else NO_COMPRESSION
    print(f"degrader: {settings.iterations} iterations, crop {settings.crop}, gan weight {settings.weight_gan}, "
          f"noise channels {settings.generator_noise_channels}, residual {settings.generator_residual}, select {settings.select}; target sigma {args.sigma}, "
          f"jpeg {args.jpeg}, kernel {args.kernel}; torch threads {torch.get_num_threads()}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_domains(root, args.sigma, args.jpeg, args.kernel)
        for seed in args.seeds:
            started = time.perf_counter()
            train_degrader(root / "source", root / "target", root / f"d{seed}.pt", settings, seed=seed, device="cpu",
                           compression=compression)  # fmt: skip
            figures = measure(root / f"d{seed}.pt", root, args.jpeg, args.sigma)
            print(f"seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
                  + f" ({time.perf_counter() - started:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
