#!/usr/bin/env bash
# GPU figures for issue 18, in one run of under 8 minutes on an H100/H200 (the session's device time
# is 15 minutes, all tries together): ESRGAN at the paper's size, GAN phase, in fp32, bf16 and
# bf16 + channels_last; BebyGAN at its paper's crop and batch; KernelGAN images per minute one by one
# and 16 at a time; `rwsr upscale` megapixels/s with and without --half; the peak memory of each.
#
#   bash bench/gpu_figures.sh          # on a CUDA machine
#   bash bench/gpu_figures.sh --tiny   # CPU check of this script: tiny networks, a few steps
#
# Training goes through the real loop (bench_sr.train_speed: two runs of different lengths, so
# start-up cancels), after a warm-up run that pays for CUDA's start and cudnn.benchmark's search.
# Peak memory: torch.cuda.max_memory_allocated over the measured runs (nan on CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/workflow:$PWD/bench${PYTHONPATH:+:$PYTHONPATH}"
tiny=0
if [[ "${1:-}" == "--tiny" ]]; then
    tiny=1
fi
# A hard stop below the 8 minutes, so a slow section cannot eat the next try's device time.
timeout 470 python - "$tiny" <<'PYTHON'
import dataclasses
import json
import logging
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch

from bench_sr import REPO, make_pairs, phase_run, timed_run, train_speed
from rwsr.cli import main as rwsr
from rwsr.config import load_config
from rwsr.io.images import write_image
from rwsr.kernels.train import KernelGANSettings, train_batch
from rwsr.nn.rrdbnet import RRDBNet
from rwsr.sr.train import SRSettings
from rwsr.sr.upscale import save_generator

TINY = sys.argv[1] == "1"
CUDA = torch.cuda.is_available()
if not CUDA and not TINY:
    sys.exit("no CUDA device: bash bench/gpu_figures.sh --tiny checks this script on CPU")
DEVICE = "cuda" if CUDA else "cpu"
STEPS = (2, 4) if TINY else (5, 25)
KERNELGAN_ITERATIONS, KERNELGAN_PAPER = (20, 3000) if TINY else (500, 3000)
print(f"torch {torch.__version__}, {torch.cuda.get_device_name() if CUDA else 'CPU (--tiny: figures are not GPU figures)'}",
      flush=True)


@contextmanager
def peak_mb(into: list):
    """Appends the allocator's peak (MB) over the block; nan on CPU."""
    if CUDA:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    yield
    if CUDA:
        torch.cuda.synchronize()
    into.append(torch.cuda.max_memory_allocated() / 2**20 if CUDA else float("nan"))


def gan_speed(name: str, s, pairs: Path) -> None:
    timed_run(phase_run(s, "gan", 1), pairs)  # warm-up: CUDA context, cudnn.benchmark's search
    peak = []
    with peak_mb(peak):
        speed = train_speed(s, pairs, "gan", STEPS)
    print(f"{name:34} batch {s.batch:2d} crop {s.crop:3d} amp {s.amp:4} channels_last {int(s.channels_last)}: "
          f"{speed:7.3f} GAN steps/s, peak {peak[0]:8.0f} MB", flush=True)


def training(pairs: Path) -> None:
    full = SRSettings.from_config(load_config(REPO / "configs" / "full.yaml"))
    base = dataclasses.replace(full, device=DEVICE, vgg_weights="random", init_weights=None)
    if TINY:
        base = dataclasses.replace(base, blocks=1, features=8, growth=4, batch=2, crop=32, discriminator="patch",
                                   discriminator_features=8)
    size = "tiny" if TINY else "paper size"
    print(f"\nESRGAN, {size} ({base.blocks} blocks, {base.features} features, growth {base.growth}), GAN phase; "
          f"steps {STEPS[0]} and {STEPS[1]}", flush=True)
    for label, amp, channels_last in (("esrgan fp32", "none", False), ("esrgan bf16", "bf16", False),
                                      ("esrgan bf16 + channels_last", "bf16", True)):
        gan_speed(label, dataclasses.replace(base, amp=amp, channels_last=channels_last), pairs)
    # BebyGAN's paper: 192-pixel crops, batch 8, the 192 VGG-style discriminator of 32 features.
    bebygan = dataclasses.replace(base, model="bebygan", betas=(0.9, 0.999), amp="bf16", channels_last=True)
    if not TINY:
        bebygan = dataclasses.replace(bebygan, crop=192, batch=8, discriminator="vgg192", discriminator_features=32)
    gan_speed("bebygan bf16 + channels_last", bebygan, pairs)


