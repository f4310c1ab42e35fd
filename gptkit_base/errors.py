"""The project's error family: what a user's input or settings can cause, as opposed to a bug.

Every error gptkit raises for something a user gave (a file, a setting, a run directory) derives from
GptkitError; each package keeps its own class (TokenizerError, CheckpointError, PrepareError, ...) so a
caller can catch one area's errors, and most also derive from the built-in class they were before
(ValueError, OSError, RuntimeError) so code that catches those keeps working. The CLI prints a
GptkitError or an OSError as one `Error:` line; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import os


class GptkitError(Exception):
    """Something a user's input, files or settings caused; the message says what and how to fix it."""


class ConfigError(GptkitError, ValueError):
    """A setting out of range, or settings that contradict each other (the message names the setting)."""


class NotUTF8Error(GptkitError, UnicodeError):
    """A user's file (or standard input) that is not UTF-8 text; the message names it and where it breaks."""

    @classmethod
    def reading(cls, name: str | os.PathLike, error: UnicodeDecodeError) -> NotUTF8Error:
        """The error for a whole file `name` whose decoding failed with `error`."""
        return cls(f"{os.fspath(name)}: not UTF-8 text ({error.reason}); save it as UTF-8")
