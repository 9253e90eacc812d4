"""The four input sets and where their files come from: a user folder or the demo build.

Snakemake's common.smk and the `rwsr data` commands both call `source_images`, so the DAG's
per-image jobs and the files the data stage reads are the same list.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rwsr.data.demo import demo_files
from rwsr.io.images import ImageError, discover_images

DATASETS = ("hr", "real_lr", "val_lr", "val_hr")
DEMO = "demo"


def uses_demo(config: Mapping[str, Any]) -> bool:
    return any(config["data"][name] == DEMO for name in DATASETS)


def active_datasets(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The sets this config provides; val_hr is optional (null: no ground truth)."""
    return tuple(name for name in DATASETS if config["data"][name] is not None)


def source_images(config: Mapping[str, Any], demo_root: str | Path) -> dict[str, dict[str, Path]]:
    """Set name -> image stem -> source file, for every active set."""
    demo = demo_files(config, demo_root) if uses_demo(config) else {}
    sources = {}
    for name in active_datasets(config):
        folder = config["data"][name]
        sources[name] = demo[name] if folder == DEMO else discover_images(folder, what=f"config key 'data.{name}'")
    if "val_hr" in sources and set(sources["val_hr"]) != set(sources["val_lr"]):
        unmatched = sorted(set(sources["val_lr"]) ^ set(sources["val_hr"]))
        raise ImageError(
            "config keys 'data.val_lr' and 'data.val_hr' must hold the same image names; "
            f"only in one of them: {', '.join(unmatched)}"
        )
    return sources
