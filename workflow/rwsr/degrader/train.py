"""Train the DSGAN degrader: clean LR crops (source) in, crops that look like the real LR photos
(target) out. The two domains are unpaired; the losses tie the output to its input in the low
frequencies (colour loss, perceptual loss) and to the target domain in the high ones (a GAN whose
discriminator sees only the high-pass residual).

The source is the kind of image the pairs stage will degrade (`degrader.source`): HR blurred with
the KernelGAN pool's kernels and subsampled (`kernel`), so the degrader learns only what the
kernels leave out (noise); or MATLAB-bicubic LR (`bicubic`, the paper's mode), so it also learns
the extra blur. When the real LR files are JPEGs, the discriminator sees the generator's output
after the same JPEG compression the pairs stage applies next, so the generator learns the noise
*before* compression, which the compression then shapes as it shaped the real photos' noise.

Reads top to bottom: settings, setup, build or resume, helpers, the loop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from rwsr.config import StageSettings
from rwsr.degrader.selection import NoiseMatchSelector
from rwsr.device import resolve_device
from rwsr.errors import InputError
from rwsr.io.atomic import write_text_atomic
from rwsr.io.progress import progress_bar
from rwsr.io.images import discover_images, read_image, to_array, write_image
from rwsr.io.losslog import LossLog
from rwsr.nn.dsgan import DSGANDiscriminator, DSGANGenerator
from rwsr.ops.frequency import low_pass
from rwsr.ops.jpeg import NO_COMPRESSION, Compression
from rwsr.train.checkpoint import changed_keys, load_checkpoint, rng_states, save_checkpoint, set_rng_states, unwrap
from rwsr.train.guards import FiniteGuard, TrainingInterrupted, stop_requested
from rwsr.train.syncs import to_device, to_host

log = logging.getLogger(__name__)

CHECKPOINT_KIND = "dsgan-degrader"
# Keys that change the networks' shapes: a checkpoint with other values cannot be loaded.
ARCHITECTURE_KEYS = ("generator_channels", "generator_blocks", "generator_skip", "generator_residual",
                     "generator_noise_channels", "discriminator_channels", "filter", "filter_size")  # fmt: skip
# Keys that only say how often to write things: changing them does not spoil a resume.
BOOKKEEPING_KEYS = ("checkpoint_every", "log_every", "resume")
LOG_FIELDS = ["loss_d", "loss_g", "color", "perceptual", "gan", "d_real", "d_fake", "lr", "noise_ratio"]


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class DegraderSettings(StageSettings):
    """The config's `degrader` section (its schema documents each key and holds the defaults, the
    paper's official code's settings but for `source`). Seed and device reach `train_degrader` as
    arguments. Built by `DegraderSettings.from_config(config)`."""

    SECTION: ClassVar[str] = "degrader"

    iterations: int
    crop: int  # LR crop side (the paper crops 512 HR pixels, then downscales x4)
    batch: int
    lr: float
    beta1: float
    decay_start: float  # fraction of the run after which lr falls linearly to 0
    weight_color: float
    weight_perceptual: float
    weight_gan: float
    filter: str
    filter_size: int
    generator_channels: int
    generator_blocks: int
    generator_skip: bool
    generator_residual: str  # with skip: the network's whole output added to the input, or its high band
    generator_noise_channels: int
    discriminator_channels: int
    vgg_layer: str
    vgg_weights: str
    checkpoint_every: int
    log_every: int
    resume: str

    source: str  # the input domain: kernel (pool-blurred) or bicubic (paper) clean LR
    select: str  # the published generator: last (paper) or noise (closest noise level to the real LR)
    select_every: int

    def architecture(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in ARCHITECTURE_KEYS}


def build_generator(architecture: Mapping[str, Any]) -> DSGANGenerator:
    return DSGANGenerator(
        channels=architecture["generator_channels"],
        blocks=architecture["generator_blocks"],
        skip=architecture["generator_skip"],
        noise_channels=architecture.get("generator_noise_channels", 0),
        # Checkpoints from before the choice existed added the whole residual.
        residual_band=architecture.get("generator_residual", "full"),
        filter=architecture["filter"],
        filter_size=architecture["filter_size"],
    )


def build_discriminator(architecture: Mapping[str, Any]) -> DSGANDiscriminator:
    return DSGANDiscriminator(
        channels=architecture["discriminator_channels"],
        filter=architecture["filter"],
        filter_size=architecture["filter_size"],
    )


# ----------------------------------------------------------------------------- data
def compress_straight_through(images: torch.Tensor, compression: Compression, rng: np.random.Generator) -> torch.Tensor:
    """JPEG-compress each image of a batch in the forward pass; pass gradients through unchanged
    (the straight-through estimator), since JPEG's rounding has no useful gradient."""
    if not compression.enabled:
        return images
    with torch.no_grad():
        arrays = images.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        compressed = np.stack([compression.apply(np.ascontiguousarray(a), rng)[0] for a in arrays])
        target = torch.from_numpy(compressed).permute(0, 3, 1, 2).to(images)
    return images + (target - images).detach()


