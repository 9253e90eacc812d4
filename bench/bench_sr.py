"""SR stage speed: training iterations/s (PSNR and GAN phase) and inference megapixels/s;
ESRGAN's and BebyGAN's GAN-phase step time and peak memory side by side; the best-buddy loss's
chunked versus dense score matrix.

    python bench/bench_sr.py          # demo model sizes (config.yaml), CPU (+ GPU with bf16 AMP when present)
    python bench/bench_sr.py --full   # also the paper's model (configs/full.yaml); small batch on CPU
    python bench/bench_sr.py --loop --repeats 3   # only the loop: steps/s and host syncs per step, demo size
    python bench/bench_sr.py --loop --cpu-time    # the same, timed by CPU time (a shared machine)

Training speed goes through the real loop (rwsr.sr.train.train_sr): two runs of different
lengths, so start-up (loading pairs, building VGG19) cancels in the difference. Peak memory is
that of one GAN step above what the networks and data already hold: torch's allocator peak on
GPU, the resident-set high-water mark of a fresh process on CPU. Host syncs per step are counted
the same way, as the difference of two runs: on CPU by patching the Tensor methods that would wait
for a GPU (rwsr.train.syncs), on CUDA by torch.cuda.set_sync_debug_mode's warnings.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import multiprocessing
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch

from rwsr.config import load_config
from rwsr.io.images import write_image
from rwsr.ops.degradation import anisotropic_gaussian_kernel, blur_subsample
from rwsr.sr import bebygan_losses
from rwsr.sr.data import crop_batch, load_pair_folder
from rwsr.sr.train import SRSettings, build_networks, train_sr
from rwsr.sr.upscale import upscale_tensor
from rwsr.train.gan import discriminator_step, judge, set_requires_grad
from rwsr.train.syncs import count_host_syncs

REPO = Path(__file__).resolve().parents[1]
# The training timings' clock; --cpu-time makes it this process's CPU time, which other jobs on a
# shared machine disturb far less than the wall clock (with one torch thread, it is the work done).
CLOCK = time.perf_counter


def make_pairs(folder: Path, scale: int, side: int = 384, count: int = 4) -> Path:
    rng = np.random.default_rng(0)
    kernel = anisotropic_gaussian_kernel(13, 1.5, 1.0, 0.3, scale)
    for index in range(count):
        hr = rng.random((side, side, 3)).astype(np.float32)
        write_image(folder / "hr" / f"{index}.png", hr)
        write_image(folder / "lr" / f"{index}.png", blur_subsample(hr, kernel, scale))
    return folder


def timed_run(settings: SRSettings, pairs: Path) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = CLOCK()
        train_sr(settings, pairs, out, progress=False)
        return CLOCK() - start


def phase_run(settings: SRSettings, phase: str, steps: int, log_interval: int = 10**9) -> SRSettings:
    """`steps` steps of one phase (a GAN run starts with one PSNR step), writing nothing on the way."""
    counts = {"psnr_iterations": steps, "gan_iterations": 0} if phase == "psnr" else {"psnr_iterations": 1,
                                                                                       "gan_iterations": steps}
    return dataclasses.replace(settings, checkpoint_interval=10**9, sample_interval=10**9, log_interval=log_interval,
                               resume="never", **counts)  # fmt: skip


def train_speed(settings: SRSettings, pairs: Path, phase: str, steps: tuple[int, int]) -> float:
    """Iterations/s of one phase from the time difference of a short and a longer run."""
    times = [timed_run(phase_run(settings, phase, n), pairs) for n in steps]
    return (steps[1] - steps[0]) / max(times[1] - times[0], 1e-9)


@contextmanager
def cuda_sync_counter() -> Iterator[list]:
    """The syncs torch reports on CUDA (set_sync_debug_mode warns once per sync), as a list of warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield caught
        finally:
            torch.cuda.set_sync_debug_mode("default")


