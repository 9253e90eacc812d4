"""The sr stage: train an SR GAN (ESRGAN; BebyGAN on the same loop) on a pair set, and apply it.

Modules: data (in-memory pairs, aligned crops), losses (per-model generator losses),
train (settings and the one training loop), upscale (generator files, tiled inference), cli.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The settings each model's loss reads (its constructor's arguments besides seed and
# need_perceptual; from_settings fills exactly these). Kept here, free of torch, because the
# Snakefile reads it while building the DAG.
LOSS_KEYS: dict[str, tuple[str, ...]] = {
    "esrgan": ("pixel_weight", "perceptual_weight", "gan_weight", "frequency_separation", "perceptual_band",
               "vgg_weights"),
    "bebygan": (
        "scale", "best_buddy_weight", "best_buddy_alpha", "best_buddy_beta", "back_projection_weight",
        "perceptual_layers", "perceptual_weight", "gan_weight", "mask_window", "mask_threshold", "vgg_weights",
    ),
}  # fmt: skip


# Inference keys: a training only tiles its validation PSNR monitor with them, which tiled and
# untiled inference agree on (tests/test_upscale.py), so they do not make a new model.
INFERENCE_KEYS = ("tile", "tile_pad")


def training_section(sr: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The `sr` config section as a training of `model` reads it, for the sr_train rule's params:
    keys that only other models' losses read are dropped, and so are the inference keys and
    `model` (the rule's wildcard names it), so that editing a BebyGAN weight or the tiling re-runs
    no ESRGAN training."""
    foreign = {key for keys in LOSS_KEYS.values() for key in keys} - set(LOSS_KEYS[model])
    dropped = foreign | {"model", *INFERENCE_KEYS}
    return {key: value for key, value in sr.items() if key not in dropped}


def inference_section(sr: Mapping[str, Any]) -> dict[str, Any]:
    """The `sr` keys that upscaling with a trained model reads (the model file carries the rest)."""
    return {key: sr[key] for key in INFERENCE_KEYS}