class CropPool:
    """All images of one folder in memory, cut into random square crops on demand.

    LR training sets are small enough to hold (8-bit files stay uint8: 4x less memory), and
    reading from memory keeps the CPU loop free of decoding; the crops come from a numpy
    Generator whose state goes into the checkpoint, so a resumed run draws the same crops.
    """

    def __init__(self, folder: str | Path, what: str):
        self.images: list[np.ndarray] = []
        digest = hashlib.sha1()
        for stem, path in discover_images(folder, what).items():
            image = read_image(path)
            pixels = image.pixels
            self.images.append(np.rint(pixels * 255).astype(np.uint8) if image.bit_depth == 8 else pixels)
            digest.update(stem.encode() + str(self.images[-1].shape).encode() + self.images[-1].tobytes())
        # Identifies the training data, so a resume never continues on images other than its own.
        self.fingerprint = digest.hexdigest()
        self.smallest = min(min(image.shape[:2]) for image in self.images)

    @staticmethod
    def _float(image: np.ndarray) -> np.ndarray:
        return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image

    def batch(self, rng: np.random.Generator, size: int, crop: int, pin: bool = False) -> torch.Tensor:
        """`size` random crops as one NCHW float32 batch; `pin`: in page-locked memory, for a
        non-blocking copy to a CUDA device."""
        crops = []
        for index in rng.integers(len(self.images), size=size):
            image = self.images[index]
            top = rng.integers(image.shape[0] - crop + 1)
            left = rng.integers(image.shape[1] - crop + 1)
            crops.append(image[top : top + crop, left : left + crop])
        eight_bit = all(c.dtype == np.uint8 for c in crops)
        stacked = np.stack(crops if eight_bit else [self._float(c) for c in crops])
        out = torch.empty((size, stacked.shape[3], crop, crop), pin_memory=pin)
        out.copy_(torch.from_numpy(stacked).permute(0, 3, 1, 2))  # NHWC -> NCHW in the one copy
        return out.div_(255.0) if eight_bit else out  # 8-bit crops scaled once, for the whole batch

    def whole_images(self) -> list[np.ndarray]:
        return [self._float(image) for image in self.images]

    def centre_crops(self, count: int, crop: int) -> list[np.ndarray]:
        """Fixed crops for the sample grid, so grids from different steps are comparable."""
        out = []
        for image in self.images[:count]:
            top, left = (image.shape[0] - crop) // 2, (image.shape[1] - crop) // 2
            out.append(self._float(image[top : top + crop, left : left + crop]))
        return out


def write_sample_grid(path: Path, generator: torch.nn.Module, sources: list[np.ndarray],
                      targets: list[np.ndarray], device: torch.device) -> None:  # fmt: skip
    """One row per source crop: input | output | a target-domain crop, 2 px white gaps."""
    rows = []
    with torch.no_grad():
        for index, source in enumerate(sources):
            tensor = torch.from_numpy(source).permute(2, 0, 1)[None].to(device)
            output = to_array(generator(tensor).clamp(0, 1))
            target = targets[index % len(targets)]
            gap = np.ones((source.shape[0], 2, 3), np.float32)
            rows.append(np.concatenate([source, gap, output, gap, target], axis=1))
            rows.append(np.ones((2, rows[-1].shape[1], 3), np.float32))
    write_image(path, np.concatenate(rows[:-1], axis=0))


