"""Make a bench corpus from texts every machine has: prose.txt.xz and code.txt.xz for $GPTKIT_BENCH_DIR.

    python benchmarks/make_corpus.py --out bench                       # ~17.5 MB prose + ~31.5 MB code, seconds
    python benchmarks/make_corpus.py --out bench --prose ~/books       # your own prose instead of data/'s texts
    GPTKIT_BENCH_DIR=bench python benchmarks/tokenizer_train.py        # then any benchmark that needs a corpus

The tokenizer, encoding and prepare figures of docs/benchmarks.md are measured on a corpus
that is not shipped: 17.5 MB of English prose (news, movie reviews, web text, speeches,
Shakespeare) and 31.5 MB of Python (the CPython 3.11 standard library). This script makes
one of the same two kinds and sizes from sources a clone always has:

- code (code.txt.xz): the .py files of the running Python's standard library (installed
  packages under site-packages or dist-packages are left out), or of --code directories;
- prose (prose.txt.xz): the texts shipped in data/ (Tiny Shakespeare and the Taylor Swift
  article, 1.3 MB), or the files and directories given with --prose (any UTF-8 text; a few
  dozen books make prose of the shared corpus's size).

A part is its files in sorted path order (directories walked recursively, hidden entries
skipped, files that are not UTF-8 left out and counted), one blank line between files,
repeated while it is shorter than its size (--prose-mb, --code-mb; MB = 10^6 bytes) and
cut at the last line break before it. Repeated text holds fewer distinct words than real
text of its size, which makes tokenizer training faster: docs/benchmarks.md compares the
figures. The same sources give the same bytes: the sha256 printed for each part and for
the corpus (prose then code, the text the benchmarks read) identifies it; the standard
library differs from one Python version to the next, and the .xz bytes also depend on
the liblzma version.
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import sys
import sysconfig
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gptkit_base.files import atomic_write
from harness import BENCH_PARTS, ROOT

MB = 1e6
SHIPPED_PROSE = (ROOT / "data" / "tinyshakespeare.txt", ROOT / "data" / "taylorswift.txt")
INSTALLED = {"site-packages", "dist-packages"}  # third-party code inside a Python tree is not its own
XZ_PRESET = 1  # 49 MB in a few seconds; the corpus is read once and cached decompressed (harness.py)


@dataclass
class Part:
    name: str
    text: bytes
    files: int
    not_utf8: int
    distinct: int  # bytes before repetition


def files_in(paths: Sequence[Path], suffix: str | None) -> list[Path]:
    """The files named and those under the directories named, in sorted path order (suffix: directories only)."""
    found = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            inside = [f.relative_to(path).parts for f in path.rglob("*")
                      if f.is_file() and (suffix is None or f.suffix == suffix)]
            found += [path.joinpath(*p) for p in sorted(inside) if not any(n[0] == "." or n in INSTALLED for n in p)]
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return found


def build_part(name: str, files: Sequence[Path], size_mb: float) -> Part:
    texts, not_utf8 = [], 0
    for f in files:
        data = f.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8 += 1
            continue
        if data:
            texts.append(data if data.endswith(b"\n") else data + b"\n")
    if not texts:
        raise ValueError(f"{name}: no UTF-8 text in {len(files)} files")
    once = b"\n".join(texts)
    size = int(size_mb * MB)
    text = b"\n".join([once] * -(-size // (len(once) + 1)))
    if len(text) > size:
        text = text[: text.rindex(b"\n", 0, size) + 1]
    return Part(name, text, len(texts), not_utf8, len(once))


def describe(part: Part, sources: str) -> str:
    left_out = f", {part.not_utf8:,} not UTF-8 left out" if part.not_utf8 else ""
    times = len(part.text) / part.distinct
    shape = f"repeated {times:.1f}x" if times > 1 else "cut" if times < 1 else "whole"
    return (f"{part.name}: {part.files:,} files from {sources}{left_out}: {part.distinct / MB:.2f} MB, {shape} "
            f"to {len(part.text) / MB:.2f} MB; sha256 {hashlib.sha256(part.text).hexdigest()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="Directory for prose.txt.xz and code.txt.xz.")
    parser.add_argument("--prose", action="append", type=Path,
                        help="A text file or a directory of them (repeatable) [default: data/'s two texts].")
    parser.add_argument("--code", action="append", type=Path,
                        help="A directory of .py files or a file (repeatable) [default: this Python's stdlib].")
    parser.add_argument("--prose-mb", type=float, default=17.5, help="Size of the prose part [default: 17.5].")
    parser.add_argument("--code-mb", type=float, default=31.5, help="Size of the code part [default: 31.5].")
    parser.add_argument("--overwrite", action="store_true", help="Replace the corpus already in OUT.")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    prose = args.prose or list(SHIPPED_PROSE)
    code = args.code or [Path(sysconfig.get_path("stdlib"))]
    targets = [args.out / name for name in BENCH_PARTS]
    try:
        existing = [str(t) for t in targets if t.exists()]
        if existing and not args.overwrite:
            raise FileExistsError(f"{', '.join(existing)}: exists; give --overwrite to replace it")
        parts = [build_part("prose", files_in(prose, None), args.prose_mb),
                 build_part("code", files_in(code, ".py"), args.code_mb)]
    except (OSError, ValueError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    for part, sources in zip(parts, (prose, code), strict=True):
        print(describe(part, ", ".join(map(str, sources))))
    corpus = b"".join(part.text for part in parts)  # BENCH_PARTS' order, as the harness concatenates them
    print(f"corpus (prose then code, as the benchmarks read it): {len(corpus) / MB:.2f} MB; "
          f"sha256 {hashlib.sha256(corpus).hexdigest()}")
    args.out.mkdir(parents=True, exist_ok=True)
    for part, target in zip(parts, targets, strict=True):
        with atomic_write(target) as f:
            f.write(lzma.compress(part.text, preset=XZ_PRESET))
    print(f"wrote {' and '.join(map(str, targets))} in {time.perf_counter() - start:.1f} s; "
          f"use it with GPTKIT_BENCH_DIR={args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
