"""The one exception family for bad user input.

The CLI prints these as a single clear line (exit status 2) instead of a traceback: the message
already names the file or config key at fault. Anything else is a bug and keeps its traceback.
"""


class InputError(ValueError):
    """Bad input (config, file, folder); the message names it."""
