"""The end-of-run summary Snakemake prints (Snakefile `onsuccess:`): the score table and how
faithful the synthesized degradation was, with a banner when the numbers cannot be trusted.

Torch-free: the Snakefile imports it.
"""

from __future__ import annotations

import csv
from pathlib import Path

SCORE_COLUMNS = ("model", "variant", "generator", "psnr_y", "ssim_y", "hf_ratio", "fid")
PAIR_SETS = {"pipeline": "pairs", "oracle-pairs": "pairs_oracle"}


def read_table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def format_rows(rows: list[dict[str, str]], columns: tuple[str, ...]) -> str:
    widths = {c: max(len(c), *(len(row.get(c, "")) for row in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(row.get(c, "").ljust(widths[c]) for c in columns) for row in rows]
    return "\n".join(lines)


def summary_text(results: str | Path = "results") -> str:
    """The score table and the pairs' noise fidelity, or "" when the run made no score table."""
    results = Path(results)
    table = results / "fid.csv"
    if not table.is_file():
        return ""
    rows = read_table(table)
    parts = []
    if any(row.get("inception_weights") == "random" for row in rows):
        parts.append(
            "!!! The FID column comes from a RANDOMLY initialised Inception network: it is not comparable to\n"
            "!!! published FIDs and does not measure perceptual quality. Put pytorch-fid's weights file\n"
            "!!! pt_inception-2015-12-05-6726825d.pth into $TORCH_HOME/hub/checkpoints (default ~/.cache/torch),\n"
            "!!! or set evaluate.inception_weights to its path, and re-run."
        )
    parts.append(f"Scores ({table}):\n" + format_rows([{c: row.get(c, "") for c in SCORE_COLUMNS} for row in rows], SCORE_COLUMNS))
    fidelity = []
    for variant, folder in PAIR_SETS.items():
        path = results / folder / "fidelity.csv"
        if path.is_file():
            noise = {row["quantity"]: row for row in read_table(path)}.get("noise_sigma")
            if noise:
                fidelity.append({"pairs": variant, "noise_synthesized": noise["synthesized"], "noise_real": noise["real"],
                                 "ratio": noise["ratio"]})  # fmt: skip
    if fidelity:
        parts.append("Noise level of the synthesized LR against the real LR (results/*/fidelity.csv):\n"
                     + format_rows(fidelity, ("pairs", "noise_synthesized", "noise_real", "ratio")))  # fmt: skip
    return "\n\n".join(parts)
