"""KernelGAN training: settings, then one loop that trains a batch of images' KernelGANs at once.

Each image gets its own generator G (deep linear, its x2 kernel) and discriminator D, held as
per-image slices of batched weights (rwsr.nn.kernelgan). Every loss is computed per image and
the per-image losses are summed, so each network's gradient is exactly its own image's; Adam is
element-wise, so one optimizer over the batched weights is B independent optimizers. A batch
therefore gives the same kernels as B separate runs (up to float rounding) at a fraction of the
cost.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from rwsr.config import StageSettings
from rwsr.io.progress import progress_bar
from rwsr.kernels.crops import crop_corners
from rwsr.kernels.kernel_ops import bicubic_kernel, pad_to
from rwsr.nn.kernelgan import KernelDiscriminator, KernelGenerator
from rwsr.ops.degradation import grid_offset
from rwsr.train.guards import FiniteGuard

log = logging.getLogger(__name__)

# The bicubic constraint's weight is divided by this every `constraint_update_every` iterations
# once met, down to a floor (official implementation): it only steers G's start.
BICUBIC_DECAY = 100.0
BICUBIC_FLOOR = 5e-6
# Once the bicubic weight falls below this, the centre-of-mass and sparsity priors switch on
# (they would fight the bicubic-like start if applied from iteration 0).
PRIORS_ON_BELOW = 5e-3
# The boundary mask's strength and the number of consecutive met checks, as in the official code.
BOUNDARY_PENALTY = 30.0
BICUBIC_MET_CHECKS = 3
# One GPU sync every LOG_EVERY iterations instead of every one.
LOG_EVERY = 10
LOG_FIELDS = ["loss_g", "loss_d", "bicubic", "sum_to_one", "boundaries", "centralized", "sparsity", "lambda_bicubic", "lr"]


@dataclass(frozen=True)
class KernelGANSettings(StageSettings):
    """The config's `kernels` section (its schema documents each key and holds the defaults, the
    paper's settings). No top-level keys: each image's seed and the device reach `train_batch` as
    arguments (one settings object serves a batch of images, each with its own seed), and the scale
    only picks the kernels written after training. Built by `KernelGANSettings.from_config(config)`."""

    SECTION: ClassVar[str] = "kernels"

    estimator: str  # kernelgan runs this module; spectral (rwsr.kernels.spectral) uses only spectral_tile
    spectral_tile: int
    iterations: int
    crop: int
    lr: float
    beta1: float
    lr_decay_every: int
    lr_decay_factor: float
    g_channels: int
    d_channels: int
    d_layers: int
    weight_bicubic: float
    weight_sum_to_one: float
    weight_boundaries: float
    weight_centralized: float
    weight_sparsity: float
    bicubic_threshold: float
    constraint_update_every: int
    keep_largest: int
    batched: bool
    batch_size: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def image_seed(seed: int, name: str) -> int:
    """An image's own seed: its kernel does not depend on which other images share its batch."""
    return int(np.random.SeedSequence([seed, zlib.crc32(name.encode())]).generate_state(1)[0])


