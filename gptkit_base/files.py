"""Files written whole or not at all, and their digests: the file helpers every package shares.

A crash (or kill -9) in the middle of a save must never leave a half-written file under the
real name: a user would then load a truncated tokenizer, manifest or checkpoint. So every
writer in gptkit writes a temporary file in the same directory (NAME.xxxxxxxx.tmp), flushes
it to disk, and renames it over the target; os.replace is atomic, so a reader sees the old
file or the new one, never a mix. The temporary gets the permissions a plain open() would
(0666 less the umask), not mkstemp's private 0600.

A directory that a run writes (prepare's data directory, a training run's) has one writer at a
time: `exclusive_directory` holds the kernel's lock (flock) on a lock file in it, so a second
writer is refused at once, naming the first one's pid, and a writer that is killed never leaves
a stale lock behind.

The tokenizers, the pipeline, the GPT and the playground all write files, so these helpers live in
the ground floor that none of them owns.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import GptkitError, NotUTF8Error

try:
    import fcntl
except ImportError:  # Windows: no flock; exclusive_directory then only creates and cleans up
    fcntl = None

LOCK_FILE = ".gptkit.lock"


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


def read_utf8(path: str | os.PathLike) -> str:
    """A whole UTF-8 text file (a metrics file, a run's record); bytes that are not UTF-8 are a NotUTF8Error
    naming the file, not a bare UnicodeDecodeError."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise NotUTF8Error.reading(path, e) from None


def require_new_directory(path: str | os.PathLike) -> None:
    """Refuse a path that is a file or a directory with anything in it: an export never replaces files."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path}: exists and is not an empty directory; give a new --output")


class DirectoryBusy(GptkitError, OSError):
    """Another process is writing the directory (the message names its pid)."""


@contextmanager
def exclusive_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Be the one writer of directory `path` (made with its parents when missing) while the block runs.

    A second writer gets DirectoryBusy at once. On exit the lock file goes, and so do the
    directories this call made that the block left empty (a run that failed before writing
    anything leaves no empty directory behind).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: exists and is not a directory; give a directory")
    created = [d for d in (path, *path.parents) if not d.exists()]  # deepest first
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK_FILE
    fd = _lock(lock, path)
    try:
        yield path
    finally:
        os.unlink(lock)  # before unlocking: whoever opens the name next makes a new file, and _lock checks that
        os.close(fd)
        for directory in created:  # the ones this call made, deepest first, while they are empty
            if any(directory.iterdir()):
                break
            directory.rmdir()


def _lock(lock: Path, directory: Path) -> int:
    """An open descriptor of `lock`, locked; the holder's pid written in it."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is None:
            break
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DirectoryBusy(
                f"{directory} is in use by another gptkit process (pid {holder}); wait for it to finish, "
                "or give another directory"
            ) from None
        try:
            current = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)  # the previous holder removed the file between our open and our lock: take the new one
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
