"""A CSV of losses over iterations that survives resume: rows past the resumed step are dropped."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


class LossLog:
    """Append-only CSV with a fixed header; `resume_from(step)` keeps rows with step <= `step`."""

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
