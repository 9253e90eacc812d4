"""FID feature extraction speed on CPU: crops per second of the FID InceptionV3, per execution mode.

Prints crops/s for the plain float32 NCHW path and for each candidate (channels_last, bf16
autocast, batch size), and how much the FID of a fixed pair of crop sets moves under each (a
mode is only worth using when it moves the FID by < 1% relative). Random Inception weights with
He init (the offline default), 128-px crops of scikit-image photos resized to 299 as pytorch-fid
does; modes are interleaved, best of `--repeats`, so a busy machine hurts them alike.

    python bench/bench_fid.py [--crops 100] [--threads 2] [--repeats 3] [--compiled]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from skimage import data as skdata

from rwsr.evaluate.fid import frechet_moments
from rwsr.nn.inception import FIDInception


def photo_crops(count: int, size: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket()]
    crops = []
    for index in range(count):
        photo = photos[index % len(photos)]
        top, left = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        crop = photo[top : top + size, left : left + size].astype(np.float32) / 255.0
        crops.append(np.clip(crop + rng.normal(0, noise, crop.shape), 0, 1))
    return np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)


def features(model: FIDInception, crops: np.ndarray, batch: int, channels_last: bool, bf16: bool) -> np.ndarray:
    out = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(crops), batch):
            x = torch.from_numpy(crops[start : start + batch])
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            out.append(model(x).float().double().numpy())
    return np.concatenate(out)


def compiled_modes(model: FIDInception, example: np.ndarray) -> dict[str, tuple[torch.nn.Module, float]]:
    """Float32 graph-level alternatives to eager mode, each with its build time (one process pays
    it once per model; the first call of a compiled model builds it)."""
    import torch._inductor.config as inductor_config

    out = {}
    x = torch.from_numpy(example)
    with torch.inference_mode():
        start = time.perf_counter()
        frozen = torch.jit.freeze(torch.jit.trace(model, x, check_trace=False))
        frozen(x)
        out["fp32 TorchScript frozen batch 25"] = (frozen, time.perf_counter() - start)
        start = time.perf_counter()
        packed = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x, check_trace=False)))
        packed(x)
        out["fp32 TorchScript optimize_for_inference"] = (packed, time.perf_counter() - start)
        inductor_config.freezing = True
        start = time.perf_counter()
        compiled = torch.compile(model)
        compiled(x)
        out["fp32 torch.compile (inductor) batch 25"] = (compiled, time.perf_counter() - start)
    return out


def fid(a: np.ndarray, b: np.ndarray) -> float:
    return frechet_moments(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crops", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compiled", action="store_true",
                        help="also time TorchScript freezing (BatchNorm folded into the convolutions, oneDNN "
                             "pre-packed weights) and torch.compile (inductor, freezing), after building each")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clean, noisy = photo_crops(args.crops, 128, 0.0, 0), photo_crops(args.crops, 128, 0.05, 0)
    plain = FIDInception("random", seed=0).eval()
    fast = FIDInception("random", seed=0).eval().to(memory_format=torch.channels_last)
    modes = {
        "fp32 NCHW batch 25 (before)": (plain, 25, False, False),
        "fp32 NCHW batch 50": (plain, 50, False, False),
        "fp32 channels_last batch 25": (fast, 25, True, False),
        "fp32 channels_last batch 50": (fast, 50, True, False),
        "bf16 channels_last batch 25": (fast, 25, True, True),
        "bf16 channels_last batch 50": (fast, 50, True, True),
    }
    if args.compiled:
        for name, (model, seconds) in compiled_modes(plain, clean[:25]).items():
            print(f"{name}: built in {seconds:.1f} s")
            modes[name] = (model, 25, False, False)
    best = {name: float("inf") for name in modes}
    for _ in range(args.repeats):
        for name, (model, batch, channels_last, bf16) in modes.items():
            start = time.perf_counter()
            features(model, clean, batch, channels_last, bf16)
            best[name] = min(best[name], time.perf_counter() - start)
    reference = fid(*(features(plain, x, 25, False, False) for x in (noisy, clean)))
    print(f"{args.crops} crops of 128 px -> 299, {args.threads} threads, best of {args.repeats}; "
          f"FID(noisy, clean) fp32 = {reference:.4f}")  # fmt: skip
    base = args.crops / best["fp32 NCHW batch 25 (before)"]
    for name, (model, batch, channels_last, bf16) in modes.items():
        value = fid(*(features(model, x, batch, channels_last, bf16) for x in (noisy, clean)))
        rate = args.crops / best[name]
        print(f"  {name:32s} {rate:7.2f} crops/s  x{rate / base:4.2f}  FID change {100 * (value / reference - 1):+.3f}%")


if __name__ == "__main__":
    main()
