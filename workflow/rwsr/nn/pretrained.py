"""Which weights a pretrained backbone gets: the one policy for VGG19 (perceptual losses) and
the FID Inception network.

A config value picks the weights, never the code:
- `imagenet`: the published file, from the standard torch cache ($TORCH_HOME/hub/checkpoints)
  or downloaded there; fails clearly when neither works (e.g. offline).
- a file path: a state dict saved with torch.save, loaded from there.
- `random`: seeded random initialisation, on purpose.
- `auto`: `imagenet` when the file is already in the cache, otherwise `random` with a loud
  warning, so the offline demo still runs.
`describe` of the result (`pretrained`, `random` or `file:<sha256 prefix>`) is recorded beside
every loss log and score that the backbone produced: the file's content, not its path, so two
machines holding the same weights describe them alike.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn as nn

from rwsr.errors import InputError

log = logging.getLogger(__name__)

CHOICES = ("auto", "imagenet", "random")
# How many hex digits of a weight file's sha256 name it in scores (torch.hub names files by 8).
DIGEST_CHARS = 12


@dataclass(frozen=True)
class BackboneWeights:
    """A resolved weights choice: the state dict to load (None for random) and its provenance."""

    state_dict: dict[str, torch.Tensor] | None
    source: str  # "imagenet", "random" or "file"
    location: str  # file path, or "" for random
    digest: str = ""  # sha256 prefix of the file, or "" for random

    @property
    def is_random(self) -> bool:
        return self.state_dict is None

    def describe(self) -> str:
        """pretrained (the published file), random, or file:<sha256 prefix> (a configured file)."""
        if self.source == "imagenet":
            return "pretrained"
        return self.source if self.source == "random" else f"file:{self.digest}"


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes: weights are named by their content, not by where they lie."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def keep_scale_init(net: nn.Module, mode: str = "fan_in") -> str:
    """He-normal convolutions and zero biases for random weights; returns the name of the init.

    PyTorch's layer defaults shrink the signal at each conv layer: after VGG19's 16 (or the FID
    Inception's ~50) the features are almost only the biases, and a perceptual loss or FID built on
    them is ~0 whatever the images. He initialisation keeps activation magnitudes through depth."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return f"kaiming_normal_{mode}"


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
            return loaded(cached, "imagenet", what, config_key)
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
        return loaded(cached, "imagenet", what, config_key)
    path = Path(choice)
    if not path.is_file():
        raise InputError(
            f"config key '{config_key}': {choice!r} is neither one of {', '.join(CHOICES)} nor an existing weights file"
        )
    return loaded(path, "file", what, config_key)


def loaded(path: Path, source: str, what: str, config_key: str) -> BackboneWeights:
    """The weights of `path`; only a configured file is hashed (the published one is described as
    `pretrained`, and hashing its hundreds of MB in every job would buy nothing)."""
    digest = file_sha256(path)[:DIGEST_CHARS] if source == "file" else ""
    return BackboneWeights(load_state_file(path, what, config_key), source, str(path), digest)
