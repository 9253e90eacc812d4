"""Checkpoints: one dict written atomically, with every RNG state, so a killed run resumes
where it stopped and continues exactly as it would have."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rwsr.io.atomic import atomic_path


def rng_states() -> dict[str, Any]:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside DDP / torch.compile wrappers, whose state_dict keys are clean."""
    module = getattr(module, "module", module)
    return getattr(module, "_orig_mod", module)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """torch.save to a temporary file beside `path`, then rename."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    # Our own files carry numpy RNG state and config dicts, which weights_only loading rejects.
    return torch.load(path, map_location=map_location, weights_only=False)


def settings_hash(key: Mapping[str, Any]) -> str:
    """A digest of the settings that shape training (plus what identifies the data), stored in the
    checkpoint: a resume continues only a run made with the same ones."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=repr).encode()).hexdigest()


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """'key: old -> new' for every key whose value differs, for the log line of a fresh start."""
    normal = json.loads(json.dumps(old, default=repr)), json.loads(json.dumps(new, default=repr))
    keys = sorted(k for k in set(old) | set(new) if normal[0].get(k) != normal[1].get(k))
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys) or "unknown (an older checkpoint)"