# ----------------------------------------------------------------------------- training
@dataclass
class DegraderState:
    """What training changes; a checkpoint holds all of it (with the loss log and torch's RNG states)."""

    generator: DSGANGenerator
    discriminator: DSGANDiscriminator
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    rng: np.random.Generator  # the crops' and the JPEG qualities' draws
    selector: NoiseMatchSelector | None = None
    step: int = 0


@dataclass(frozen=True)
class DegraderRun:
    """What setup decides once: the data, the device, the perceptual network and what identifies the run."""

    settings: DegraderSettings
    device: torch.device
    source: CropPool
    target: CropPool
    crop: int
    vgg: torch.nn.Module | None
    vgg_weights: str
    vgg_init: str
    compression: Compression
    config: Mapping[str, Any] | None
    run_key: dict[str, Any]
    loss_log: LossLog


def train_degrader(
    source_dir: str | Path,
    target_dir: str | Path,
    out: str | Path,
    settings: DegraderSettings,
    *,
    seed: int = 0,
    device: str = "auto",
    config: Mapping[str, Any] | None = None,
    log_path: str | Path | None = None,
    samples_path: str | Path | None = None,
    stop_after: int | None = None,
    compression: Compression = NO_COMPRESSION,
    progress: bool = True,
) -> dict[str, Any]:
    """Train, writing `out` (the final checkpoint), a loss log CSV and a sample grid.

    A resume checkpoint `<out stem>.resume.pt` is written every `checkpoint_every` steps and
    deleted once `out` exists; with resume=auto a compatible one is continued from.
    `stop_after` ends the run after that many steps without writing `out`, as a kill would
    (tests use it). `progress` shows a progress bar on stderr (rare updates when it is a log file).
    Returns a summary: steps run, steps resumed from, seconds.
    """
    # --- setup
    out = Path(out)
    resume_path = out.with_name(f"{out.stem}.resume{out.suffix}")
    samples_path = Path(samples_path) if samples_path else out.with_name("samples.png")
    torch_device = resolve_device(device)
    source = CropPool(source_dir, "degrader source images (clean LR)")
    target = CropPool(target_dir, "degrader target images (real LR)")
    crop = training_crop(settings, source, target)
    if torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop shapes: time the conv algorithms once
    torch.manual_seed(seed)

    # --- build or resume
    state = build_state(settings, torch_device, seed)
    run = describe_run(settings, torch_device, source, target, crop, seed, compression, config,
                       Path(log_path) if log_path else out.with_name("log.csv"))  # fmt: skip
    if settings.select == "noise":
        state.selector = NoiseMatchSelector(source.whole_images(), target.whole_images(), compression, seed)
    resume_or_start(run, state, resume_path)
    resumed_from = state.step
    guard = FiniteGuard("degrader training (DSGAN)", "config key 'degrader.lr'")

    # --- the loop: no host sync except on the steps that log or write (and JPEG's round trip)
    state.generator.train()
    state.discriminator.train()
    started = time.perf_counter()
    bar = progress_bar(total=settings.iterations, initial=state.step, desc="DSGAN degrader", unit="step", enabled=progress)
    while state.step < settings.iterations:
        lr = set_lr(settings, state)
        clean, real = feed_data(run, state)
        losses = optimize_parameters(run, state, clean, real)
        state.step += 1
        bar.update(1)
        guard.watch(loss_d=losses["loss_d"], loss_g=losses["loss_g"])
        step = state.step
        if step % settings.log_every == 0 or step % settings.checkpoint_every == 0 or step == settings.iterations:
            guard.check(step, networks(state))  # before anything is logged or saved

        noise_ratio = ""
        if state.selector is not None and (step % settings.select_every == 0 or step == settings.iterations):
            noise_ratio = f"{state.selector.update(state.generator, torch_device, step):.4g}"
        if step % settings.log_every == 0 or step == settings.iterations:
            log_step(run, state, losses, lr, noise_ratio, bar)
        if step % settings.checkpoint_every == 0 and step < settings.iterations:
            save_progress(run, state, losses, resume_path, samples_path)
        if (signum := stop_requested()) and step < settings.iterations:
            guard.check(step, networks(state))
            save_checkpoint(resume_path, checkpoint(run, state))
            raise TrainingInterrupted("train-degrader", signum, step, str(resume_path))
        if stop_after is not None and step >= stop_after:
            break
    bar.close()

    seconds = time.perf_counter() - started
    summary = {"steps": state.step, "resumed_from": resumed_from, "seconds": seconds,
               "iterations_per_second": (state.step - resumed_from) / max(seconds, 1e-9)}  # fmt: skip
    if state.step < settings.iterations:
        return summary
    write_outputs(run, state, out, samples_path)
    resume_path.unlink(missing_ok=True)
    log.info("wrote %s after %d steps (%.1f it/s)", out, state.step, summary["iterations_per_second"])
    return summary