def host_syncs(settings: SRSettings, pairs: Path, phase: str, log_interval: int, steps: tuple[int, int] = (2, 4)) -> float:
    """Host syncs per step of one phase, from the difference of two runs (start-up and the end's
    writing cancel): with a huge log_interval the steps between log lines, with 1 a step that logs."""
    counts = []
    for n in steps:
        counter = cuda_sync_counter() if settings.device.startswith("cuda") else count_host_syncs()
        with tempfile.TemporaryDirectory() as out, counter as calls:
            train_sr(phase_run(settings, phase, n, log_interval), pairs, out, progress=False)
            counts.append(len(calls) if isinstance(calls, list) else sum(calls.values()))
    return (counts[1] - counts[0]) / (steps[1] - steps[0])


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


class PeakMemory:
    """Peak memory in MB above the level at entry: torch's allocator peak on CUDA; on CPU the
    resident-set high-water mark, reset at entry through /proc/self/clear_refs (Linux)."""

    def __init__(self, device: torch.device):
        self.device, self.mb = device, float("nan")

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # resets VmHWM to the current resident set
            self.start = _proc_status_kib("VmRSS") * 1024
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.mb = (torch.cuda.max_memory_allocated() - self.start) / 2**20
        else:
            self.mb = (_proc_status_kib("VmHWM") * 1024 - self.start) / 2**20


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def in_fresh_process(device: torch.device, function, *args):
    """function(*args), on CPU in a spawned process: memory the allocator already holds from
    earlier measurements would hide new allocations from the resident set."""
    if device.type == "cuda":
        return function(*args)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def gan_step_profile(s: SRSettings, pairs_dir: Path, steps: int = 3) -> tuple[float, float]:
    """(seconds per step, peak MB) of GAN-phase steps (generator update, then discriminator update)
    through the model's loss object, as the training loop runs them. Peak: the first step, above
    the loaded networks and pairs; time: the mean of the later steps (no first-step allocations)."""
    device = torch.device(s.device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if s.amp == "bf16" else nullcontext()
    generator, discriminator, loss_fn = (module.to(device) for module in build_networks(s))
    opt_g = torch.optim.Adam(generator.parameters(), s.gan_lr, betas=s.betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), s.gan_lr, betas=s.betas)
    lr, hr = (t.to(device) for t in crop_batch(load_pair_folder(pairs_dir, s.scale), s.batch, s.crop, s.seed, 0))

    def step() -> None:
        opt_g.zero_grad(set_to_none=True)
        with autocast:
            sr = generator(lr)
        real, fake = loss_fn.discriminator_inputs(sr, hr, lr)
        set_requires_grad(discriminator, False)
        with autocast:
            g_loss, _ = loss_fn.gan_phase(sr, hr, lr, *judge(discriminator, real, fake))
        g_loss.backward()
        opt_g.step()
        discriminator_step(discriminator, opt_d, real, fake, autocast)

    with PeakMemory(device) as peak:
        step()
    start = time.perf_counter()
    for _ in range(steps - 1):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / max(steps - 1, 1), peak.mb


def best_buddy_step(batch: int, side: int, chunk: int, device_type: str) -> tuple[float, float]:
    """(seconds, peak MB) of one best-buddy loss forward + backward with `chunk` score rows at once."""
    device = torch.device(device_type)
    bebygan_losses.CHUNK = chunk
    generator = torch.Generator().manual_seed(0)
    hr = torch.rand(batch, 3, side, side, generator=generator).to(device)
    sr = torch.rand(batch, 3, side, side, generator=generator).to(device).requires_grad_(True)
    with PeakMemory(device) as peak:
        start = time.perf_counter()
        bebygan_losses.best_buddy_loss(sr, hr).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    return seconds, peak.mb


