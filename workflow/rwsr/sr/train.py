"""Train an SR GAN (ESRGAN, or BebyGAN, which plugs in its loss) on a pair set: `rwsr train-sr`.

Reads top to bottom: settings, setup (distributed, device, autocast, seed), build or resume,
small helpers, then one loop over named steps (feed_data, optimize_parameters, then logging and
saving) on a small state object (TrainState). Two phases share the loop and its step counter: a PSNR-oriented
phase (the model's `psnr_phase` loss, L1 for ESRGAN), then the GAN phase, which starts from the
PSNR generator's (EMA) weights with fresh optimisers. The outputs, in `outdir`:
generator_psnr.pt, generator_gan.pt, generator.pt (network interpolation of the two with
`interpolation_alpha`), loss.csv, samples/, config.yaml; checkpoint.pt while training runs.

A checkpoint holds everything a resume needs, the loss log and the PSNR generator included (a
failed Snakemake job loses its declared outputs), and a hash of every setting that shapes
training: a checkpoint of other settings is another run, so training starts over, logging the
changed keys. A finished run deletes its checkpoint, so nothing is mistaken for progress.
On SIGTERM/SIGINT (rwsr.train.guards) the loop writes a checkpoint after the current step and stops.
Multi-GPU: run under torchrun (or `rwsr train-sr --nproc N`); CPU processes use gloo.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import math
import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.distributed as dist
import torch.nn as nn
import yaml

from rwsr.config import StageSettings
from rwsr.device import resolve_device
from rwsr.errors import InputError
from rwsr.io.atomic import write_text_atomic
from rwsr.io.images import write_image
from rwsr.io.losslog import LossLog
from rwsr.io.progress import progress_bar
from rwsr.nn.discriminators import PatchDiscriminator, VGGStyleDiscriminator
from rwsr.nn.pretrained import file_sha256
from rwsr.nn.rrdbnet import RRDBNet
from rwsr.ops.resize import imresize
from rwsr.sr.data import PairSet, check_crop, crop_batch, full_images, load_pair_folder, load_pairs
from rwsr.sr.interop import load_init_weights
from rwsr.sr.losses import BebyGANLoss, ESRGANLoss
from rwsr.sr.upscale import save_generator, upscale_tensor
from rwsr.train.checkpoint import (changed_keys, load_checkpoint, rng_states, save_checkpoint, set_rng_states,
                                   settings_hash, unwrap)  # fmt: skip
from rwsr.train.guards import FiniteGuard, TrainingInterrupted, stop_requested
from rwsr.train.gan import discriminator_step, ema_decay_at, ema_update, interpolate_state, judge, set_requires_grad
from rwsr.train.syncs import to_device, to_host

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SRSettings(StageSettings):
    """The config's `sr` section (its schema documents each key and holds the defaults, ESRGAN's
    paper settings), plus three top-level keys every stage shares: `scale` (the pairs' factor),
    `seed` (all randomness) and `device`. Built by `SRSettings.from_config(config)`."""

    SECTION: ClassVar[str] = "sr"
    TOP_LEVEL_KEYS: ClassVar[tuple[str, ...]] = ("scale", "seed", "device")

    model: str
    scale: int
    seed: int
    device: str
    blocks: int
    features: int
    growth: int
    crop: int  # HR crop side; the LR crop is crop / scale
    batch: int  # total over all processes
    psnr_iterations: int
    psnr_lr: float
    psnr_milestones: tuple[int, ...]
    gan_iterations: int
    gan_lr: float
    gan_milestones: tuple[int, ...]
    lr_gamma: float
    # schedule "cosine": cosine annealing from the phase's lr to min_lr over each period, restarting
    # at the next; every period opens with a linear warm-up from warmup_factor * lr (BebyGAN's code).
    schedule: str
    psnr_periods: tuple[int, ...]
    gan_periods: tuple[int, ...]
    warmup_iterations: int
    warmup_factor: float
    min_lr: float
    betas: tuple[float, float]
    pixel_weight: float
    perceptual_weight: float
    gan_weight: float
    frequency_separation: int  # ESRGAN only: 9 is ESRGAN-FS
    perceptual_band: str  # ESRGAN only
    # BebyGAN only
    best_buddy_weight: float
    best_buddy_alpha: float
    best_buddy_beta: float
    back_projection_weight: float
    perceptual_layers: dict[str, float]
    mask_window: int
    mask_threshold: float
    ema_decay: float  # 0 turns the EMA off
    interpolation_alpha: float
    discriminator: str
    discriminator_features: int
    amp: str
    channels_last: bool
    checkpoint_interval: int
    log_interval: int
    sample_interval: int
    resume: str
    vgg_weights: str
    tile: int
    tile_pad: int
    init_weights: str | None  # a BasicSR/ESRGAN-layout file the generator starts from (rwsr.sr.interop)


# Picking a model by name: its generator class and its loss (the loop is shared).
MODELS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "esrgan": (RRDBNet, ESRGANLoss),
    "bebygan": (RRDBNet, BebyGANLoss),
}
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Settings that only say how often to write things, where to run, or how to tile the validation
# monitor: they do not change the model, so a checkpoint made with other values still resumes.
BOOKKEEPING_KEYS = ("checkpoint_interval", "log_interval", "sample_interval", "resume", "device", "tile", "tile_pad")
# The advice of a diverged run.
DIVERGENCE_KEYS = "config keys 'sr.psnr_lr' / 'sr.gan_lr' (or set 'sr.amp: none')"


def run_key(s: SRSettings, pairs: PairSet, world: int, vgg_weights: str, vgg_init: str) -> dict[str, Any]:
    """Everything that shapes the trained weights: a checkpoint resumes only under the same key."""
    digest = hashlib.sha256()
    for stem, lr, hr in zip(pairs.stems, pairs.lr, pairs.hr):
        digest.update(stem.encode() + str(tuple(lr.shape)).encode() + lr.numpy().tobytes() + hr.numpy().tobytes())
    settings = {k: v for k, v in dataclasses.asdict(s).items() if k not in BOOKKEEPING_KEYS}
    init = file_sha256(s.init_weights) if s.init_weights is not None else None  # new weights at one path: a new run
    return {**_plain(settings), "pairs": digest.hexdigest(), "processes": world, "vgg_weights": vgg_weights,
            "vgg_init": vgg_init, "init_weights_sha256": init}  # fmt: skip


def build_networks(s: SRSettings) -> tuple[nn.Module, nn.Module, nn.Module]:
    generator_cls, loss_cls = MODELS[s.model]
    torch.manual_seed(s.seed)
    generator = generator_cls(features=s.features, blocks=s.blocks, growth=s.growth, scale=s.scale)
    if s.init_weights is not None:  # fine-tuning a published ESRGAN, as the DSGAN paper trained its SR model
        load_init_weights(s.init_weights, generator)
    if s.discriminator.startswith("vgg"):  # vgg128 (ESRGAN), vgg192 (BebyGAN): judge crops of that side
        discriminator = VGGStyleDiscriminator(features=s.discriminator_features, input_size=s.crop)
    else:
        discriminator = PatchDiscriminator(features=s.discriminator_features)
    loss = loss_cls.from_settings(s)
    return generator, discriminator, loss


def check_settings(s: SRSettings, world: int) -> None:
    if s.model not in MODELS:
        raise InputError(f"config key 'sr.model': unknown model {s.model!r}; known: {', '.join(MODELS)}")
    side = int(s.discriminator[3:]) if s.discriminator.startswith("vgg") else None
    if side is not None and s.crop != side and s.gan_iterations > 0:
        raise InputError(f"config key 'sr.crop' is {s.crop} but sr.discriminator {s.discriminator} judges {side}x{side} "
                         f"crops; set sr.crop: {side} or sr.discriminator: patch")  # fmt: skip
    if s.discriminator == "patch" and s.crop < 24:
        raise InputError(f"config key 'sr.crop' is {s.crop}; the patch discriminator needs at least 24")
    if s.batch % world:
        raise InputError(f"config key 'sr.batch' ({s.batch}) must be divisible by the {world} training processes")


def get_lr(s: SRSettings, step: int) -> float:
    """The learning rate of `step`, counted from the start of the current phase: a function of the
    step alone, so a resumed run needs no scheduler state."""
    psnr = step < s.psnr_iterations
    base, t = (s.psnr_lr, step) if psnr else (s.gan_lr, step - s.psnr_iterations)
    if s.schedule == "multistep":
        return base * s.lr_gamma ** sum(t >= m for m in (s.psnr_milestones if psnr else s.gan_milestones))
    # cosine: find the period holding t; the last period repeats when the phase outlasts them all
    periods = s.psnr_periods if psnr else s.gan_periods
    for period in periods[:-1]:
        if t < period:
            break
        t -= period
    else:
        period = periods[-1]
        t %= period
    if t < s.warmup_iterations:
        return s.min_lr + (base - s.min_lr) * (s.warmup_factor + (1 - s.warmup_factor) * t / s.warmup_iterations)
    # From base right after the warm-up down to min_lr on the period's last step.
    progress = (t - s.warmup_iterations) / max(period - s.warmup_iterations - 1, 1)
    return s.min_lr + (base - s.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def psnr(sr: torch.Tensor, hr: torch.Tensor, shave: int) -> float:
    """Training monitor only; the evaluate stage reports the real scores."""
    diff = (sr.clamp(0, 1) - hr)[..., shave:-shave, shave:-shave]
    return -10.0 * math.log10(max(diff.pow(2).mean().item(), 1e-12))


@torch.no_grad()
def evaluate(model: nn.Module, val: PairSet, s: SRSettings, device: torch.device, autocast) -> float:
    was_training = model.training
    model.eval()
    scores = []
    for index in range(len(val.stems)):
        lr, hr = full_images(val, index)
        sr = upscale_tensor(model, lr.to(device), s.scale, s.tile, s.tile_pad, autocast).cpu()
        scores.append(psnr(sr, hr, s.scale))
    model.train(was_training)
    return sum(scores) / len(scores)


@torch.no_grad()
def sample_grid(model: nn.Module, pairs: PairSet, s: SRSettings, device: torch.device, path: Path) -> None:
    """One row per image (up to 4): bicubic | SR | HR of a central crop."""
    was_training = model.training
    model.eval()
    count = min(4, len(pairs.stems))
    side = min([s.crop // s.scale * 2] + [min(lr.shape[1:]) for lr in pairs.lr[:count]])
    rows = []
    for index in range(count):
        lr, hr = full_images(pairs, index)
        top, left = max((lr.shape[2] - side) // 2, 0), max((lr.shape[3] - side) // 2, 0)
        lr = lr[..., top : top + side, left : left + side]
        hr = hr[..., top * s.scale : (top + side) * s.scale, left * s.scale : (left + side) * s.scale]
        sr = model(lr.to(device)).float().cpu().clamp(0, 1)
        rows.append(torch.cat([imresize(lr, s.scale).clamp(0, 1), sr, hr], dim=3))
    model.train(was_training)
    write_image(path, torch.cat(rows, dim=2))


@dataclass(frozen=True)
class Run:
    """Where and how this process trains, decided once by `setup`."""

    world: int
    rank: int
    device: torch.device
    autocast: AbstractContextManager  # a null context on CPU and with amp none
    memory_format: torch.memory_format
    writer: bool  # rank 0 writes every file


@dataclass
class TrainState:
    """What training changes: the networks, their optimisers and the counters a checkpoint holds."""

    generator: nn.Module  # DDP-wrapped under torchrun; unwrap() gives the module with clean keys
    discriminator: nn.Module
    loss_fn: nn.Module
    ema: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    step: int = 0
    best_psnr: float = -math.inf
    psnr_state: dict[str, torch.Tensor] | None = None  # the PSNR generator, once the GAN phase has begun


@dataclass(frozen=True)
class Outputs:
    """Where this run writes, and what identifies it in every checkpoint and generator file."""

    outdir: Path
    loss_log: LossLog
    key: dict[str, Any]
    key_hash: str
    meta: dict[str, Any]

    @property
    def checkpoint(self) -> Path:
        return self.outdir / "checkpoint.pt"


def train_sr(s: SRSettings, pairs_dir: str | Path, outdir: str | Path, val: tuple[str | Path, str | Path] | None = None,
             progress: bool = True) -> Path:  # fmt: skip
    """Train on the pair set in `pairs_dir` (lr/, hr/), monitoring PSNR on the optional (val LR folder,
    val HR folder); returns the path of generator.pt."""
    outdir = Path(outdir)
    # --- setup: processes, device, autocast, seed ---
    run = setup(s)
    pairs = dataclasses.replace(load_pair_folder(pairs_dir, s.scale), pin=run.device.type == "cuda")
    check_crop(pairs, s.crop)
    val = load_pairs(*val, s.scale) if val is not None else None

    # --- build or resume ---
    state = build_state(s, run)
    total = s.psnr_iterations + s.gan_iterations
    out = open_outputs(s, outdir, pairs_dir, pairs, run, state.loss_fn)
    previous = previous_run(out.checkpoint, s, out.key, out.key_hash, run.device)
    if previous is not None:
        resume(state, previous)
        log.info("resumed from %s at step %d of %d", out.checkpoint, state.step, total)
    resumed_log = previous["loss_log"] if previous is not None else None
    del previous  # its tensors are in the networks now; do not keep a second copy on the device
    if run.world > 1:
        ddp_ids = [run.device.index] if run.device.type == "cuda" else None
        state.generator = nn.parallel.DistributedDataParallel(state.generator, device_ids=ddp_ids)
        state.discriminator = nn.parallel.DistributedDataParallel(state.discriminator, device_ids=ddp_ids)
    if run.writer:
        start_outputs(s, out, state.step, resumed_log)
        log.info("training %s on %d pairs from %s: %d PSNR + %d GAN steps on %s x%d, perceptual VGG19 weights: %s",
                 s.model, len(pairs.stems), pairs_dir, s.psnr_iterations, s.gan_iterations, run.device, run.world,
                 state.loss_fn.describe())  # fmt: skip
    bar = progress_bar(total=total, initial=state.step, enabled=progress and run.writer, desc=f"{s.model} x{s.scale}")
    guard = FiniteGuard(f"sr training ({s.model})", DIVERGENCE_KEYS)

    # --- the loop: no host sync except on the steps that log or write ---
    state.generator.train()
    state.discriminator.train()
    while state.step < total:
        if state.step == s.psnr_iterations and s.gan_iterations > 0:
            start_gan_phase(s, run, state, out, guard)
        phase = "gan" if state.step >= s.psnr_iterations else "psnr"
        lr_now = set_lr(s, state)
        lr_batch, hr_batch = feed_data(s, run, pairs, state.step)
        parts = optimize_parameters(s, run, state, lr_batch, hr_batch, guard)
        state.step += 1
        bar.update(1)

        step = state.step
        logging_step = step % s.log_interval == 0 or step == total
        sample_step = step % s.sample_interval == 0 or step == total
        saving = step % s.checkpoint_interval == 0 or step == total
        if logging_step or sample_step or saving:
            check_finite(guard, state)  # no NaN reaches a log line, a sample or a checkpoint
        if run.writer and logging_step:
            log_step(s, run, state, out, phase, lr_now, parts, val, bar)
        if run.writer and sample_step:
            sample_grid(published(s, state), val if val is not None else pairs, s, run.device,
                        out.outdir / "samples" / f"step_{step:07d}.png")  # fmt: skip
        if run.writer and saving:
            save_state(s, state, out)
        signum = stop_signal(run.world, run.device)
        if signum and step < total:
            check_finite(guard, state)
            if run.writer and not saving:
                save_state(s, state, out)
            raise TrainingInterrupted("train-sr", signum, step, str(out.checkpoint))
    bar.close()

    # --- outputs: the PSNR and GAN generators, and their interpolation ---
    check_finite(guard, state)
    final = write_outputs(s, state, out) if run.writer else out.outdir / "generator.pt"
    if run.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return final


# ----------------------------------------------------------------------------- setup, build, resume
def setup(s: SRSettings) -> Run:
    """Processes (torchrun's environment), device, autocast and memory format."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(s.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    check_settings(s, world)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # every step has the same crop shapes: time the conv algorithms once
    autocast = nullcontext() if s.amp == "none" else torch.autocast(device.type, dtype=AMP_DTYPES[s.amp])
    memory_format = torch.channels_last if s.channels_last else torch.contiguous_format
    return Run(world, rank, device, autocast, memory_format, writer=rank == 0)


def make_optimizers(s: SRSettings, generator: nn.Module, discriminator: nn.Module,
                    lr: float) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:  # fmt: skip
    return (torch.optim.Adam(generator.parameters(), lr, betas=s.betas),
            torch.optim.Adam(discriminator.parameters(), lr, betas=s.betas))  # fmt: skip


def build_state(s: SRSettings, run: Run) -> TrainState:
    """Fresh networks (seeded by build_networks) on the device, the EMA, the PSNR phase's optimisers."""
    generator, discriminator, loss_fn = build_networks(s)
    generator.to(run.device, memory_format=run.memory_format)
    discriminator.to(run.device, memory_format=run.memory_format)
    loss_fn.to(run.device)
    ema = copy.deepcopy(generator).eval().requires_grad_(False)
    opt_g, opt_d = make_optimizers(s, generator, discriminator, s.psnr_lr)
    # bf16 keeps float32's exponent range; only float16 gradients need loss scaling.
    scaler = torch.amp.GradScaler(run.device.type) if s.amp == "fp16" else None
    return TrainState(generator, discriminator, loss_fn, ema, opt_g, opt_d, scaler)


def resume(state: TrainState, checkpoint: dict[str, Any]) -> None:
    """Continue exactly where the checkpoint's run stopped: weights, optimisers, counters, RNG states."""
    state.generator.load_state_dict(checkpoint["generator"])
    state.discriminator.load_state_dict(checkpoint["discriminator"])
    state.ema.load_state_dict(checkpoint["ema"])
    state.opt_g.load_state_dict(checkpoint["opt_g"])
    state.opt_d.load_state_dict(checkpoint["opt_d"])
    if state.scaler is not None and checkpoint["scaler"] is not None:
        state.scaler.load_state_dict(checkpoint["scaler"])
    state.step, state.best_psnr, state.psnr_state = checkpoint["step"], checkpoint["best_psnr"], checkpoint["psnr_generator"]
    set_rng_states(checkpoint["rng"])


def open_outputs(s: SRSettings, outdir: Path, pairs_dir: str | Path, pairs: PairSet, run: Run,
                 loss_fn: nn.Module) -> Outputs:  # fmt: skip
    key = run_key(s, pairs, run.world, loss_fn.describe(), loss_fn.vgg_init())
    fields = ["phase", "lr", *loss_fn.fields, "d_loss", "d_real", "d_fake", "val_psnr"]
    meta = {"settings": dataclasses.asdict(s), "vgg_weights": loss_fn.describe(), "vgg_init": loss_fn.vgg_init(),
            "pairs": str(pairs_dir)}  # fmt: skip
    return Outputs(outdir, LossLog(outdir / "loss.csv", fields), key, settings_hash(key), meta)


def start_outputs(s: SRSettings, out: Outputs, step: int, resumed_log: str | None) -> None:
    """The loss log (restored from the checkpoint on a resume) and config.yaml; a fresh start
    removes an earlier run's files first."""
    out.outdir.mkdir(parents=True, exist_ok=True)
    if resumed_log is not None:
        out.loss_log.restore(resumed_log, step)
    else:
        remove_previous_outputs(out.outdir)
        out.loss_log.start()
    write_text_atomic(out.outdir / "config.yaml", yaml.safe_dump(_plain(dataclasses.asdict(s)), sort_keys=False))


# ----------------------------------------------------------------------------- the step
def set_lr(s: SRSettings, state: TrainState) -> float:
    lr_now = get_lr(s, state.step)
    for group in (*state.opt_g.param_groups, *state.opt_d.param_groups):
        group["lr"] = lr_now
    return lr_now


def feed_data(s: SRSettings, run: Run, pairs: PairSet, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """This step's crops (a function of seed, rank and step) on the device."""
    lr_batch, hr_batch = crop_batch(pairs, s.batch // run.world, s.crop, s.seed, step, run.rank)
    return to_device(lr_batch, run.device, run.memory_format), to_device(hr_batch, run.device, run.memory_format)


def optimize_parameters(s: SRSettings, run: Run, state: TrainState, lr_batch: torch.Tensor, hr_batch: torch.Tensor,
                        guard: FiniteGuard) -> dict[str, torch.Tensor]:  # fmt: skip
    """One step: the generator's update, in the GAN phase the discriminator's, then the EMA's.
    Returns the loss parts as device tensors; `guard` watches the losses on the device: no host sync."""
    gan_phase = state.step >= s.psnr_iterations
    state.opt_g.zero_grad(set_to_none=True)
    with run.autocast:
        sr_batch = state.generator(lr_batch)
    if gan_phase:
        real_in, fake_in = state.loss_fn.discriminator_inputs(sr_batch, hr_batch, lr_batch)
        # The generator step must not update or synchronise the discriminator: use the bare module.
        set_requires_grad(state.discriminator, False)
        with run.autocast:
            real_logits, fake_logits = judge(unwrap(state.discriminator), real_in, fake_in)
            g_loss, parts = state.loss_fn.gan_phase(sr_batch, hr_batch, lr_batch, real_logits, fake_logits)
    else:
        g_loss, parts = state.loss_fn.psnr_phase(sr_batch, hr_batch, lr_batch)
    guard.watch(generator_loss=g_loss)
    if state.scaler is not None:
        state.scaler.scale(g_loss).backward()
        state.scaler.step(state.opt_g)
    else:
        g_loss.backward()
        state.opt_g.step()
    if gan_phase:
        parts |= discriminator_step(state.discriminator, state.opt_d, real_in, fake_in, run.autocast, state.scaler)
        guard.watch(discriminator_loss=parts["d_loss"])
    if state.scaler is not None:
        state.scaler.update()  # once per iteration, after both optimisers (torch's multi-optimiser recipe)
    updates = state.step - (s.psnr_iterations if gan_phase else 0)
    ema_update(state.ema, unwrap(state.generator), ema_decay_at(s.ema_decay, updates))
    return parts


def check_finite(guard: FiniteGuard, state: TrainState) -> None:
    """The losses since the last check and every weight, in one sync (DivergedError otherwise)."""
    guard.check(state.step, {"the generator": unwrap(state.generator), "the discriminator": unwrap(state.discriminator),
                             "the EMA": state.ema})  # fmt: skip


def published(s: SRSettings, state: TrainState) -> nn.Module:
    """The weights we publish: the EMA when on."""
    return state.ema if s.ema_decay > 0 else unwrap(state.generator)


def start_gan_phase(s: SRSettings, run: Run, state: TrainState, out: Outputs, guard: FiniteGuard) -> None:
    """ESRGAN and BebyGAN: the GAN phase starts from the PSNR-oriented model, with fresh optimisers."""
    check_finite(guard, state)
    state.psnr_state = {k: v.detach().cpu().clone() for k, v in published(s, state).state_dict().items()}
    if run.writer:
        save_generator(out.outdir / "generator_psnr.pt", published(s, state), {**out.meta, "phase": "psnr"})
    unwrap(state.generator).load_state_dict(published(s, state).state_dict())
    state.ema.load_state_dict(unwrap(state.generator).state_dict())
    state.opt_g, state.opt_d = make_optimizers(s, state.generator, state.discriminator, s.gan_lr)


# ----------------------------------------------------------------------------- writing
def log_step(s: SRSettings, run: Run, state: TrainState, out: Outputs, phase: str, lr_now: float,
             parts: dict[str, torch.Tensor], val: PairSet | None, bar) -> None:  # fmt: skip
    """A loss log row (the losses' one sync), with the validation PSNR on checkpoint steps."""
    values = to_host(parts)
    bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)
    row = {"phase": phase, "lr": lr_now, **values}
    if val is not None and (state.step % s.checkpoint_interval == 0 or state.step == s.psnr_iterations + s.gan_iterations):
        row["val_psnr"] = evaluate(published(s, state), val, s, run.device, run.autocast)
        state.best_psnr = max(state.best_psnr, row["val_psnr"])
    out.loss_log.write(state.step, row)


def save_state(s: SRSettings, state: TrainState, out: Outputs) -> None:
    save_checkpoint(out.checkpoint, {
        "generator": unwrap(state.generator).state_dict(), "discriminator": unwrap(state.discriminator).state_dict(),
        "ema": state.ema.state_dict(), "opt_g": state.opt_g.state_dict(), "opt_d": state.opt_d.state_dict(),
        "scaler": state.scaler.state_dict() if state.scaler is not None else None,
        "schedule": "get_lr(settings, step): the learning rate is a function of the step alone",
        "step": state.step, "best_psnr": state.best_psnr, "rng": rng_states(), "psnr_generator": state.psnr_state,
        "loss_log": out.loss_log.snapshot(), "run_key": out.key, "settings_hash": out.key_hash,
        "settings": dataclasses.asdict(s), "vgg_weights": out.meta["vgg_weights"], "vgg_init": out.meta["vgg_init"],
    })  # fmt: skip


def write_outputs(s: SRSettings, state: TrainState, out: Outputs) -> Path:
    """generator_psnr.pt, generator_gan.pt and generator.pt (their interpolation); then the
    checkpoint goes: a re-run (say, after a config change) trains anew."""
    final, weights, meta = out.outdir / "generator.pt", published(s, state), out.meta
    if s.gan_iterations == 0:
        save_generator(out.outdir / "generator_psnr.pt", weights, {**meta, "phase": "psnr"})
        save_generator(final, weights, {**meta, "phase": "psnr"})
    else:
        # From the checkpoint, not from generator_psnr.pt: a failed job's outputs may be gone.
        save_generator(out.outdir / "generator_psnr.pt", weights, {**meta, "phase": "psnr"}, state_dict=state.psnr_state)
        save_generator(out.outdir / "generator_gan.pt", weights, {**meta, "phase": "gan"})
        gan_state = {k: v.detach().cpu() for k, v in weights.state_dict().items()}
        mixed = interpolate_state(state.psnr_state, gan_state, s.interpolation_alpha)
        save_generator(final, weights, {**meta, "phase": "interpolated", "interpolation_alpha": s.interpolation_alpha},
                       state_dict=mixed)  # fmt: skip
    out.checkpoint.unlink(missing_ok=True)
    log.info("wrote %s (step %d)", final, state.step)
    return final


def stop_signal(world: int, device: torch.device) -> int | None:
    """The signal that asked training to stop (SIGTERM from a SLURM time limit, SIGINT), if any;
    under DDP every process learns of it, so all stop after the same step (or collectives hang)."""
    signum = stop_requested()
    if world > 1:
        flag = torch.tensor([signum or 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        signum = int(flag.item()) or None
    return signum


def previous_run(path: Path, s: SRSettings, key: dict[str, Any], key_hash: str,
                 device: torch.device) -> dict[str, Any] | None:  # fmt: skip
    """The checkpoint to resume from: only with resume auto, and only one made with the same settings."""
    if not path.is_file():
        return None
    if s.resume != "auto":
        log.info("config key 'sr.resume' is %s: ignoring %s and training from the start", s.resume, path)
        return None
    state = load_checkpoint(path, device)
    if state.get("settings_hash") != key_hash:
        log.warning("not resuming from %s: it was made with other settings (%s); training from the start",
                    path, changed_keys(state.get("run_key", {}), key))  # fmt: skip
        return None
    return state


def remove_previous_outputs(outdir: Path) -> None:
    """A fresh start removes what an earlier run left, so no old file passes for this run's."""
    for name in ("generator.pt", "generator_psnr.pt", "generator_gan.pt", "checkpoint.pt"):
        (outdir / name).unlink(missing_ok=True)
    for sample in (outdir / "samples").glob("step_*.png"):
        sample.unlink()


def _plain(value: Any) -> Any:
    """Tuples as lists, so the saved config.yaml reads back as an ordinary config."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value
