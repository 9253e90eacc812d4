"""Host syncs: counting them on CPU, where torch.cuda.set_sync_debug_mode cannot see them, and the
two places a training step meets the host (a batch going in, the logged losses coming out).

A training step should queue work on the device and return: every `.item()`, `bool(tensor)`,
`.tolist()` or `.cpu()` makes the host wait for the device. On a CPU machine nothing waits, so
the bench (bench/bench_sr.py) and the tests count the calls that would wait on a GPU by patching
those Tensor methods. Only calls made outside torch count: torch's own CPU-side bookkeeping (Adam
reads its CPU step counters with `.item()`) costs no sync on a GPU either.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch

# The Tensor methods that copy a device value to the host (numpy() needs a CPU tensor, so cpu() covers it;
# f"{loss:.4g}" goes through __format__, which calls item() from inside torch).
SYNC_METHODS = ("item", "tolist", "cpu", "__bool__", "__float__", "__int__", "__format__")
_TORCH_DIR = str(Path(torch.__file__).parent)


@contextmanager
def count_host_syncs() -> Iterator[Counter]:
    """While entered, counts (per method name) the calls of SYNC_METHODS made from outside torch."""
    counts: Counter = Counter()
    originals = {name: getattr(torch.Tensor, name) for name in SYNC_METHODS}

    def counting(name: str, original):
        def method(self, *args, **kwargs):
            if not sys._getframe(1).f_code.co_filename.startswith(_TORCH_DIR):
                counts[name] += 1
            return original(self, *args, **kwargs)

        return method

    for name, original in originals.items():
        setattr(torch.Tensor, name, counting(name, original))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def to_device(tensor: torch.Tensor, device: torch.device,
              memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:  # fmt: skip
    """A host batch on the device. non_blocking: from page-locked memory the copy overlaps the
    step instead of stalling the host; from ordinary memory (and on CPU) it is a plain copy."""
    return tensor.to(device, non_blocking=True).contiguous(memory_format=memory_format)


def to_host(values: Mapping[str, torch.Tensor | float]) -> dict[str, float]:
    """Python floats of a dict of device scalars (a step's loss parts), in one sync: the loops call
    it only when they log. float32 first, so mixed bf16/float32 parts stack (both convert exactly)."""
    tensors = [value.detach().float().reshape(()) for value in values.values() if isinstance(value, torch.Tensor)]
    fetched = iter(torch.stack(tensors).tolist() if tensors else [])
    return {key: next(fetched) if isinstance(value, torch.Tensor) else float(value) for key, value in values.items()}
