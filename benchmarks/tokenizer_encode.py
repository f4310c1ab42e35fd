"""Benchmark: encoding speed (MB/s) of our tokenizers against tiktoken and minbpe's loop.

    python benchmarks/tokenizer_encode.py              # the whole 49 MB bench corpus (a few minutes)
    python benchmarks/tokenizer_encode.py --mb 8       # its first 8 MB (prose only)

What is measured
----------------
1. The fast path: `tokenizer.encode(text)` (backend "auto") for GPT-2, GPT-4 and a
   32k tokenizer trained here on the corpus (GPT-4 pattern; trained once, cached in
   the temp dir), against tiktoken alone: the same tiktoken.Encoding called
   directly (`to_tiktoken()`; for GPT-2/GPT-4 that is the Encoding built from the
   bundled rank files). The ratio is what our layer costs. Target: >= 0.9x.
2. The pure-Python path, `encode(text, backend="python")`, for the same three
   tokenizers: a first pass with an empty chunk cache (cold) and a second (warm). Its
   ids are the independent check of the fast path's (which *is* tiktoken, so comparing
   it with tiktoken could not fail): they must be equal on the whole corpus.
3. minbpe's encode loop (minbpe.reference.encode: per chunk, merge the lowest-ranked
   pair until none is left; no cache), on a sample of --naive-mb MB taken half from
   the prose and half from the code, against our Python path from a cold cache on
   the same sample with the same 32k tokenizer. Target: >= 3x, and the same ids (so
   the Python path that checks the fast path is itself checked against minbpe's loop).

How
---
Everything runs in this one process, single-threaded, on one string per text
(tiktoken releases the GIL but runs one thread per call). The fast-path timings
are interleaved, best of --repeats, so that both sides see the same machine state.
MB = 10^6 bytes of UTF-8. Without the bench corpus nothing is measured. The exit
status is 0 only if every target was measured and met (harness.Verdict).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import time
from array import array
from collections.abc import Callable
from datetime import datetime

from harness import (  # first: it puts this checkout on sys.path
    BENCH_PARTS,
    CACHE_DIR,
    Verdict,
    prepare_corpus,
    read_exact,
    sample_text,
)

# isort: split
import minbpe
from minbpe import GPT2Tokenizer, GPT4Tokenizer, RegexTokenizer, Tokenizer, reference

TRAINED = CACHE_DIR / "trained32k.model"
TRAINED_VOCAB = 32768
FAST_TARGET = 0.9
PYTHON_TARGET = 3.0


def race(repeats: int, contenders: dict[str, Callable[[], list[int]]]) -> dict[str, tuple[float, list[int]]]:
    """Best time and ids of each contender, run in turn `repeats` times, each call after its own
    previous result is freed (so neither side pays for the other's garbage more than its own)."""
    best: dict[str, float] = dict.fromkeys(contenders, float("inf"))
    ids: dict[str, list[int]] = {}
    for _ in range(repeats):
        for name, fn in contenders.items():
            ids.pop(name, None)
            start = time.perf_counter()
            ids[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (best[name], ids[name]) for name in contenders}


def digest(ids: list[int]) -> str:
    return hashlib.sha256(array("q", ids).tobytes()).hexdigest()


def once(fn: Callable[[], list[int]]) -> tuple[float, list[int]]:
    return race(1, {"": fn})[""]


def trained_tokenizer(corpus: os.PathLike) -> Tokenizer:
    if not TRAINED.exists():
        tok = RegexTokenizer()
        tok.train_from_files([corpus], TRAINED_VOCAB)
        tok.save(str(TRAINED.with_suffix("")))
    return minbpe.load(TRAINED)


def mbps(n_bytes: int, seconds: float) -> str:
    return f"{n_bytes / 1e6 / seconds:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=None, help="Use only the first MB of the corpus.")
    parser.add_argument("--naive-mb", type=float, default=1.0, help="Size of minbpe's sample (default 1).")
    parser.add_argument("--repeats", type=int, default=3, help="Best of this many fast-path runs (default 3).")
    args = parser.parse_args()

    verdict = Verdict()
    path, how = prepare_corpus()
    if path is None:
        verdict.not_measured("every target (fast path vs tiktoken, Python path vs minbpe's loop)", how)
        return verdict.exit_status()
    text = read_exact(path)
    if args.mb is not None:
        text = text[: int(args.mb * 1e6)]
    n_bytes = len(text.encode("utf-8"))
    print(f"# Encoding benchmark, {datetime.now():%Y-%m-%d %H:%M}")
    print(f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs; "
          f"tiktoken {__import__('tiktoken').__version__}; corpus {n_bytes / 1e6:.1f} MB ({how})\n")
    start = time.perf_counter()
    trained = trained_tokenizer(path)
    print(f"32k tokenizer: {TRAINED} ({time.perf_counter() - start:.1f} s to train or load)\n")

    print("## 1. fast path (encode, backend auto) vs tiktoken alone, MB/s, best of", args.repeats)
    print("| tokenizer | tiktoken | ours | ratio | tokens |")
    print("|---|--:|--:|--:|--:|")
    tokenizers = {"GPT-2": GPT2Tokenizer(), "GPT-4": GPT4Tokenizer(), "trained 32k": trained}
    fast_ids = {}  # digests only: tens of millions of live ints would slow Python's GC in what follows
    for name, tok in tokenizers.items():
        encoding = tok.to_tiktoken()
        tok.encode("")  # build the lazy tables before timing
        contenders = {"tiktoken": lambda e=encoding: e.encode(text), "ours": lambda t=tok: t.encode(text)}
        timed = race(args.repeats, contenders)
        (theirs_s, _), (ours_s, ours) = timed["tiktoken"], timed["ours"]
        ratio = theirs_s / ours_s
        verdict.check(ratio >= FAST_TARGET, f"{name}: fast path {ratio:.2f}x tiktoken >= {FAST_TARGET}x")
        print(f"| {name} | {mbps(n_bytes, theirs_s)} | {mbps(n_bytes, ours_s)} | {ratio:.2f}x | {len(ours):,} |")
        fast_ids[name] = digest(ours)
        del timed, ours

    print("\n## 2. Python path (encode, backend python), MB/s")
    print("| tokenizer | cold cache | warm cache | same ids as the fast path |")
    print("|---|--:|--:|---|")
    fresh = {"GPT-2": GPT2Tokenizer, "GPT-4": GPT4Tokenizer, "trained 32k": lambda: minbpe.load(TRAINED)}
    for name, make in fresh.items():
        tok = make()
        tok.encode("", backend="python")  # the pretrained merges are recovered on first use (~1 s): not timed
        cold_s, ids = once(lambda t=tok: t.encode(text, backend="python"))
        warm_s, _ = once(lambda t=tok: t.encode(text, backend="python"))
        same = digest(ids) == fast_ids[name]
        del ids
        verdict.check(same, f"{name}: the fast path's ids equal the Python path's on all {n_bytes / 1e6:.1f} MB")
        print(f"| {name} | {mbps(n_bytes, cold_s)} | {mbps(n_bytes, warm_s)} | {'yes' if same else 'NO'} |")

    sample = "".join(sample_text(part, int(args.naive_mb * 1e6 / 2)) for part in BENCH_PARTS)
    sample_bytes = len(sample.encode("utf-8"))
    print(f"\n## 3. Python path vs minbpe's loop, 32k tokenizer, {sample_bytes / 1e6:.2f} MB sample (prose + code)")
    naive_s, naive = once(lambda: reference.encode(sample, trained.pattern, trained.merges))
    cold = minbpe.load(TRAINED)
    cold_s, ids = once(lambda: cold.encode(sample, backend="python"))
    ratio = naive_s / cold_s
    verdict.check(ids == naive, "the Python path's ids equal minbpe's loop's on the sample")
    verdict.check(ratio >= PYTHON_TARGET, f"Python path {ratio:.2f}x minbpe's loop >= {PYTHON_TARGET}x")
    print("| encoder | MB/s | vs minbpe |")
    print("|---|--:|--:|")
    print(f"| minbpe's loop | {mbps(sample_bytes, naive_s)} | 1.00x |")
    print(f"| ours, Python path (cold cache) | {mbps(sample_bytes, cold_s)} | {ratio:.2f}x |")

    return verdict.exit_status()


if __name__ == "__main__":
    sys.exit(main())