# ----------------------------------------------------------------------------- setup, build, resume
def training_crop(settings: DegraderSettings, source: CropPool, target: CropPool) -> int:
    """The crop side: the configured one, or the smallest image's side when an image is smaller."""
    crop = min(settings.crop, source.smallest, target.smallest)
    if crop < settings.crop:
        log.warning("config key 'degrader.crop' is %d but the smallest training image has a side of %d; "
                    "cropping %d pixels instead", settings.crop, crop, crop)  # fmt: skip
    if crop < 2 * settings.filter_size:
        raise InputError(f"degrader training crops of {crop} pixels are too small for the "
                         f"{settings.filter_size}-pixel filter (config keys 'degrader.crop', 'degrader.filter_size')")  # fmt: skip
    return crop


def build_state(settings: DegraderSettings, device: torch.device, seed: int) -> DegraderState:
    """Fresh networks (from torch's seeded RNG, so before the perceptual network reseeds it) and optimisers."""
    generator = build_generator(settings.architecture()).to(device)
    discriminator = build_discriminator(settings.architecture()).to(device)
    betas = (settings.beta1, 0.999)
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=settings.lr, betas=betas)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=settings.lr, betas=betas)
    return DegraderState(generator, discriminator, optimizer_g, optimizer_d, np.random.default_rng(seed))


def describe_run(settings: DegraderSettings, device: torch.device, source: CropPool, target: CropPool, crop: int, seed: int,
                 compression: Compression, config: Mapping[str, Any] | None, log_path: Path) -> DegraderRun:  # fmt: skip
    """The perceptual network and the run key (everything that must match for a checkpoint to resume)."""
    vgg = None
    if settings.weight_perceptual > 0 and uses_fidelity_losses(settings):
        from rwsr.nn.vgg import VGGFeatures

        vgg = VGGFeatures((settings.vgg_layer,), settings.vgg_weights, "degrader.vgg_weights", seed).to(device)
    vgg_weights = vgg.weights.describe() if vgg is not None else "unused"
    vgg_init = vgg.init if vgg is not None else "unused"
    run_key = {"seed": seed, "crop": crop, "source_images": source.fingerprint, "target": target.fingerprint,
               "vgg_weights": vgg_weights, "vgg_init": vgg_init,
               "compression": list(compression.qualities), **resume_relevant(settings)}  # fmt: skip
    log.info("DSGAN on %s: %d %s source and %d target images, %d x %d crops, batch %d, compression %s, VGG19 weights: %s",
             device, len(source.images), settings.source, len(target.images), crop, crop, settings.batch,
             compression.describe(), vgg_weights)  # fmt: skip
    return DegraderRun(settings, device, source, target, crop, vgg, vgg_weights, vgg_init, compression, config, run_key,
                       LossLog(log_path, LOG_FIELDS))  # fmt: skip


def resume_or_start(run: DegraderRun, state: DegraderState, resume_path: Path) -> None:
    """With resume auto, continue from a checkpoint made with the same run key; else start the log afresh."""
    previous = load_checkpoint(resume_path) if run.settings.resume == "auto" and resume_path.is_file() else None
    if previous is not None and previous.get("run_key") != run.run_key:
        log.warning("ignoring %s: it was made with other settings (%s)", resume_path,
                    changed_keys(previous.get("run_key", {}), run.run_key))  # fmt: skip
        previous = None
    if previous is not None:
        resume(run, state, previous)
        log.info("resuming from %s at step %d of %d", resume_path, state.step, run.settings.iterations)
    else:
        run.loss_log.start()