def boundary_mask(size: int) -> torch.Tensor:
    """Penalty on the kernel's outer rings, growing away from the centre (the official mask)."""
    centre = (size - 1) / 2
    rows, cols = np.indices((size, size))
    mask = BOUNDARY_PENALTY * (1.0 - np.exp(-((rows - centre) ** 2 + (cols - centre) ** 2) / (2.0 * size**2)))
    margin = (size - (size // 2 + size % 2)) // 2 - 1
    if margin > 0:
        mask[margin:-margin, margin:-margin] = 0.0
    return torch.from_numpy(mask.astype(np.float32))


def kernel_priors(kernels: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The paper's regularisers on each (K, K) kernel, one value per image."""
    size = kernels.shape[-1]
    index = torch.arange(size, dtype=kernels.dtype, device=kernels.device)
    total = kernels.sum(dim=(1, 2))
    row_mass = kernels.sum(dim=2) @ index / total
    col_mass = kernels.sum(dim=1) @ index / total
    # KernelGAN's wanted centre of mass for x2: half a pixel past the middle (bicubic's grid).
    middle = (size - 1) / 2 + grid_offset(2)
    return {
        "sum_to_one": (1.0 - total).abs(),
        "boundaries": (kernels * mask).abs().mean(dim=(1, 2)),
        "centralized": ((row_mass - middle) ** 2 + (col_mass - middle) ** 2) / 2,
        # |k|^0.2 favours few non-zeros; the clamp keeps the gradient finite at exactly zero.
        "sparsity": kernels.abs().clamp_min(1e-12).pow(0.2).mean(dim=(1, 2)),
    }


@dataclass
class Constraints:
    """The per-image constraint schedule, on the device (no sync): the bicubic constraint counts as
    met after BICUBIC_MET_CHECKS consecutive iterations under the threshold; then its weight
    decays, and once small the centre-of-mass and sparsity priors switch on."""

    lam_bicubic: torch.Tensor
    lam_centralized: torch.Tensor
    lam_sparsity: torch.Tensor
    met_count: torch.Tensor  # consecutive iterations under the threshold, until met
    bicubic_met: torch.Tensor
    priors_pending: torch.Tensor

    @classmethod
    def start(cls, count: int, settings: KernelGANSettings, device: torch.device, dtype: torch.dtype) -> "Constraints":
        full = torch.ones(count, device=device, dtype=dtype)
        return cls(full * settings.weight_bicubic, full * 0.0, full * 0.0, full * 0.0, full < 0, full > 0)


@dataclass
class KernelGANState:
    """B images' generators and discriminators (batched weights), their optimisers and schedule."""

    G: KernelGenerator
    D: KernelDiscriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    constraints: Constraints
    noise_gen: list[torch.Generator]  # per image: the noise on D's inputs


@dataclass(frozen=True)
class KernelGANData:
    """The images on the device and every iteration's crop corners, drawn up front per image."""

    pixels: list[torch.Tensor]  # CHW in [-1, 1]
    corners: list[tuple[np.ndarray, np.ndarray]]  # per image: G's and D's crop corners per iteration
    crop: int  # G's input crop
    d_crop: int  # D's real crops, the size of G's output
    mask: torch.Tensor  # boundary_mask
    bicubic: torch.Tensor  # the bicubic kernel, one per image, for the constraint's target


def train_batch(
    images: Sequence[np.ndarray],
    seeds: Sequence[int],
    settings: KernelGANSettings,
    device: torch.device,
    crop: int | None = None,
    on_log: Callable[[int, int, dict[str, float]], None] | None = None,
    dtype: torch.dtype = torch.float32,
    progress: str | None = None,
) -> np.ndarray:
    """Train one KernelGAN per image (HxWx3 float32 [0, 1], each side >= crop), all at once.

    Returns (B, K, K) raw correlation kernels of the generators (before post-processing).
    `on_log(image_index, step, values)` receives the losses every LOG_EVERY iterations.
    float64 (`dtype`) is for tests: it shows that batched and single runs agree, which float32's
    rounding hides once Adam's sign-like first steps amplify it. `progress`, when given, labels a
    progress bar over the iterations (on stderr; every 30 s when that is a log file, not a terminal)."""
    count, crop = len(images), crop or settings.crop
    if any(min(img.shape[:2]) < crop for img in images):
        raise ValueError(f"every image needs both sides >= crop {crop} (rwsr.kernels.estimate.effective_crop picks one)")
    state, data = build(images, seeds, settings, device, crop, dtype)
    guard = FiniteGuard(f"KernelGAN ({count} image{'s' if count > 1 else ''})", "config key 'kernels.lr'")
    for step in progress_bar(range(settings.iterations), desc=progress, enabled=progress is not None, leave=False):
        if step and step % settings.lr_decay_every == 0:
            for group in (*state.opt_g.param_groups, *state.opt_d.param_groups):
                group["lr"] /= settings.lr_decay_factor
        g_in, real = feed_data(data, step)
        fake_d, losses = generator_step(state, settings, data, g_in)
        loss_d = discriminator_step(state, data, real, fake_d)
        guard.watch(loss_g=losses["loss_g"], loss_d=loss_d)
        logging_step = step % LOG_EVERY == 0 or step == settings.iterations - 1
        if logging_step:
            guard.check(step + 1, {"G": state.G, "D": state.D})  # one sync per LOG_EVERY, as the log's
        if step:
            update_constraints(state.constraints, settings, step, losses["bicubic"])
        if on_log and logging_step:
            log_values(state, losses, loss_d, step, on_log)
    with torch.no_grad():
        return state.G.kernels().cpu().numpy()


def build(images: Sequence[np.ndarray], seeds: Sequence[int], settings: KernelGANSettings, device: torch.device,
          crop: int, dtype: torch.dtype) -> tuple[KernelGANState, KernelGANData]:  # fmt: skip
    """Each image's networks, crops and noise stream from its own seed."""
    count = len(images)
    G = KernelGenerator(count, settings.g_channels, scale=2, seeds=seeds).to(device, dtype)
    D = KernelDiscriminator(count, settings.d_channels, settings.d_layers, seeds=seeds).to(device, dtype)
    size = G.kernel_size
    d_crop = (crop - size) // 2 + 1  # D's real crops are the size of G's output
    corners = [crop_corners(img, crop, d_crop, settings.iterations, np.random.default_rng(s))
               for img, s in zip(images, seeds)]  # fmt: skip
    noise_gen = [torch.Generator(device=device).manual_seed(int(s) + 2) for s in seeds]
    # KernelGAN works on [-1, 1] intensities; its loss thresholds assume that range.
    pixels = [torch.from_numpy(img).permute(2, 0, 1).to(device, dtype) * 2 - 1 for img in images]
    mask = boundary_mask(size).to(device, dtype)
    bicubic = torch.from_numpy(pad_to(bicubic_kernel(2), size)).to(device, dtype).expand(count, 1, size, size)
    # foreach: one multi-tensor update instead of a dozen small ops per parameter (CPU defaults to those).
    opt_g = torch.optim.Adam(G.parameters(), lr=settings.lr, betas=(settings.beta1, 0.999), foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=settings.lr, betas=(settings.beta1, 0.999), foreach=True)
    state = KernelGANState(G, D, opt_g, opt_d, Constraints.start(count, settings, device, dtype), noise_gen)
    return state, KernelGANData(pixels, corners, crop, d_crop, mask, bicubic)


def feed_data(data: KernelGANData, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """G's input crops as (3, B, crop, crop) (colours are separate images) and D's real crops (B, 3, d, d)."""
    crop, d_crop = data.crop, data.d_crop
    g_in = torch.stack([p[:, t : t + crop, l : l + crop] for p, (t, l) in zip(data.pixels, (c[0][step] for c in data.corners))], dim=1)
    real = torch.stack([p[:, t : t + d_crop, l : l + d_crop] for p, (t, l) in zip(data.pixels, (c[1][step] for c in data.corners))])
    return g_in, real


def d_input_noise(state: KernelGANState, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """N(0, 1/255) noise for D's inputs (the official code's), per image from its own stream."""
    draws = [torch.randn(shape, generator=g, device=like.device, dtype=like.dtype) for g in state.noise_gen]
    return torch.stack(draws) / 255.0


def generator_step(state: KernelGANState, settings: KernelGANSettings, data: KernelGANData,
                   g_in: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
    """G's update: fool D, stay a plausible kernel. Returns G's output as D's input, and the per-image losses."""
    G, D, c = state.G, state.D, state.constraints
    kernels = G.kernels()
    fake = G(g_in, kernels)  # (3, B, d_crop, d_crop): colours are separate images
    fake_d = fake.transpose(0, 1)
    D.requires_grad_(False)  # D's gradients from G's loss would be discarded: skip them
    loss_gan = (1.0 - D(fake_d)).abs().mean(dim=(1, 2))
    D.requires_grad_(True)
    with torch.no_grad():
        target = F.conv2d(g_in, data.bicubic, stride=2, groups=len(data.pixels))
    loss_bicubic = ((fake - target) ** 2).mean(dim=(0, 2, 3))
    priors = kernel_priors(kernels, data.mask)
    loss_g = (
        loss_gan
        + c.lam_bicubic * loss_bicubic
        + settings.weight_sum_to_one * priors["sum_to_one"]
        + settings.weight_boundaries * priors["boundaries"]
        + c.lam_centralized * priors["centralized"]
        + c.lam_sparsity * priors["sparsity"]
    )
    state.opt_g.zero_grad(set_to_none=True)
    loss_g.sum().backward()
    state.opt_g.step()
    return fake_d, {"loss_g": loss_g, "gan": loss_gan, "bicubic": loss_bicubic, **priors}


def discriminator_step(state: KernelGANState, data: KernelGANData, real: torch.Tensor, fake_d: torch.Tensor) -> torch.Tensor:
    """D's update on this iteration's fake (G's output before its update; the official code runs G
    again, which costs a forward pass and changes nothing that matters). Returns the per-image loss."""
    real_d = real + d_input_noise(state, real.shape[1:], real)
    fake_d = fake_d.detach() + d_input_noise(state, (3, data.d_crop, data.d_crop), real)
    loss_d = 0.5 * (state.D(fake_d).mean(dim=(1, 2)) + (1.0 - state.D(real_d)).mean(dim=(1, 2)))
    state.opt_d.zero_grad(set_to_none=True)
    loss_d.sum().backward()
    state.opt_d.step()
    return loss_d


def update_constraints(c: Constraints, settings: KernelGANSettings, step: int, loss_bicubic: torch.Tensor) -> None:
    """One iteration of the schedule (see Constraints); every `constraint_update_every` the
    weights of images whose constraint is met move on."""
    below = loss_bicubic.detach() < settings.bicubic_threshold
    was_met = c.bicubic_met.clone()
    if step % settings.constraint_update_every == 0:
        decay = was_met & (c.lam_bicubic > BICUBIC_FLOOR)
        c.lam_bicubic = torch.where(decay, (c.lam_bicubic / BICUBIC_DECAY).clamp_min(BICUBIC_FLOOR), c.lam_bicubic)
        switch = decay & c.priors_pending & (c.lam_bicubic < PRIORS_ON_BELOW)
        c.lam_centralized = torch.where(switch, settings.weight_centralized, c.lam_centralized)
        c.lam_sparsity = torch.where(switch, settings.weight_sparsity, c.lam_sparsity)
        c.priors_pending &= ~switch
    c.bicubic_met = was_met | (below & (c.met_count >= BICUBIC_MET_CHECKS - 1))
    c.met_count = torch.where(was_met, c.met_count, torch.where(below, c.met_count + 1, 0.0))


def log_values(state: KernelGANState, losses: dict[str, torch.Tensor], loss_d: torch.Tensor, step: int,
               on_log: Callable[[int, int, dict[str, float]], None]) -> None:  # fmt: skip
    """Each image's losses and weights to `on_log`, in one sync (LOG_FIELDS order)."""
    priors = (losses[k] for k in ("sum_to_one", "boundaries", "centralized", "sparsity"))
    table = torch.stack([losses["gan"], loss_d, losses["bicubic"], *priors, state.constraints.lam_bicubic]).detach().cpu().numpy()
    lr = state.opt_g.param_groups[0]["lr"]
    for b in range(table.shape[1]):
        on_log(b, step, {**dict(zip(LOG_FIELDS[:-1], map(float, table[:, b]))), "lr": lr})
