"""Choose the degrader's published generator by how well its noise matches the real LR's.

An unpaired GAN between photos of different content never reaches its equilibrium: the
discriminator can always tell the sets apart by what they show, and the generator keeps adding
high frequencies to fool it, overshooting the real noise as training goes on. The real LR's blind
noise level (rwsr.ops.noise_level) is an unsupervised yardstick that needs no ground truth, so the
generator is scored on fixed source images at regular steps, after the same compression the pairs
get, and the step whose noise level is closest to the real one (in ratio) is the one published.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch

from rwsr.io.images import to_array, to_tensor
from rwsr.ops.jpeg import Compression
from rwsr.ops.noise_level import noise_sigma

# Images scored at each selection step: enough for a stable mean, few enough to stay cheap.
MAX_SCORED_IMAGES = 8
# Largest gain the calibration puts on the residual: a generator that needs more learnt too little.
MAX_RESIDUAL_SCALE = 4.0


class NoiseMatchSelector:
    """Keeps the generator state whose output noise level is closest to the target's."""

    def __init__(self, sources: Sequence[np.ndarray], targets: Sequence[np.ndarray], compression: Compression, seed: int):
        self.sources = list(sources[:MAX_SCORED_IMAGES])
        self.target_noise = float(np.mean([noise_sigma(image) for image in targets[: 2 * MAX_SCORED_IMAGES]]))
        self.compression = compression
        self.seed = seed
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_step = -1
        self.best_ratio = math.nan
        self.residual_scale = 1.0

    @torch.no_grad()
    def noise_ratio(self, generator: torch.nn.Module, device: torch.device) -> float:
        """Mean output noise level over the source images (compressed like the pairs) / the target's."""
        rng = np.random.default_rng(self.seed)  # the same noise and JPEG draws at every step
        state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)
        was_training = generator.training
        generator.eval()
        levels = []
        for source in self.sources:
            output = to_array(generator(to_tensor(source).to(device)).clamp(0, 1))
            levels.append(noise_sigma(self.compression.apply(output, rng)[0]))
        generator.train(was_training)
        torch.random.set_rng_state(state)
        return float(np.mean(levels)) / max(self.target_noise, 1e-12)

    def update(self, generator: torch.nn.Module, device: torch.device, step: int) -> float:
        """Score the generator now; keep its weights when they are the closest so far."""
        ratio = self.noise_ratio(generator, device)
        if self.best_state is None or abs(math.log(max(ratio, 1e-12))) < abs(math.log(max(self.best_ratio, 1e-12))):
            self.best_state = copy.deepcopy(generator.state_dict())
            self.best_step, self.best_ratio = step, ratio
        return ratio

    def calibrate(self, generator: torch.nn.Module, device: torch.device, iterations: int = 12) -> float:
        """Set generator.residual_scale (within [0, MAX_RESIDUAL_SCALE]) so that the noise ratio is 1
        (the noise level grows with the gain); returns the ratio reached."""
        low, high = 0.0, MAX_RESIDUAL_SCALE
        for _ in range(iterations):
            generator.residual_scale = (low + high) / 2
            if self.noise_ratio(generator, device) < 1.0:
                low = generator.residual_scale
            else:
                high = generator.residual_scale
        generator.residual_scale = self.residual_scale = (low + high) / 2
        return self.noise_ratio(generator, device)

    def state_dict(self) -> dict:
        return {"best_state": self.best_state, "best_step": self.best_step, "best_ratio": self.best_ratio,
                "residual_scale": self.residual_scale}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.best_state, self.best_step, self.best_ratio = state["best_state"], state["best_step"], state["best_ratio"]
        self.residual_scale = state.get("residual_scale", 1.0)