def smooth_image(rng: np.random.Generator, side: int) -> np.ndarray:
    noise = rng.random((side // 8, side // 8, 3)).astype(np.float32)
    return np.clip(cv2.resize(noise, (side, side), interpolation=cv2.INTER_CUBIC), 0, 1)


def kernelgan() -> None:
    settings = KernelGANSettings.from_config(iterations=KERNELGAN_ITERATIONS)
    if TINY:
        settings = dataclasses.replace(settings, g_channels=8, d_channels=8)
    rng = np.random.default_rng(0)
    images = [smooth_image(rng, 128 if TINY else 256) for _ in range(16)]
    device = torch.device(DEVICE)
    train_batch(images[:1], [0], dataclasses.replace(settings, iterations=5), device)  # warm-up
    factor = KERNELGAN_PAPER / settings.iterations
    print(f"\nKernelGAN, {settings.g_channels}/{settings.d_channels} channels, crop {settings.crop}: {settings.iterations} "
          f"iterations run, images per minute extrapolated to {KERNELGAN_PAPER} (x{factor:g})", flush=True)
    for label, count in (("one by one", 1), ("batched 16 at a time", 16)):
        peak = []
        with peak_mb(peak):
            start = time.perf_counter()
            train_batch(images[:count], list(range(count)), settings, device)
            seconds = (time.perf_counter() - start) * factor
        print(f"{label:22}: {60 * count / seconds:8.2f} images/min ({seconds / count:6.1f} s per image), "
              f"peak {peak[0]:8.0f} MB", flush=True)


def upscale(tmp: Path) -> None:
    model = RRDBNet(features=8, blocks=1, growth=4) if TINY else RRDBNet(features=64, blocks=23, growth=32)
    save_generator(tmp / "generator.pt", model, {"bench": "random weights"})
    rng, side, count = np.random.default_rng(1), 64 if TINY else 256, 8
    for index in range(count):
        write_image(tmp / "lr" / f"{index}.png", rng.random((side, side, 3)).astype(np.float32))
    megapixels = count * (4 * side) ** 2 / 1e6
    print(f"\nrwsr upscale, {count} LR images of {side}x{side} (x4: {megapixels:.1f} output MP), untiled, "
          f"{'tiny' if TINY else 'paper-size'} RRDBNet, PNG decoding and encoding included", flush=True)
    for half in (None, "fp16", "bf16"):
        if half and not CUDA:
            print(f"--half {half}: skipped (CUDA only)")
            continue
        args = ["upscale", "--model", str(tmp / "generator.pt"), "--input", str(tmp / "lr"), "--tile", "0",
                "--no-progress", "--overwrite", "--device", DEVICE, "--config", json.dumps({"device": DEVICE})]
        args += ["--half", half] if half else []
        peak = []
        logging.disable(logging.INFO)  # rwsr's per-image lines
        with peak_mb(peak):
            for output in ("warm", "timed"):  # the first pays for loading and cudnn's search
                start = time.perf_counter()
                if rwsr([*args, "--output", str(tmp / output)]) != 0:
                    sys.exit(f"rwsr {' '.join(args)} failed")
                seconds = time.perf_counter() - start
        print(f"{'--half ' + half if half else 'fp32':12}: {megapixels / seconds:8.2f} MP/s, peak {peak[0]:8.0f} MB",
              flush=True)


with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    training(make_pairs(tmp / "pairs", scale=4))
    kernelgan()
    upscale(tmp)
PYTHON
