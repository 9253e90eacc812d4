"""DSGAN training speed: iterations per second of the real training loop on random images.

    python bench/bench_dsgan.py          # demo-sized networks and crops (config.yaml), CPU (+ GPU when present)
    python bench/bench_dsgan.py --full   # also the paper's sizes (configs/full.yaml: 64x8 generator, 128 crops, batch 16)

Each case runs `warmup` + `iterations` steps through `train_degrader` and reports the steps
after warm-up (the first steps pay for allocation and cuDNN autotuning).
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
from rwsr.degrader.train import DegraderSettings, train_degrader
from rwsr.io.images import write_image

ROOT = Path(__file__).resolve().parents[1]


def make_folders(root: Path, side: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    for name in ("source", "target"):
        for index in range(4):
            write_image(root / name / f"{index}.png", rng.random((side, side, 3)).astype(np.float32))
    return root / "source", root / "target"


def steps_per_second(settings: DegraderSettings, device: str, iterations: int, warmup: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        source, target = make_folders(Path(tmp), max(settings.crop, 64))
        # Bookkeeping off: time the optimisation steps only.
        settings = dataclasses.replace(settings, checkpoint_every=10**9, log_every=10**9, resume="never")
        # The loop's own timer starts after data loading and network building.
        warm = train_degrader(source, target, Path(tmp) / "w.pt", dataclasses.replace(settings, iterations=warmup),
                              device=device)  # fmt: skip
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        full = train_degrader(source, target, Path(tmp) / "f.pt",
                              dataclasses.replace(settings, iterations=warmup + iterations), device=device)  # fmt: skip
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return iterations / max(full["seconds"] - warm["seconds"], 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also time the paper's sizes")
    parser.add_argument("--iterations", type=int, default=20, help="timed steps per case (default 20)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.threads:
        torch.set_num_threads(args.threads)

    cases = {"demo": DegraderSettings.from_config(load_config(ROOT / "config.yaml"))}
    if args.full:
        full = DegraderSettings.from_config(load_config(ROOT / "configs" / "full.yaml"))
        cases["full"] = dataclasses.replace(full, vgg_weights="random")  # speed does not depend on the weights
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"))  # fmt: skip
    print(f"{'case':6} {'device':6} {'crop':>5} {'batch':>5} {'G ch x blocks':>14} {'D ch':>5} {'VGG layer':>9} {'it/s':>8}")
    for name, settings in cases.items():
        for device in devices:
            iterations = args.iterations if device == "cuda" or name == "demo" else max(3, args.iterations // 10)
            rate = steps_per_second(settings, device, iterations, warmup=2 if device == "cpu" else 5)
            shape = f"{settings.generator_channels} x {settings.generator_blocks}"
            print(f"{name:6} {device:6} {settings.crop:5d} {settings.batch:5d} {shape:>14} "
                  f"{settings.discriminator_channels:5d} {settings.vgg_layer:>9} {rate:8.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