def compare_gan_phase(sizes: dict[str, SRSettings], devices: list[torch.device], pairs: Path) -> None:
    print("\nGAN phase, same generator, crops and batch: ESRGAN vs BebyGAN (best-buddy, back-projection, 3-layer VGG, masked D)")
    print(f"{'size':5} {'device':6} {'amp':5} {'batch':>5} {'crop':>4} {'esrgan s/step':>13} {'bebygan s/step':>14} "
          f"{'esrgan step MB':>14} {'bebygan step MB':>15}")  # fmt: skip
    for name, settings in sizes.items():
        for device in devices:
            on_gpu = device.type == "cuda"
            batch = settings.batch if on_gpu or name == "demo" else 2
            steps = 20 if on_gpu else 3  # a CPU GAN step takes seconds, even at demo size
            seconds, peak = {}, {}
            for model in ("esrgan", "bebygan"):
                s = dataclasses.replace(
                    settings, model=model, device=device.type, batch=batch, vgg_weights="random",
                    amp="bf16" if on_gpu else "none", channels_last=on_gpu,
                    discriminator="vgg128" if settings.crop == 128 else "patch",
                )  # fmt: skip
                seconds[model], peak[model] = in_fresh_process(device, gan_step_profile, s, pairs, steps)
            print(f"{name:5} {device.type:6} {s.amp:5} {batch:5d} {settings.crop:4d} {seconds['esrgan']:13.3f} "
                  f"{seconds['bebygan']:14.3f} {peak['esrgan']:14.0f} {peak['bebygan']:15.0f}", flush=True)  # fmt: skip


def compare_best_buddy_chunking(devices: list[torch.device], batch: int = 8, side: int = 192) -> None:
    """The paper's batch of 8 HR crops of 192 px: 4096 SR patches x 5376 candidates per image."""
    patches = (side // 3) ** 2
    print(f"\nbest-buddy loss, batch {batch} of {side}-px HR crops ({patches} patches per image), forward + backward, fp32")
    print(f"{'device':6} {'rows at once':>12} {'seconds':>8} {'peak MB':>8}")
    for device in devices:
        for chunk in (bebygan_losses.CHUNK, patches):
            seconds, peak = in_fresh_process(device, best_buddy_step, batch, side, chunk, device.type)
            label = f"{chunk}" + (" (dense)" if chunk == patches else "")
            print(f"{device.type:6} {label:>12} {seconds:8.2f} {peak:8.0f}", flush=True)


def loop_figures(settings: SRSettings, device: torch.device, pairs: Path, repeats: int, steps: tuple[int, int]) -> None:
    """The training loop alone at demo size: steps/s of each phase, `repeats` times, and host syncs per step."""
    s = dataclasses.replace(settings, device=device.type, vgg_weights="random")
    print(f"\ntraining loop, demo size, {device.type}, batch {s.batch}, crop {s.crop}, {s.blocks} blocks, "
          f"{s.features} features; steps {steps[0]} and {steps[1]}, {repeats} repeats")  # fmt: skip
    print(f"{'phase':5} {'steps/s (each repeat)':>40} {'syncs/step':>10} {'syncs/log step':>14}")
    for phase in ("psnr", "gan"):
        speeds = [train_speed(s, pairs, phase, steps) for _ in range(repeats)]
        quiet, logging_ = host_syncs(s, pairs, phase, 10**9), host_syncs(s, pairs, phase, 1)
        print(f"{phase:5} {' '.join(f'{v:7.3f}' for v in speeds):>40} {quiet:10.1f} {logging_:14.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also benchmark the paper-size model")
    parser.add_argument("--loop", action="store_true", help="only the training loop: steps/s and host syncs per step")
    parser.add_argument("--repeats", type=int, default=3, help="with --loop: timings per phase")
    parser.add_argument("--steps", type=int, nargs=2, default=(5, 25), help="with --loop: the two run lengths")
    parser.add_argument("--cpu-time", action="store_true", help="time training by CPU time, not the wall clock (CPU only)")
    args = parser.parse_args()
    if args.cpu_time:
        global CLOCK
        CLOCK = time.process_time
    logging.basicConfig(level=logging.WARNING)
    sizes = {"demo": SRSettings.from_config(load_config(REPO / "config.yaml"))}
    if args.loop:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        with tempfile.TemporaryDirectory() as tmp:
            loop_figures(sizes["demo"], device, make_pairs(Path(tmp), scale=4), args.repeats, tuple(args.steps))
        return
    if args.full:
        sizes["full"] = SRSettings.from_config(load_config(REPO / "configs" / "full.yaml"))
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
        compare_gan_phase(sizes, devices, pairs)
    compare_best_buddy_chunking(devices)


if __name__ == "__main__":
    main()
