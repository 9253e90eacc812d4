"""The exception families the user can act on.

The CLI prints these as a single clear line instead of a traceback: the message already names
the file or config key at fault. Bad input exits with status 2, an output that cannot be written
(full disk, no permission) with OUTPUT_ERROR_EXIT. Anything else is a bug and keeps its traceback.
"""

import errno
import os
import signal

# EX_CANTCREAT from sysexits.h: "cannot create (user) output file".
OUTPUT_ERROR_EXIT = 73
# EX_TEMPFAIL from sysexits.h, "try again later": training stopped on SIGTERM/SIGINT after writing
# its checkpoint, and the same command resumes it.
INTERRUPTED_EXIT = 75
# Why a write failed, in words, for the errors the user (not the code) can fix.
OUTPUT_REASONS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                  errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                  errno.EROFS: "read-only file system"}  # fmt: skip


class InputError(ValueError):
    """Bad input (config, file, folder); the message names it."""


class OutputError(OSError):
    """An output file cannot be written; the message names it and says why."""

    @classmethod
    def from_os_error(cls, target: "os.PathLike[str] | str", error: OSError) -> "OutputError":
        reason = OUTPUT_REASONS.get(error.errno, error.strerror or str(error))
        return cls(error.errno, f"cannot write {target}: {reason}")

    def __str__(self) -> str:
        return self.strerror or super().__str__()


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing a checkpoint; re-running resumes from it."""

    def __init__(self, stage: str, signum: int, step: int, checkpoint: str):
        self.stage, self.signum, self.step, self.checkpoint = stage, signum, step, checkpoint
        super().__init__(f"{stage} stopped by {signal.Signals(signum).name} after step {step}; checkpoint written "
                         f"to {checkpoint}; run the same command again to resume")  # fmt: skip
