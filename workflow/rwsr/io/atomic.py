"""Atomic outputs: write to a temporary file beside the target, then rename.

An interrupted job leaves no file that looks finished, so Snakemake (or a resume)
never mistakes a half-written artifact for a complete one.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from rwsr.errors import OutputError


def current_umask() -> int:
    """The process's umask (reading it means setting it: put it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path with the target's suffix; rename it onto `target` on success.

    mkstemp creates the file with mode 0600 whatever the umask; it gets the mode a plain open()
    would have given it (0666 less the umask), so collaborators on a shared file system can read
    the results. A write that fails for lack of space or permission raises OutputError, naming
    the file and the reason."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
        os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
    except OSError as error:
        raise OutputError.from_os_error(target, error) from error
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as error:
        raise OutputError.from_os_error(target, error) from error
    except Exception as error:
        # Writers such as torch.save turn a full disk into a RuntimeError without the reason.
        if disk_full(target.parent):
            raise OutputError(f"cannot write {target}: no space left on device "
                              f"({target.parent} has {free_bytes(target.parent)} bytes free)") from error  # fmt: skip
        raise
    finally:
        tmp.unlink(missing_ok=True)


# Less free space than this after a failed write means the disk is what failed it.
DISK_FULL_BYTES = 1 << 20


def free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return -1


def disk_full(folder: Path) -> bool:
    return 0 <= free_bytes(folder) < DISK_FULL_BYTES


def write_text_atomic(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_csv_atomic(target: str | Path, fieldnames: Sequence[str], rows: Iterable[Mapping]) -> None:
    """A CSV with a header row, written atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(fieldnames))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(target, text.getvalue())
