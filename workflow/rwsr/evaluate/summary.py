"""The end-of-run summary Snakemake prints (Snakefile `onsuccess:`): the score table and how
faithful the synthesized degradation was, with a banner when the numbers cannot be trusted.

Torch-free: the Snakefile imports it.
"""

from __future__ import annotations

import csv
from pathlib import Path

SCORE_COLUMNS = ("model", "variant", "generator", "psnr_y", "ssim_y", "lpips", "hf_ratio", "fid", "kid", "backbone",
                 "vgg_backbone")  # fmt: skip
PAIR_SETS = {"pipeline": "pairs", "oracle-pairs": "pairs_oracle"}
# Backbone column -> the network, what a random one voids, its published file, the config key for a path.
BACKBONES = {
    "backbone": ("FID Inception", "fid and kid", "pt_inception-2015-12-05-6726825d.pth",
                 "evaluate.inception_weights"),
    "lpips_backbone": ("LPIPS AlexNet", "lpips (left empty)", "alexnet-owt-7be5be79.pth",
                       "evaluate.lpips_weights"),
    "vgg_backbone": ("perceptual-loss VGG19", "the final generators' perceptual loss", "vgg19-dcbb9e9d.pth",
                     "sr.vgg_weights"),
}  # fmt: skip


def random_backbone_banner(rows: list[dict[str, str]]) -> str:
    """A loud banner naming each random backbone behind the table and the file that fixes it; "" when none."""
    random = [entry for column, entry in BACKBONES.items() if any(row.get(column) == "random" for row in rows)]
    if not random:
        return ""
    lines = ["!!! RANDOM backbone weights behind this table (no pretrained file was found): "
             + "; ".join(voids for _, voids, _, _ in random)
             + " - these do not measure perceptual quality and do not compare with published numbers."]  # fmt: skip
    lines += [f"!!!   {name}: put {filename} into $TORCH_HOME/hub/checkpoints (default ~/.cache/torch/hub/checkpoints),"
              f" or set {key} to its path" for name, _, filename, key in random]  # fmt: skip
    lines.append("!!! then re-run (snakemake re-runs only what the weights change).")
    return "\n".join(lines)


def read_table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def format_rows(rows: list[dict[str, str]], columns: tuple[str, ...]) -> str:
    widths = {c: max(len(c), *(len(row.get(c, "")) for row in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(row.get(c, "").ljust(widths[c]) for c in columns) for row in rows]
    return "\n".join(lines)


def summary_text(results: str | Path = "results") -> str:
    """The score table and the pairs' noise fidelity and colour shift, or "" when the run made no score table."""
    results = Path(results)
    table = results / "fid.csv"
    if not table.is_file():
        return ""
    rows = read_table(table)
    parts = [banner] if (banner := random_backbone_banner(rows)) else []
    parts.append(f"Scores ({table}):\n" + format_rows([{c: row.get(c, "") for c in SCORE_COLUMNS} for row in rows], SCORE_COLUMNS))
    fidelity = []
    for variant, folder in PAIR_SETS.items():
        path = results / folder / "fidelity.csv"
        if path.is_file():
            quantities = {row["quantity"]: row for row in read_table(path)}
            if noise := quantities.get("noise_sigma"):
                shift = quantities.get("colour_shift", {}).get("synthesized", "")
                fidelity.append({"pairs": variant, "noise_synthesized": noise["synthesized"], "noise_real": noise["real"],
                                 "ratio": noise["ratio"], "colour_shift": shift})  # fmt: skip
    if fidelity:
        parts.append("Noise level of the synthesized LR against the real LR, and the colour shift of its noise and "
                     "compression steps (results/*/fidelity.csv):\n"
                     + format_rows(fidelity, ("pairs", "noise_synthesized", "noise_real", "ratio", "colour_shift")))  # fmt: skip
    return "\n\n".join(parts)
