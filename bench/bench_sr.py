"""SR stage speed: training iterations/s (PSNR and GAN phase) and inference megapixels/s.

    python bench/bench_sr.py          # demo model sizes (config.yaml), CPU (+ GPU with bf16 AMP when present)
    python bench/bench_sr.py --full   # also the paper's model (configs/full.yaml); small batch on CPU

Training speed goes through the real loop (rwsr.sr.train.train_sr): two runs of different
lengths, so start-up (loading pairs, building VGG19) cancels in the difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rwsr.config import load_config
from rwsr.io.images import write_image
from rwsr.ops.degradation import anisotropic_gaussian_kernel, blur_subsample
from rwsr.sr.train import SRSettings, build_networks, settings_from_config, train_sr
from rwsr.sr.upscale import upscale_tensor

REPO = Path(__file__).resolve().parents[1]


def make_pairs(folder: Path, scale: int, side: int = 384, count: int = 4) -> Path:
    rng = np.random.default_rng(0)
    kernel = anisotropic_gaussian_kernel(13, 1.5, 1.0, 0.3)
    for index in range(count):
        hr = rng.random((side, side, 3)).astype(np.float32)
        write_image(folder / "hr" / f"{index}.png", hr)
        write_image(folder / "lr" / f"{index}.png", blur_subsample(hr, kernel, scale))
    return folder


def timed_run(settings: SRSettings, pairs: Path) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        train_sr(settings, pairs, out, progress=False)
        return time.perf_counter() - start


def train_speed(settings: SRSettings, pairs: Path, phase: str, steps: tuple[int, int]) -> float:
    """Iterations/s of one phase from the time difference of a short and a longer run."""
    base = dict(checkpoint_interval=10**9, sample_interval=10**9, log_interval=10**9, resume="never")
    times = []
    for n in steps:
        counts = {"psnr_iterations": n, "gan_iterations": 0} if phase == "psnr" else {"psnr_iterations": 1, "gan_iterations": n}
        times.append(timed_run(dataclasses.replace(settings, **base, **counts), pairs))
    return (steps[1] - steps[0]) / max(times[1] - times[0], 1e-9)


def inference_speed(settings: SRSettings, device: torch.device, lr_side: int, repeats: int = 3) -> float:
    """Output megapixels/s of the untiled generator on a square LR image."""
    generator, _, _ = build_networks(dataclasses.replace(settings, gan_iterations=0))
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    generator = generator.to(device, memory_format=memory_format).eval()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if settings.amp == "bf16" else None
    lr = torch.rand(1, 3, lr_side, lr_side, device=device).contiguous(memory_format=memory_format)
    upscale_tensor(generator, lr, settings.scale, autocast=autocast)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        upscale_tensor(generator, lr, settings.scale, autocast=autocast)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return repeats * (lr_side * settings.scale) ** 2 / 1e6 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also benchmark the paper-size model")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = {"demo": settings_from_config(load_config(REPO / "config.yaml"))}
    if args.full:
        sizes["full"] = settings_from_config(load_config(REPO / "configs" / "full.yaml"))
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        pairs = make_pairs(Path(tmp), scale=4)
        print(f"{'size':5} {'device':6} {'amp':5} {'batch':>5} {'crop':>4} {'psnr it/s':>10} {'gan it/s':>9} {'infer MP/s':>11}")
        for name, settings in sizes.items():
            for device in devices:
                on_gpu = device.type == "cuda"
                batch = settings.batch if on_gpu or name == "demo" else 2  # the paper's batch takes minutes per step on CPU
                s = dataclasses.replace(
                    settings, device=device.type, batch=batch, vgg_weights="random",
                    amp="bf16" if on_gpu else "none", channels_last=on_gpu,
                    discriminator="vgg128" if settings.crop == 128 else "patch",
                )  # fmt: skip
                steps = (5, 25) if on_gpu or name == "demo" else (1, 3)
                psnr_speed = train_speed(s, pairs, "psnr", steps)
                gan_speed = train_speed(s, pairs, "gan", steps)
                mps = inference_speed(s, device, 128 if name == "demo" or on_gpu else 64)
                print(f"{name:5} {device.type:6} {s.amp:5} {batch:5d} {s.crop:4d} {psnr_speed:10.2f} {gan_speed:9.2f} {mps:11.3f}",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