def resume(run: DegraderRun, state: DegraderState, previous: dict[str, Any]) -> None:
    """Continue where the checkpoint stopped: weights, optimisers, both RNGs, the selection and the log."""
    state.generator.load_state_dict(previous["generator"])
    state.discriminator.load_state_dict(previous["discriminator"])
    state.optimizer_g.load_state_dict(previous["optimizer_g"])
    state.optimizer_d.load_state_dict(previous["optimizer_d"])
    set_rng_states(previous["rng"])
    state.rng.bit_generator.state = previous["crop_rng"]
    state.step = previous["step"]
    if state.selector is not None:
        state.selector.load_state_dict(previous["selection"])
    if "log_rows" in previous:
        run.loss_log.restore(previous["log_rows"], state.step)
    else:
        run.loss_log.resume_from(state.step)


def networks(state: DegraderState) -> dict[str, torch.nn.Module]:
    return {"the generator": state.generator, "the discriminator": state.discriminator}


# ----------------------------------------------------------------------------- the step
def uses_fidelity_losses(settings: DegraderSettings) -> bool:
    """The colour and perceptual losses tie the output to its input. A noise residual keeps the
    input's colours and content in expectation by construction; on one draw those losses would
    only punish the noise's low band, and push the noise towards band-pass patterns."""
    return settings.generator_residual != "noise"


def get_lr(settings: DegraderSettings, step: int) -> float:
    """Constant, then linear decay to 0 over the last (1 - decay_start) of the run."""
    decay_steps = settings.iterations * (1.0 - settings.decay_start)
    if decay_steps <= 0:
        return settings.lr
    return settings.lr * min(1.0, (settings.iterations - step) / decay_steps)


def set_lr(settings: DegraderSettings, state: DegraderState) -> float:
    lr = get_lr(settings, state.step)
    for group in (*state.optimizer_g.param_groups, *state.optimizer_d.param_groups):
        group["lr"] = lr
    return lr


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    # The paper's -log(sigmoid) form, computed from logits without overflow.
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


def feed_data(run: DegraderRun, state: DegraderState) -> tuple[torch.Tensor, torch.Tensor]:
    """This step's source and target crops, drawn in that order, on the device."""
    clean = run.source.batch(state.rng, run.settings.batch, run.crop, pin=run.device.type == "cuda")
    real = run.target.batch(state.rng, run.settings.batch, run.crop, pin=run.device.type == "cuda")
    return to_device(clean, run.device), to_device(real, run.device)


def optimize_parameters(run: DegraderRun, state: DegraderState, clean: torch.Tensor,
                        real: torch.Tensor) -> dict[str, torch.Tensor]:  # fmt: skip
    """The discriminator's update, then the generator's; returns the losses (and D's logits) on the device."""
    s = run.settings
    fake = state.generator(clean)
    fake_seen = compress_straight_through(fake, run.compression, state.rng)  # what the pairs will hold

    # Discriminator: target-domain crops are real, generator outputs fake (high-pass only, inside D).
    state.discriminator.requires_grad_(True)
    d_real_logits = state.discriminator(real)
    d_fake_logits = state.discriminator(fake_seen.detach())
    loss_d = gan_loss(d_real_logits, True) + gan_loss(d_fake_logits, False)
    state.optimizer_d.zero_grad(set_to_none=True)
    loss_d.backward()
    state.optimizer_d.step()

    # Generator: keep the low frequencies (and content) of the input, take the target's high ones.
    state.discriminator.requires_grad_(False)
    loss_gan = gan_loss(state.discriminator(fake_seen), True)
    loss_color = torch.zeros((), device=run.device)
    loss_perceptual = torch.zeros((), device=run.device)
    if uses_fidelity_losses(s):
        loss_color = F.l1_loss(low_pass(fake, s.filter, s.filter_size, valid=True),
                               low_pass(clean, s.filter, s.filter_size, valid=True))  # fmt: skip
        if run.vgg is not None:
            loss_perceptual = F.mse_loss(run.vgg(fake)[s.vgg_layer], run.vgg(clean)[s.vgg_layer])
    loss_g = s.weight_color * loss_color + s.weight_perceptual * loss_perceptual + s.weight_gan * loss_gan
    state.optimizer_g.zero_grad(set_to_none=True)
    loss_g.backward()
    state.optimizer_g.step()
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "color": loss_color.detach(),
            "perceptual": loss_perceptual.detach(), "gan": loss_gan.detach(),
            "d_real_logits": d_real_logits.detach(), "d_fake_logits": d_fake_logits.detach()}  # fmt: skip


