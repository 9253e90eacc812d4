"""Score rows (one per model, training-data variant and generator) and the table results/fid.csv.

Each row carries its whole protocol (crop size and count, seed, reference sets) and which weights
every backbone behind its numbers had (`backbone` for the FID/KID Inception, `lpips_backbone`,
`vgg_backbone` for the training's perceptual loss: pretrained, random or file:<sha256 prefix>),
so a row read on its own, or next to rows from another run, says how it was measured and whether
its perceptual numbers mean anything.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rwsr.errors import InputError
from rwsr.evaluate import GENERATORS, VARIANTS
from rwsr.evaluate.fid import (
    CropProtocol,
    SetStatistics,
    frechet_distance,
    kernel_inception_distance,
    load_statistics,
    save_statistics,
    require_protocol,
    set_statistics,
)
from rwsr.evaluate.metrics import read_matched, score_pairs
from rwsr.io.atomic import atomic_path

log = logging.getLogger(__name__)

COLUMNS = (
    "model", "variant", "generator", "scale", "psnr_y", "ssim_y", "lpips", "hf_ratio", "fid", "kid", "kid_std",
    "backbone", "lpips_backbone", "vgg_backbone", "n_images", "crop_size", "crop_count", "seed", "reference",
    "n_reference_images", "border",
)  # fmt: skip
# Columns that must agree across the table: scores under different protocols or networks do not compare.
PROTOCOL_COLUMNS = ("scale", "crop_size", "crop_count", "seed", "backbone", "lpips_backbone", "reference")


def build_inception(config: Mapping[str, Any]):
    from rwsr.nn.inception import FIDInception

    return FIDInception(
        weights=config["evaluate"]["inception_weights"], config_key="evaluate.inception_weights", seed=config["seed"]
    )


def reference_statistics(
    config: Mapping[str, Any], reference: Sequence[str | Path], model, device
) -> SetStatistics:
    """The reference side: a statistics file from `rwsr fid-reference`, or folders to crop now."""
    protocol = CropProtocol.from_config(config)
    if len(reference) == 1 and Path(reference[0]).suffix == ".npz":
        stats = load_statistics(reference[0])
        require_protocol(stats, protocol, model.weights.describe(), f"reference statistics {reference[0]}")
        return stats
    return set_statistics(
        reference, protocol, model, config["evaluate"]["batch_size"], device, what="FID reference folder"
    )


def build_reference_statistics(config: Mapping[str, Any], folders: Sequence[str | Path], out: str | Path) -> None:
    """Crop and embed the reference once, so each row's job only embeds its own SR outputs."""
    from rwsr.device import resolve_device

    device = resolve_device(config["device"])
    inception = build_inception(config).to(device)
    stats = set_statistics(
        folders, CropProtocol.from_config(config), inception, config["evaluate"]["batch_size"], device,
        what="FID reference folder",
    )  # fmt: skip
    save_statistics(out, stats)


def perceptual_backbone(generator_file: str | Path | None) -> str:
    """Which VGG19 weights the perceptual loss that trained these outputs had: none for the PSNR
    phase's generator (trained on L1 alone) and for bicubic upscaling."""
    if generator_file is None:
        return "none"
    from rwsr.sr.upscale import load_generator

    _, meta = load_generator(generator_file)
    return "none" if meta.get("phase") == "psnr" else str(meta.get("vgg_weights", "unknown"))


def evaluate_row(
    config: Mapping[str, Any],
    sr_dir: str | Path,
    reference: Sequence[str | Path],
    model_name: str,
    variant: str,
    ground_truth: str | Path | None = None,
    generator: str = "final",
    generator_file: str | Path | None = None,
) -> dict[str, Any]:
    """One table row: FID and KID of the SR outputs against the reference; PSNR/SSIM (Y), LPIPS
    (whole images) and the high-frequency energy ratio against the ground truth when given (empty
    otherwise). `generator` says which of a training's generators made the outputs (psnr, final or
    none); `generator_file`, the file it was loaded from, tells which VGG19 trained it."""
    from rwsr.device import resolve_device
    from rwsr.evaluate.perceptual import LPIPSMetric

    if variant not in VARIANTS:
        raise InputError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    section = config["evaluate"]
    scale = config["scale"]
    device = resolve_device(config["device"])
    lpips_metric = LPIPSMetric(section["lpips_weights"])
    quality, lpips = None, math.nan
    if ground_truth is not None:
        matched = read_matched(sr_dir, ground_truth)
        quality = score_pairs(matched, border=scale)
        lpips = lpips_metric.score([(sr, gt) for _, sr, gt in matched], device)
    inception = build_inception(config).to(device)
    protocol = CropProtocol.from_config(config)
    ref = reference_statistics(config, reference, inception, device)
    sr = set_statistics([sr_dir], protocol, inception, section["batch_size"], device, what="SR output folder")
    fid = frechet_distance(sr, ref)
    kid, kid_std = kernel_inception_distance(sr, ref, section["kid_subsets"], section["kid_subset_size"], config["seed"])
    log.info("%s / %s / %s: FID %.3f, KID %.5f +- %.5f (%d crops of %d px), LPIPS %.4f", model_name, variant,
             generator, fid, kid, kid_std, protocol.crop_count, protocol.crop_size, lpips)  # fmt: skip
    return {
        "model": model_name,
        "variant": variant,
        "generator": generator,
        "scale": scale,
        "psnr_y": quality["psnr_y"] if quality else math.nan,
        "ssim_y": quality["ssim_y"] if quality else math.nan,
        "lpips": lpips,
        "hf_ratio": quality["hf_ratio"] if quality else math.nan,
        "fid": fid,
        "kid": kid,
        "kid_std": kid_std,
        "backbone": sr.inception_weights,
        "lpips_backbone": lpips_metric.describe(),
        "vgg_backbone": perceptual_backbone(generator_file),
        "n_images": sr.n_images,
        "crop_size": protocol.crop_size,
        "crop_count": protocol.crop_count,
        "seed": protocol.seed,
        "reference": "+".join(ref.sources),
        "n_reference_images": ref.n_images,
        "border": scale,
    }


def write_rows(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def read_rows(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except Exception as error:
        raise InputError(f"cannot read score rows from {path}: {error}") from error
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise InputError(
            f"score rows {path} lack the column(s) {', '.join(missing)}; rewrite them with `rwsr evaluate`"
        )
    return frame


def gather_table(row_files: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate row files into one table; refuses duplicates and mixed protocols."""
    frames = [read_rows(path).assign(_file=str(path)) for path in row_files]
    if not frames:
        raise InputError("no score rows given")
    table = pd.concat(frames, ignore_index=True)
    duplicated = table[table.duplicated(["model", "variant", "generator"], keep=False)]
    if not duplicated.empty:
        raise InputError(f"the same model, variant and generator appear in more than one row: {', '.join(duplicated['_file'])}")
    for column in PROTOCOL_COLUMNS:
        if table[column].nunique(dropna=False) > 1:
            values = "; ".join(f"{row['_file']}: {row[column]}" for _, row in table.iterrows())
            raise InputError(f"rows were scored under different '{column}' and do not compare: {values}")
    order = {name: rank for rank, name in enumerate((*VARIANTS, *GENERATORS))}
    table = table.sort_values(["model", "variant", "generator"], key=lambda s: s if s.name == "model" else s.map(order))
    table = table.drop(columns="_file")[list(COLUMNS)]
    write_rows(out, table.to_dict("records"))
    return table
