"""A CSV of losses over iterations that survives resume: rows past the resumed step are dropped."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any


class LossLog:
    """Append-only CSV with a fixed header; `resume_from(step)` keeps rows with step <= `step`.

    A checkpoint also carries the log's text (`snapshot`), and a resume writes it back (`restore`):
    when a killed job's outputs are removed (Snakemake deletes a failed job's outputs, the log
    among them), the resumed run's log still starts at step 1.
    """

    def __init__(self, path: str | Path, fields: list[str]):
        self.path = Path(path)
        self.fields = ["step", *fields]

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as handle:
            csv.writer(handle).writerow(self.fields)

    def resume_from(self, step: int) -> None:
        if not self.path.is_file():
            self.start()
            return
        with self.path.open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if int(row["step"]) <= step]
        self.start()
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.fields).writerows(rows)

    def write(self, step: int, values: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.fields).writerow({"step": step, **values})

    def snapshot(self) -> str:
        return self.path.read_text() if self.path.is_file() else ""

    def restore(self, snapshot: str, step: int) -> None:
        """Write back a snapshot's rows with step <= `step` (all of them, from the same checkpoint)."""
        rows = [row for row in csv.DictReader(io.StringIO(snapshot)) if int(row["step"]) <= step]
        self.start()
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.fields).writerows(rows)