# ----------------------------------------------------------------------------- writing
def log_step(run: DegraderRun, state: DegraderState, losses: dict[str, torch.Tensor], lr: float, noise_ratio: str,
             bar) -> None:  # fmt: skip
    """A loss log row; its values come to the host in one sync."""
    values = {k: losses[k] for k in ("loss_d", "loss_g", "color", "perceptual", "gan")}
    values["d_real"] = torch.sigmoid(losses["d_real_logits"]).mean()
    values["d_fake"] = torch.sigmoid(losses["d_fake_logits"]).mean()
    row = {k: f"{v:.6g}" for k, v in to_host(values).items()}
    run.loss_log.write(state.step, {**row, "lr": f"{lr:.6g}", "noise_ratio": noise_ratio})
    bar.set_postfix({"loss_d": row["loss_d"], "loss_g": row["loss_g"]}, refresh=False)


def checkpoint(run: DegraderRun, state: DegraderState) -> dict[str, Any]:
    return {
        "kind": CHECKPOINT_KIND,
        "step": state.step,
        "architecture": run.settings.architecture(),
        "settings": dataclasses.asdict(run.settings),
        "run_key": run.run_key,
        "generator": unwrap(state.generator).state_dict(),
        "discriminator": unwrap(state.discriminator).state_dict(),
        "optimizer_g": state.optimizer_g.state_dict(),
        "optimizer_d": state.optimizer_d.state_dict(),
        "rng": rng_states(),
        "crop_rng": state.rng.bit_generator.state,
        "vgg_weights": run.vgg_weights,
        "vgg_init": run.vgg_init,
        # What the generator expects as input and what follows it: the pairs stage checks both.
        "input_domain": run.settings.source,
        "compression": list(run.compression.qualities),
        "selection": state.selector.state_dict() if state.selector is not None else None,
        "config": dict(run.config) if run.config is not None else None,
        "log_rows": run.loss_log.snapshot(),  # Snakemake deletes a failed job's log.csv
    }


def save_progress(run: DegraderRun, state: DegraderState, losses: dict[str, torch.Tensor], resume_path: Path,
                  samples_path: Path) -> None:  # fmt: skip
    """The resume checkpoint of a checkpoint step, a sample grid and a log line."""
    save_checkpoint(resume_path, checkpoint(run, state))
    write_samples(run, state, samples_path)
    values = to_host({k: losses[k] for k in ("loss_d", "loss_g", "color")})
    log.info("step %d/%d: loss_d %.4f, loss_g %.4f (colour %.4f)", state.step, run.settings.iterations, *values.values())


def write_samples(run: DegraderRun, state: DegraderState, path: Path) -> None:
    """The sample grid of fixed centre crops, so grids from different steps are comparable."""
    was_training = state.generator.training
    state.generator.eval()
    write_sample_grid(path, state.generator, run.source.centre_crops(4, run.crop), run.target.centre_crops(4, run.crop),
                      run.device)  # fmt: skip
    state.generator.train(was_training)


def write_outputs(run: DegraderRun, state: DegraderState, out: Path, samples_path: Path) -> None:
    """The published generator (the last, or the selected one), its sample grid and its config."""
    selector = state.selector
    if selector is not None:
        state.generator.load_state_dict(selector.best_state)
        reached = selector.calibrate(state.generator, run.device) if run.settings.generator_skip else selector.best_ratio
        log.info("publishing the generator of step %d: its noise level was %.3f x the real LR's; residual gain %.3f "
                 "brings it to %.3f (select: noise)", selector.best_step, selector.best_ratio,
                 selector.residual_scale, reached)  # fmt: skip
    state.generator.eval()
    write_samples(run, state, samples_path)
    save_checkpoint(out, checkpoint(run, state))
    if run.config is not None:
        write_text_atomic(out.with_name(f"{out.stem}.config.yaml"), yaml.safe_dump(dict(run.config), sort_keys=False))


def resume_relevant(settings: DegraderSettings) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(settings).items() if k not in BOOKKEEPING_KEYS}
