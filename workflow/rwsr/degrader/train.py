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

log = logging.getLogger(__name__)

CHECKPOINT_KIND = "dsgan-degrader"
# Keys that change the networks' shapes: a checkpoint with other values cannot be loaded.
ARCHITECTURE_KEYS = ("generator_channels", "generator_blocks", "generator_skip", "generator_noise_channels",
                     "discriminator_channels", "filter", "filter_size")  # fmt: skip
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

    def batch(self, rng: np.random.Generator, size: int, crop: int) -> torch.Tensor:
        crops = []
        for index in rng.integers(len(self.images), size=size):
            image = self.images[index]
            top = rng.integers(image.shape[0] - crop + 1)
            left = rng.integers(image.shape[1] - crop + 1)
            crops.append(self._float(image[top : top + crop, left : left + crop]))
        return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()

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
    log_path = Path(log_path) if log_path else out.with_name("log.csv")
    samples_path = Path(samples_path) if samples_path else out.with_name("samples.png")
    torch_device = resolve_device(device)
    source = CropPool(source_dir, "degrader source images (clean LR)")
    target = CropPool(target_dir, "degrader target images (real LR)")
    crop = min(settings.crop, source.smallest, target.smallest)
    if crop < settings.crop:
        log.warning("config key 'degrader.crop' is %d but the smallest training image has a side of %d; "
                    "cropping %d pixels instead", settings.crop, crop, crop)  # fmt: skip
    if crop < 2 * settings.filter_size:
        raise InputError(f"degrader training crops of {crop} pixels are too small for the "
                         f"{settings.filter_size}-pixel filter (config keys 'degrader.crop', 'degrader.filter_size')")  # fmt: skip
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    # --- build or resume
    generator = build_generator(settings.architecture()).to(torch_device)
    discriminator = build_discriminator(settings.architecture()).to(torch_device)
    betas = (settings.beta1, 0.999)
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=settings.lr, betas=betas)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=settings.lr, betas=betas)
    vgg = None
    if settings.weight_perceptual > 0:
        from rwsr.nn.vgg import VGGFeatures

        vgg = VGGFeatures((settings.vgg_layer,), settings.vgg_weights, "degrader.vgg_weights", seed).to(torch_device)
    vgg_weights = vgg.weights.describe() if vgg is not None else "unused"
    vgg_init = vgg.init if vgg is not None else "unused"
    run_key = {"seed": seed, "crop": crop, "source_images": source.fingerprint, "target": target.fingerprint,
               "vgg_weights": vgg_weights, "vgg_init": vgg_init,
               "compression": list(compression.qualities), **resume_relevant(settings)}  # fmt: skip
    loss_log = LossLog(log_path, LOG_FIELDS)
    selector = NoiseMatchSelector(source.whole_images(), target.whole_images(), compression, seed) if settings.select == "noise" else None
    step = 0
    previous = load_checkpoint(resume_path) if settings.resume == "auto" and resume_path.is_file() else None
    if previous is not None and previous.get("run_key") != run_key:
        log.warning("ignoring %s: it was made with other settings (%s)", resume_path,
                    changed_keys(previous.get("run_key", {}), run_key))
        previous = None
    if previous is not None:
        generator.load_state_dict(previous["generator"])
        discriminator.load_state_dict(previous["discriminator"])
        optimizer_g.load_state_dict(previous["optimizer_g"])
        optimizer_d.load_state_dict(previous["optimizer_d"])
        set_rng_states(previous["rng"])
        rng.bit_generator.state = previous["crop_rng"]
        step = previous["step"]
        if selector is not None:
            selector.load_state_dict(previous["selection"])
        loss_log.restore(previous["log_rows"], step) if "log_rows" in previous else loss_log.resume_from(step)
        log.info("resuming from %s at step %d of %d", resume_path, step, settings.iterations)
    else:
        loss_log.start()
    resumed_from = step
    guard = FiniteGuard("degrader training (DSGAN)", "config key 'degrader.lr'")
    networks = {"the generator": generator, "the discriminator": discriminator}

    # --- helpers
    def get_lr(step: int) -> float:
        """Constant, then linear decay to 0 over the last (1 - decay_start) of the run."""
        decay_steps = settings.iterations * (1.0 - settings.decay_start)
        if decay_steps <= 0:
            return settings.lr
        return settings.lr * min(1.0, (settings.iterations - step) / decay_steps)

    def checkpoint(step: int) -> dict[str, Any]:
        return {
            "kind": CHECKPOINT_KIND,
            "step": step,
            "architecture": settings.architecture(),
            "settings": dataclasses.asdict(settings),
            "run_key": run_key,
            "generator": unwrap(generator).state_dict(),
            "discriminator": unwrap(discriminator).state_dict(),
            "optimizer_g": optimizer_g.state_dict(),
            "optimizer_d": optimizer_d.state_dict(),
            "rng": rng_states(),
            "crop_rng": rng.bit_generator.state,
            "vgg_weights": vgg_weights,
            "vgg_init": vgg_init,
            # What the generator expects as input and what follows it: the pairs stage checks both.
            "input_domain": settings.source,
            "compression": list(compression.qualities),
            "selection": selector.state_dict() if selector is not None else None,
            "config": dict(config) if config is not None else None,
            "log_rows": loss_log.snapshot(),  # Snakemake deletes a failed job's log.csv
        }

    def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
        # The paper's -log(sigmoid) form, computed from logits without overflow.
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))

    sample_sources = source.centre_crops(4, crop)
    sample_targets = target.centre_crops(4, crop)
    log.info("DSGAN on %s: %d %s source and %d target images, %d x %d crops, batch %d, compression %s, VGG19 weights: %s",
             torch_device, len(source.images), settings.source, len(target.images), crop, crop, settings.batch,
             compression.describe(), vgg_weights)  # fmt: skip

    # --- the loop
    generator.train()
    discriminator.train()
    started = time.perf_counter()
    bar = progress_bar(total=settings.iterations, initial=step, desc="DSGAN degrader", unit="step", enabled=progress)
    while step < settings.iterations:
        lr = get_lr(step)
        for group in (*optimizer_g.param_groups, *optimizer_d.param_groups):
            group["lr"] = lr
        clean = source.batch(rng, settings.batch, crop).to(torch_device)
        real = target.batch(rng, settings.batch, crop).to(torch_device)
        fake = generator(clean)
        fake_seen = compress_straight_through(fake, compression, rng)  # what the pairs will hold

        # Discriminator: target-domain crops are real, generator outputs fake (high-pass only, inside D).
        discriminator.requires_grad_(True)
        d_real_logits = discriminator(real)
        d_fake_logits = discriminator(fake_seen.detach())
        loss_d = gan_loss(d_real_logits, True) + gan_loss(d_fake_logits, False)
        optimizer_d.zero_grad(set_to_none=True)
        loss_d.backward()
        optimizer_d.step()

        # Generator: keep the low frequencies (and content) of the input, take the target's high ones.
        discriminator.requires_grad_(False)
        loss_gan = gan_loss(discriminator(fake_seen), True)
        loss_color = F.l1_loss(low_pass(fake, settings.filter, settings.filter_size, valid=True),
                               low_pass(clean, settings.filter, settings.filter_size, valid=True))  # fmt: skip
        loss_perceptual = torch.zeros((), device=torch_device)
        if vgg is not None:
            loss_perceptual = F.mse_loss(vgg(fake)[settings.vgg_layer], vgg(clean)[settings.vgg_layer])
        loss_g = (settings.weight_color * loss_color + settings.weight_perceptual * loss_perceptual
                  + settings.weight_gan * loss_gan)  # fmt: skip
        optimizer_g.zero_grad(set_to_none=True)
        loss_g.backward()
        optimizer_g.step()
        step += 1
        bar.update(1)
        guard.watch(loss_d=loss_d, loss_g=loss_g)
        if step % settings.log_every == 0 or step % settings.checkpoint_every == 0 or step == settings.iterations:
            guard.check(step, networks)  # before anything is logged or saved

        noise_ratio = ""
        if selector is not None and (step % settings.select_every == 0 or step == settings.iterations):
            noise_ratio = f"{selector.update(generator, torch_device, step):.4g}"
        if step % settings.log_every == 0 or step == settings.iterations:
            values = {"loss_d": loss_d, "loss_g": loss_g, "color": loss_color, "perceptual": loss_perceptual,
                      "gan": loss_gan, "d_real": torch.sigmoid(d_real_logits).mean(),
                      "d_fake": torch.sigmoid(d_fake_logits).mean()}  # fmt: skip
            row = {k: f"{v.item():.6g}" for k, v in values.items()}
            loss_log.write(step, {**row, "lr": f"{lr:.6g}", "noise_ratio": noise_ratio})
            bar.set_postfix({"loss_d": row["loss_d"], "loss_g": row["loss_g"]}, refresh=False)
        if step % settings.checkpoint_every == 0 and step < settings.iterations:
            save_checkpoint(resume_path, checkpoint(step))
            generator.eval()
            write_sample_grid(samples_path, generator, sample_sources, sample_targets, torch_device)
            generator.train()
            log.info("step %d/%d: loss_d %.4f, loss_g %.4f (colour %.4f)", step, settings.iterations,
                     loss_d.item(), loss_g.item(), loss_color.item())  # fmt: skip
        if (signum := stop_requested()) and step < settings.iterations:
            guard.check(step, networks)
            save_checkpoint(resume_path, checkpoint(step))
            raise TrainingInterrupted("train-degrader", signum, step, str(resume_path))
        if stop_after is not None and step >= stop_after:
            break
    bar.close()

    seconds = time.perf_counter() - started
    summary = {"steps": step, "resumed_from": resumed_from, "seconds": seconds,
               "iterations_per_second": (step - resumed_from) / max(seconds, 1e-9)}  # fmt: skip
    if step < settings.iterations:
        return summary
    if selector is not None:
        generator.load_state_dict(selector.best_state)
        reached = selector.calibrate(generator, torch_device) if settings.generator_skip else selector.best_ratio
        log.info("publishing the generator of step %d: its noise level was %.3f x the real LR's; residual gain %.3f "
                 "brings it to %.3f (select: noise)", selector.best_step, selector.best_ratio,
                 selector.residual_scale, reached)  # fmt: skip
    generator.eval()
    write_sample_grid(samples_path, generator, sample_sources, sample_targets, torch_device)
    save_checkpoint(out, checkpoint(step))
    if config is not None:
        write_text_atomic(out.with_name(f"{out.stem}.config.yaml"), yaml.safe_dump(dict(config), sort_keys=False))
    resume_path.unlink(missing_ok=True)
    log.info("wrote %s after %d steps (%.1f it/s)", out, step, summary["iterations_per_second"])
    return summary


def resume_relevant(settings: DegraderSettings) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(settings).items() if k not in BOOKKEEPING_KEYS}
