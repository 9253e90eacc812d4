"""Which weights a pretrained backbone gets: the one policy for VGG19 (perceptual losses) and
the FID Inception network.

A config value picks the weights, never the code:
- `imagenet`: the published file, from the standard torch cache ($TORCH_HOME/hub/checkpoints)
  or downloaded there; fails clearly when neither works (e.g. offline).
- a file path: a state dict saved with torch.save, loaded from there.
- `random`: seeded random initialisation, on purpose.
- `auto`: `imagenet` when the file is already in the cache, otherwise `random` with a loud
  warning, so the offline demo still runs.
`describe` of the result is recorded beside every loss log and score that the backbone produced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from rwsr.errors import InputError

log = logging.getLogger(__name__)

CHOICES = ("auto", "imagenet", "random")


@dataclass(frozen=True)
class BackboneWeights:
    """A resolved weights choice: the state dict to load (None for random) and its provenance."""

    state_dict: dict[str, torch.Tensor] | None
    source: str  # "imagenet", "random" or "file"
    location: str  # file path, or "" for random

    def describe(self) -> str:
        return self.source if not self.location else f"{self.source}:{self.location}"


def cache_path(url: str) -> Path:
    """Where torch.hub keeps the file of `url` (honours TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def load_state_file(path: Path, what: str, config_key: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt or foreign files surface here in many forms
        raise InputError(f"config key '{config_key}': cannot load {what} weights from {path}: {error}") from error
    if not isinstance(state, dict):
        raise InputError(f"config key '{config_key}': {path} does not hold a state dict for {what}")
    return state


def resolve_weights(choice: str, url: str, what: str, config_key: str) -> BackboneWeights:
    """Turn a weights config value into a state dict (or None for random), per the policy above."""
    cached = cache_path(url)
    if choice == "random":
        return BackboneWeights(None, "random", "")
    if choice == "auto":
        if cached.is_file():
            return BackboneWeights(load_state_file(cached, what, config_key), "imagenet", str(cached))
        log.warning(
            "!!! %s: pretrained weights not found at %s; using RANDOM weights (config key '%s' is auto). "
            "Scores and perceptual losses from a random backbone are not comparable to published ones. "
            "Put the file there, or set the key to a file path, to use pretrained weights. !!!",
            what, cached, config_key,
        )
        return BackboneWeights(None, "random", "")
    if choice == "imagenet":
        if not cached.is_file():
            try:
                torch.hub.download_url_to_file(url, str(cached), progress=False)
            except Exception as error:
                raise InputError(
                    f"config key '{config_key}' is imagenet but the {what} weights are not in {cached} "
                    f"and could not be downloaded from {url} ({error}); copy the file there, give a file path, "
                    "or choose auto or random"
                ) from error
        return BackboneWeights(load_state_file(cached, what, config_key), "imagenet", str(cached))
    path = Path(choice)
    if not path.is_file():
        raise InputError(
            f"config key '{config_key}': {choice!r} is neither one of {', '.join(CHOICES)} nor an existing weights file"
        )
    return BackboneWeights(load_state_file(path, what, config_key), "file", str(path))
