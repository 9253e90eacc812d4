"""Guards every training loop shares: stop on non-finite numbers, and stop cleanly on SIGTERM/SIGINT.

A diverged run must not write weights or checkpoints full of NaN that later stages would turn
into black images: `FiniteGuard` watches the losses (on the device, without a sync per step)
and checks them, and the parameters, whenever the loop asks (in one sync: the loops ask when they
log or write), raising `DivergedError`, which
names the stage, the step and the config keys to lower.

SLURM ends a job at its time limit with SIGTERM (then SIGKILL); `StopSignals` turns SIGTERM and
SIGINT into a flag that the loop reads after each step, so it can write a checkpoint and raise
`TrainingInterrupted`, which the `rwsr` command turns into exit status `INTERRUPTED_EXIT`. A second
Ctrl-C is not deferred: it interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Mapping
from types import FrameType
from typing import TYPE_CHECKING

from rwsr.errors import INTERRUPTED_EXIT, InputError, TrainingInterrupted  # noqa: F401 (the loops import them here)

if TYPE_CHECKING:  # torch is imported where it is used: the `rwsr` command starts without it
    import torch

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class DivergedError(InputError):
    """A loss or a parameter became NaN or infinite; the message names the stage, the step and the
    config keys whose values are the usual cause."""


class FiniteGuard:
    """Collects per-loss "all finite so far" flags on the device; `check` syncs once and raises.

    `advice` names what to change, e.g. "config key 'degrader.lr'".
    """

    def __init__(self, stage: str, advice: str):
        self.stage, self.advice = stage, advice
        self.flags: dict[str, torch.Tensor | bool] = {}
        self.last_checked = 0

    def watch(self, **losses: torch.Tensor | float) -> None:
        import torch

        for name, value in losses.items():
            finite = torch.isfinite(value).all() if isinstance(value, torch.Tensor) else _finite_number(value)
            previous = self.flags.get(name, True)
            self.flags[name] = finite & previous if isinstance(finite, torch.Tensor) else (finite and previous)

    def check(self, step: int, modules: Mapping[str, torch.nn.Module] | None = None) -> None:
        """Raise DivergedError if a watched loss since the last check, or a parameter of `modules`,
        is not finite. One host sync for all of them, however many losses and modules."""
        modules = modules or {}
        values = _to_host([*(~flag if _is_tensor(flag) else not flag for flag in self.flags.values()),
                           *(non_finite_count(module.parameters()) for module in modules.values())])  # fmt: skip
        bad = [name for name, value in zip(self.flags, values) if value]
        bad += [f"{value} parameter values of {name}" for name, value in zip(modules, values[len(self.flags) :]) if value]
        if bad:
            first = self.last_checked + 1
            when = f"at step {step}" if step - self.last_checked <= 1 else f"between steps {first} and {step}"
            raise DivergedError(f"{self.stage} diverged {when}: {', '.join(bad)} became NaN or infinite; "
                                f"lower {self.advice} and train again")  # fmt: skip
        self.flags.clear()
        self.last_checked = step


def _is_tensor(value: object) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def _to_host(values: list) -> list[int]:
    """Python ints of a list of device scalars (bools, counts) and Python numbers, in one sync."""
    import torch

    tensors = [value for value in values if _is_tensor(value)]
    if not tensors:
        return [int(value) for value in values]
    device = tensors[0].device
    fetched = iter(torch.stack([t.to(device, torch.int64).reshape(()) for t in tensors]).tolist())
    return [next(fetched) if _is_tensor(value) else int(value) for value in values]


def _finite_number(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def non_finite_count(parameters: Iterable[torch.Tensor]) -> torch.Tensor | int:
    """How many parameter values are NaN or infinite, as a device scalar (no sync); 0 for none."""
    import torch

    counts = [(~torch.isfinite(p.detach())).sum() for p in parameters if p.is_floating_point()]
    return torch.stack(counts).sum() if counts else 0


_active: "StopSignals | None" = None


def stop_requested() -> int | None:
    """The signal that asked the running command to stop, if any; training loops call it after each
    step. None when no `StopSignals` is active (library use), so a loop never stops on its own."""
    return _active.requested if _active is not None else None


class StopSignals:
    """While entered (in the main thread), SIGTERM and SIGINT set `requested` instead of ending the
    process, and `stop_requested()` returns it. The training commands enter it around training."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # A second Ctrl-C stops at once. A second SIGTERM does not: SLURM signals every process of
        # the job, and the Snakemake job runner passes its own on, so one time limit brings several.
        if signum == signal.SIGINT and self.requested == signum:
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            signal.raise_signal(signum)
            return
        self.requested = self.requested or signum

    def __enter__(self) -> "StopSignals":
        global _active
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
            _active = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        if _active is self:
            _active = None
