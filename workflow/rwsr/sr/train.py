"""Train an SR GAN (ESRGAN, or BebyGAN, which plugs in its loss) on a pair set: `rwsr train-sr`.

Reads top to bottom: settings, setup (distributed, device, autocast, seed), build or resume,
small helpers, then one loop. Two phases share the loop and its step counter: a PSNR-oriented
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
from contextlib import nullcontext
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


def train_sr(s: SRSettings, pairs_dir: str | Path, outdir: str | Path, val: tuple[str | Path, str | Path] | None = None,
             progress: bool = True) -> Path:  # fmt: skip
    """Train on the pair set in `pairs_dir` (lr/, hr/), monitoring PSNR on the optional (val LR folder,
    val HR folder); returns the path of generator.pt."""
    outdir = Path(outdir)
    # --- setup: processes, device, autocast, seed ---
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(s.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    check_settings(s, world)
    if s.amp == "none":
        autocast = nullcontext()
    else:
        autocast = torch.autocast(device.type, dtype=AMP_DTYPES[s.amp])
    # bf16 keeps float32's exponent range; only float16 gradients need loss scaling.
    scaler = torch.amp.GradScaler(device.type) if s.amp == "fp16" else None
    memory_format = torch.channels_last if s.channels_last else torch.contiguous_format
    pairs = load_pair_folder(pairs_dir, s.scale)
    check_crop(pairs, s.crop)
    val = load_pairs(*val, s.scale) if val is not None else None

    # --- build or resume ---
    generator, discriminator, loss_fn = build_networks(s)
    generator.to(device, memory_format=memory_format)
    discriminator.to(device, memory_format=memory_format)
    loss_fn.to(device)
    ema = copy.deepcopy(generator).eval().requires_grad_(False)

    def make_optimizers(lr: float) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        return (torch.optim.Adam(generator.parameters(), lr, betas=s.betas),
                torch.optim.Adam(discriminator.parameters(), lr, betas=s.betas))  # fmt: skip

    opt_g, opt_d = make_optimizers(s.psnr_lr)
    step, best_psnr = 0, -math.inf
    total = s.psnr_iterations + s.gan_iterations
    checkpoint_path = outdir / "checkpoint.pt"
    key = run_key(s, pairs, world, loss_fn.describe(), loss_fn.vgg_init())
    key_hash = settings_hash(key)
    psnr_state: dict[str, torch.Tensor] | None = None  # the PSNR generator, once the GAN phase has begun
    state = previous_run(checkpoint_path, s, key, key_hash, device)
    resumed_log = state["loss_log"] if state is not None else None
    if state is not None:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        ema.load_state_dict(state["ema"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if scaler is not None and state["scaler"] is not None:
            scaler.load_state_dict(state["scaler"])
        step, best_psnr, psnr_state = state["step"], state["best_psnr"], state["psnr_generator"]
        set_rng_states(state["rng"])
        log.info("resumed from %s at step %d of %d", checkpoint_path, step, total)
    del state  # its tensors are in the networks now; do not keep a second copy on the device
    if world > 1:
        ddp_ids = [device.index] if device.type == "cuda" else None
        generator = nn.parallel.DistributedDataParallel(generator, device_ids=ddp_ids)
        discriminator = nn.parallel.DistributedDataParallel(discriminator, device_ids=ddp_ids)
    writer = rank == 0
    fields = ["phase", "lr", *loss_fn.fields, "d_loss", "d_real", "d_fake", "val_psnr"]
    loss_log = LossLog(outdir / "loss.csv", fields)
    if writer:
        outdir.mkdir(parents=True, exist_ok=True)
        if resumed_log is not None:
            loss_log.restore(resumed_log, step)
        else:
            remove_previous_outputs(outdir)
            loss_log.start()
        write_text_atomic(outdir / "config.yaml", yaml.safe_dump(_plain(dataclasses.asdict(s)), sort_keys=False))
        log.info("training %s on %d pairs from %s: %d PSNR + %d GAN steps on %s x%d, perceptual VGG19 weights: %s",
                 s.model, len(pairs.stems), pairs_dir, s.psnr_iterations, s.gan_iterations, device, world,
                 loss_fn.describe())  # fmt: skip

    def weights(module: nn.Module) -> nn.Module:
        """The weights we publish: the EMA when on."""
        return ema if s.ema_decay > 0 else unwrap(module)

    def save_state() -> None:
        save_checkpoint(checkpoint_path, {
            "generator": unwrap(generator).state_dict(), "discriminator": unwrap(discriminator).state_dict(),
            "ema": ema.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "schedule": "get_lr(settings, step): the learning rate is a function of the step alone",
            "step": step, "best_psnr": best_psnr, "rng": rng_states(), "psnr_generator": psnr_state,
            "loss_log": loss_log.snapshot(), "run_key": key, "settings_hash": key_hash,
            "settings": dataclasses.asdict(s), "vgg_weights": loss_fn.describe(), "vgg_init": loss_fn.vgg_init(),
        })  # fmt: skip

    meta = {"settings": dataclasses.asdict(s), "vgg_weights": loss_fn.describe(), "vgg_init": loss_fn.vgg_init(),
            "pairs": str(pairs_dir)}
    bar = progress_bar(total=total, initial=step, enabled=progress and writer, desc=f"{s.model} x{s.scale}")

    guard = FiniteGuard(f"sr training ({s.model})", DIVERGENCE_KEYS)

    def check_parameters() -> None:
        guard.check(step, {"the generator": unwrap(generator), "the discriminator": unwrap(discriminator), "the EMA": ema})

    # --- the loop ---
    generator.train()
    discriminator.train()
    while step < total:
        gan_phase = step >= s.psnr_iterations
        if step == s.psnr_iterations and s.gan_iterations > 0:
            # ESRGAN and BebyGAN: the GAN phase starts from the PSNR-oriented model, with fresh optimisers.
            check_parameters()
            psnr_state = {k: v.detach().cpu().clone() for k, v in weights(generator).state_dict().items()}
            if writer:
                save_generator(outdir / "generator_psnr.pt", weights(generator), {**meta, "phase": "psnr"})
            unwrap(generator).load_state_dict(weights(generator).state_dict())
            ema.load_state_dict(unwrap(generator).state_dict())
            opt_g, opt_d = make_optimizers(s.gan_lr)
        lr_now = get_lr(s, step)
        for group in (*opt_g.param_groups, *opt_d.param_groups):
            group["lr"] = lr_now
        lr_batch, hr_batch = crop_batch(pairs, s.batch // world, s.crop, s.seed, step, rank)
        lr_batch = lr_batch.to(device).contiguous(memory_format=memory_format)
        hr_batch = hr_batch.to(device).contiguous(memory_format=memory_format)

        opt_g.zero_grad(set_to_none=True)
        with autocast:
            sr_batch = generator(lr_batch)
        if gan_phase:
            real_in, fake_in = loss_fn.discriminator_inputs(sr_batch, hr_batch, lr_batch)
            # The generator step must not update or synchronise the discriminator: use the bare module.
            set_requires_grad(discriminator, False)
            with autocast:
                real_logits, fake_logits = judge(unwrap(discriminator), real_in, fake_in)
                g_loss, parts = loss_fn.gan_phase(sr_batch, hr_batch, lr_batch, real_logits, fake_logits)
        else:
            g_loss, parts = loss_fn.psnr_phase(sr_batch, hr_batch, lr_batch)
        guard.watch(generator_loss=g_loss)
        guard.check(step + 1)  # one sync per step, which the loss log's .item() calls cost anyway
        if scaler is not None:
            scaler.scale(g_loss).backward()
            scaler.step(opt_g)
        else:
            g_loss.backward()
            opt_g.step()
        if gan_phase:
            parts |= discriminator_step(discriminator, opt_d, real_in, fake_in, autocast, scaler)
            guard.watch(discriminator_loss=parts["d_loss"])
        if scaler is not None:
            scaler.update()  # once per iteration, after both optimisers (torch's multi-optimiser recipe)
        ema_update(ema, unwrap(generator), ema_decay_at(s.ema_decay, step - (s.psnr_iterations if gan_phase else 0)))
        step += 1
        bar.update(1)

        if writer and (step % s.log_interval == 0 or step == total):
            bar.set_postfix({k: f"{v:.4g}" for k, v in parts.items()}, refresh=False)
            row = {"phase": "gan" if gan_phase else "psnr", "lr": lr_now, **parts}
            if val is not None and (step % s.checkpoint_interval == 0 or step == total):
                row["val_psnr"] = evaluate(weights(generator), val, s, device, autocast)
                best_psnr = max(best_psnr, row["val_psnr"])
            loss_log.write(step, row)
        if writer and (step % s.sample_interval == 0 or step == total):
            sample_grid(weights(generator), val if val is not None else pairs, s, device, outdir / "samples" / f"step_{step:07d}.png")
        saving = step % s.checkpoint_interval == 0 or step == total
        if saving or step % s.log_interval == 0:
            check_parameters()  # no checkpoint or output holds NaN weights
        if writer and saving:
            save_state()
        signum = stop_signal(world, device)
        if signum and step < total:
            check_parameters()
            if writer and not saving:
                save_state()
            raise TrainingInterrupted("train-sr", signum, step, str(checkpoint_path))
    bar.close()

    # --- outputs: the PSNR and GAN generators, and their interpolation ---
    final = outdir / "generator.pt"
    check_parameters()
    if writer:
        if s.gan_iterations == 0:
            save_generator(outdir / "generator_psnr.pt", weights(generator), {**meta, "phase": "psnr"})
            save_generator(final, weights(generator), {**meta, "phase": "psnr"})
        else:
            # From the checkpoint, not from generator_psnr.pt: a failed job's outputs may be gone.
            save_generator(outdir / "generator_psnr.pt", weights(generator), {**meta, "phase": "psnr"}, state_dict=psnr_state)
            save_generator(outdir / "generator_gan.pt", weights(generator), {**meta, "phase": "gan"})
            gan_state = {k: v.detach().cpu() for k, v in weights(generator).state_dict().items()}
            mixed = interpolate_state(psnr_state, gan_state, s.interpolation_alpha)
            save_generator(final, weights(generator), {**meta, "phase": "interpolated",
                           "interpolation_alpha": s.interpolation_alpha}, state_dict=mixed)  # fmt: skip
        # A finished run leaves no checkpoint: a re-run (say, after a config change) trains anew.
        checkpoint_path.unlink(missing_ok=True)
        log.info("wrote %s (step %d)", final, step)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
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
