"""Files written whole or not at all, and their digests: the file helpers every package shares.

A crash (or kill -9) in the middle of a save must never leave a half-written file under the
real name: a user would then load a truncated tokenizer, manifest or checkpoint. So every
writer in gptkit writes a temporary file in the same directory (NAME.xxxxxxxx.tmp), flushes
it to disk, and renames it over the target; os.replace is atomic, so a reader sees the old
file or the new one, never a mix. The temporary gets the permissions a plain open() would
(0666 less the umask), not mkstemp's private 0600.

This is the lowest layer that writes files (minbpe saves .model files), so the pipeline and
the GPT import these helpers from here.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; on a clean exit it replaces `path`.

    On an exception the temporary is removed and `path` is left as it was. `mode` is "wb" or
    "w" (text: UTF-8 with "\\n" line ends on every platform).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', not {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        text = {"encoding": "utf-8", "newline": "\n"} if mode == "w" else {}
        with os.fdopen(fd, mode, **text) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file so that a crash never leaves a half-written file at `path`."""
    with atomic_write(path, "w") as f:
        f.write(text)


def atomic_copy(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Copy `source` to `path`, atomically (a run's copy of its tokenizer, best.pt from latest.pt)."""
    with open(source, "rb") as src, atomic_write(path) as dst:
        while block := src.read(1 << 22):
            dst.write(block)


def file_sha256(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in 4 MiB blocks (shards can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()
