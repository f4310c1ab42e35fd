"""What the benchmarks share: the 49 MB bench corpus (decompressed once and cached), and the verdict.

../shared/data/bench/{prose,code}.txt.xz are concatenated in that order into a temp
file, rewritten only when its size does not match the archives'.
"""

from __future__ import annotations

import lzma
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT.parent / "shared" / "data" / "bench"
BENCH_PARTS = ("prose.txt.xz", "code.txt.xz")  # concatenated in this order
CACHE_DIR = Path(tempfile.gettempdir()) / "gptkit-bench"
CORPUS = CACHE_DIR / "corpus.txt"
MB = 1 << 20


def read_exact(path: str | os.PathLike) -> str:
    """A UTF-8 file as it is on disk (no newline translation)."""
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def xz_uncompressed_size(path: Path) -> int:
    """The uncompressed size of a single-stream .xz file, from its index (no decompression).

    Anything else (several streams, padding) is decompressed to count.
    """
    data_size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(-12, os.SEEK_END)
        footer = f.read(12)
        index_size = (int.from_bytes(footer[4:8], "little") + 1) * 4
        if footer[10:] == b"YZ" and 24 + index_size <= data_size:
            f.seek(-12 - index_size, os.SEEK_END)
            index = f.read(index_size)
            n, pos = _varint(index, 1)
            blocks = total = 0
            for _ in range(n):
                unpadded, pos = _varint(index, pos)
                size, pos = _varint(index, pos)
                blocks, total = blocks + (unpadded + 3) // 4 * 4, total + size
            if index[0] == 0 and 12 + blocks + index_size + 12 == data_size:
                return total
    with lzma.open(path) as f:
        return sum(len(b) for b in iter(lambda: f.read(4 * MB), b""))


def prepare_corpus() -> tuple[Path | None, str]:
    """The bench corpus as one text file (cached), or None and why not."""
    parts = [BENCH_DIR / p for p in BENCH_PARTS]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        return None, f"bench data not found: {', '.join(missing)}"
    expected = sum(xz_uncompressed_size(p) for p in parts)
    if CORPUS.is_file() and CORPUS.stat().st_size == expected:
        return CORPUS, f"cached {CORPUS}"
    CORPUS.parent.mkdir(parents=True, exist_ok=True)
    tmp = CORPUS.with_name(f"{CORPUS.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        for p in parts:
            with lzma.open(p) as f:
                shutil.copyfileobj(f, out, 4 * MB)
    os.replace(tmp, CORPUS)
    return CORPUS, f"decompressed to {CORPUS}"


def sample_text(part: str, n_chars: int) -> str:
    """The first n_chars characters of one part of the corpus ("prose.txt.xz" or "code.txt.xz")."""
    with lzma.open(BENCH_DIR / part, "rt", encoding="utf-8", newline="") as f:
        return f.read(n_chars)


def verdict(failures: list[str]) -> int:
    """Print the missed targets (or that all were met); the exit status: 1 if any was missed."""
    print()
    for failure in failures:
        print(f"FAIL {failure}")
    print("all targets met" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures else 0
