"""Benchmark: byte-level BPE *training* speed and memory of our trainer against anchors.

    python benchmarks/tokenizer_train.py                # all three workloads (a few minutes)
    python benchmarks/tokenizer_train.py --skip-big     # workload 1 only (about a minute)
    python benchmarks/tokenizer_train.py --workers 4    # processes / threads for every trainer

What is measured
----------------
1. data/taylorswift.txt (185 kB), vocab 512: our RegexTokenizer (GPT-4 pattern) and
   BasicTokenizer (no split), minbpe's naive training loop (minbpe.reference.train, the
   anchor; with and without the pattern), HF `tokenizers` and `rustbpe`.
2. The 49 MB bench corpus (prose.txt.xz and code.txt.xz from $GPTKIT_BENCH_DIR, see
   harness.py, decompressed and concatenated into a cached temp file), GPT-4 pattern, vocab 32768:
   ours (train_from_files), HF tokenizers, rustbpe. The naive loop is not run: it
   rescans the corpus for each of the 32,512 merges.
3. Bytes per token, on held-out text, of the tokenizers trained in 2: taylorswift.txt
   (prose not in the corpus) and the .py files of the installed `click` package.

How
---
Every trainer runs in a fresh subprocess (this script, re-invoked with the hidden
option --one), so that its peak RSS is its own. The child imports what it needs, then
times (time.perf_counter) the training call including reading the input files but not
Python start-up or imports, and reads peak RSS as ru_maxrss(RUSAGE_SELF) +
ru_maxrss(RUSAGE_CHILDREN). Only then does it encode the held-out texts. It prints
one JSON line, which the parent collects into Markdown tables and PASS/FAIL lines
for the targets; every ratio compares figures measured in the same run.

The anchors are set up for the same job: the GPT-4 split pattern, a byte-level
alphabet of 256 tokens, and a vocabulary size that counts those 256 tokens. All
three see the same ~1 MB blocks (cut only at a newline between two non-space
characters, where no chunk of the pattern can span), so their chunks are exactly
the pattern's.
Rust anchors get RAYON_NUM_THREADS = --workers.

A target whose trainer or anchor is not installed or crashed, or whose corpus is
missing, is not measured: never a pass. The exit status is 0 only if every target
was measured and met (harness.Verdict); --skip-big leaves workloads 2 and 3 out.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness import (
    ROOT,
    TreeRssSampler,
    Verdict,
    git_commit,
    machine,
    maxrss_mb,
    now,
    package_version,
    prepare_corpus,
    print_result,
    read_exact,
    run_child,
)

# isort: split
from minbpe import reference

if TYPE_CHECKING:
    from minbpe import Tokenizer

TAYLOR = ROOT / "data" / "taylorswift.txt"
SMALL_VOCAB = 512
BIG_VOCAB = 32768

# targets
SMALL_WALL_TARGET_S = 0.5
BIG_RSS_TARGET_MB = 2048  # 2 GiB
BPT_TOLERANCE = 0.01


# ---------------------------------------------------------------------------
# held-out texts


def click_source() -> str | None:
    """The .py files of the installed click package, in sorted name order, concatenated."""
    spec = importlib.util.find_spec("click")
    if spec is None or spec.origin is None:
        return None
    pkg = Path(spec.origin).parent
    return "".join(read_exact(p) for p in sorted(pkg.glob("*.py"), key=lambda p: p.name))


def held_out_texts() -> dict[str, str]:
    texts = {"taylorswift": read_exact(TAYLOR)}
    code = click_source()
    if code is not None:
        texts["code"] = code
    return texts


# ---------------------------------------------------------------------------
# the trainers (run in the child); each returns what it learned


@dataclass
class Trained:
    """A trained tokenizer: how to count tokens, and its learned tokens in rank order."""

    count_tokens: Callable[[str], int]
    learned: list[bytes]  # the tokens after the 256 bytes, in the order they were learned
    info: dict[str, object] = field(default_factory=dict)


def _ours(path: str, vocab_size: int, workers: int, basic: bool) -> Trained:
    from minbpe import BasicTokenizer, RegexTokenizer

    tok = BasicTokenizer() if basic else RegexTokenizer()
    stats = tok.train_from_files([path], vocab_size, workers=workers)
    learned = [tok.vocab[i] for i in range(256, 256 + len(tok.merges))]
    info = {
        "counting s": round(stats.seconds_counting, 3),
        "merging s": round(stats.seconds_merging, 3),
        "distinct chunks": stats.distinct_chunks,
    }
    return Trained(lambda text: len(tok.encode_ordinary(text)), learned, info)


def train_ours_regex(path: str, vocab_size: int, workers: int) -> Trained:
    return _ours(path, vocab_size, workers, basic=False)


def train_ours_basic(path: str, vocab_size: int, workers: int) -> Trained:
    return _ours(path, vocab_size, workers, basic=True)


def _tokenizer_from_merges(merges: list[tuple[int, int]], pattern: str) -> Tokenizer:
    """One of our tokenizers holding the given merges, loaded from a minbpe .model file."""
    import minbpe

    lines = ["minbpe v1", pattern, "0", *(f"{a} {b}" for a, b in merges)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "naive.model")
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
        return minbpe.load(path)


def _naive(path: str, vocab_size: int, pattern: str) -> Trained:
    merges = reference.train(reference.chunks(read_exact(path), pattern), vocab_size - 256)
    # encoding is not what is measured: the anchor's merges go into our encoder
    tok = _tokenizer_from_merges(merges, pattern)
    learned = [tok.vocab[i] for i in range(256, 256 + len(merges))]
    return Trained(lambda text: len(tok.encode_ordinary(text)), learned)


def train_naive_regex(path: str, vocab_size: int, workers: int) -> Trained:
    from minbpe import GPT4_SPLIT_PATTERN

    return _naive(path, vocab_size, GPT4_SPLIT_PATTERN)


def train_naive_basic(path: str, vocab_size: int, workers: int) -> Trained:
    return _naive(path, vocab_size, "")


def hf_split_pattern() -> str:
    """The GPT-4 pattern as HF's Oniguruma engine must be given it.

    Onig accepts the pattern as is, but under its Ruby syntax only `?+`, `*+` and
    `++` are possessive: `\\p{N}{1,3}+` means "one or more runs of 1-3 digits",
    i.e. any run of digits, so "1234567" would be one chunk instead of
    "123", "456", "7". Plain `\\p{N}{1,3}` is equivalent here (nothing follows it in
    its branch, so there is nothing to backtrack into). With it, HF's Split gives
    exactly regex.findall's chunks on the corpus and on both held-out texts.
    """
    from minbpe import GPT4_SPLIT_PATTERN

    possessive = r"\p{N}{1,3}+"
    assert possessive in GPT4_SPLIT_PATTERN
    return GPT4_SPLIT_PATTERN.replace(possessive, r"\p{N}{1,3}")


def _hf_byte_decoder() -> dict[str, int]:
    """HF's byte-level alphabet (GPT-2's bytes_to_unicode), inverted: char -> byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    decoder = {chr(b): b for b in printable}
    decoder.update({chr(256 + i): b for i, b in enumerate(others)})
    return decoder


def train_hf(path: str, vocab_size: int, workers: int) -> Trained:
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(hf_split_pattern()), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
        special_tokens=[],
    )
    from minbpe.text import read_blocks

    # the same ~1 MB blocks as ours and rustbpe (HF's own file reader goes line by line,
    # so it could never learn a token that spans a newline, such as ")\n\n")
    tok.train_from_iterator(read_blocks(path), trainer)
    decoder = _hf_byte_decoder()
    by_id = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    learned = [bytes(decoder[c] for c in s) for s, i in by_id if i >= 256]
    return Trained(lambda text: len(tok.encode(text).ids), learned, {"vocab": tok.get_vocab_size()})


def train_rustbpe(path: str, vocab_size: int, workers: int) -> Trained:
    import rustbpe

    from minbpe import GPT4_SPLIT_PATTERN
    from minbpe.text import read_blocks

    tok = rustbpe.Tokenizer()
    info: dict[str, object] = {}
    try:
        tok.train_from_iterator(read_blocks(path), vocab_size, pattern=GPT4_SPLIT_PATTERN)
    except (ValueError, RuntimeError) as e:  # not seen with rustbpe 0.1.0; kept for other versions
        info["note"] = f"rejected the GPT-4 pattern ({e}); trained with its default pattern"
        tok = rustbpe.Tokenizer()
        tok.train_from_iterator(read_blocks(path), vocab_size)
    if tok.get_pattern() != GPT4_SPLIT_PATTERN:
        info["pattern"] = "differs from ours"
    ranks = sorted(tok.get_mergeable_ranks(), key=lambda kv: kv[1])
    learned = [b for b, rank in ranks if rank >= 256]
    return Trained(lambda text: len(tok.encode(text)), learned, info)


TRAINERS: dict[str, tuple[str, Callable[[str, int, int], Trained]]] = {
    # name: (module that must be importable, trainer)
    "ours (regex)": ("minbpe", train_ours_regex),
    "ours (basic)": ("minbpe", train_ours_basic),
    "naive (regex)": ("minbpe", train_naive_regex),
    "naive (basic)": ("minbpe", train_naive_basic),
    "HF tokenizers": ("tokenizers", train_hf),
    "rustbpe": ("rustbpe", train_rustbpe),
}


# ---------------------------------------------------------------------------
# the child: train one, measure, report


def run_one(name: str, path: str, vocab_size: int, workers: int) -> dict[str, object]:
    module, train = TRAINERS[name]
    importlib.import_module("minbpe")  # every child carries the same import baseline
    importlib.import_module(module)
    baseline_mb = maxrss_mb(resource.RUSAGE_SELF)
    with TreeRssSampler() as sampler:
        t0 = time.perf_counter()
        trained = train(path, vocab_size, workers)
        wall = time.perf_counter() - t0
    rss_self, rss_children = maxrss_mb(resource.RUSAGE_SELF), maxrss_mb(resource.RUSAGE_CHILDREN)
    texts = held_out_texts()
    bpt = {k: len(t.encode("utf-8")) / trained.count_tokens(t) for k, t in texts.items()}
    return {
        "name": name,
        "wall_s": wall,
        "rss_mb": rss_self + rss_children,
        "rss_self_mb": rss_self,
        "rss_children_mb": rss_children,
        "baseline_mb": baseline_mb,
        "tree_peak_mb": sampler.peak_mb,
        "bytes_per_token": bpt,
        "learned": [t.hex() for t in trained.learned],
        "info": trained.info,
    }


# ---------------------------------------------------------------------------
# the parent: run each trainer in its own process


@dataclass
class Workload:
    title: str
    path: Path
    vocab_size: int
    trainers: list[str]
    skipped: dict[str, str]  # trainer -> why it is not run
    results: dict[str, dict] = field(default_factory=dict)


def anchor_skips() -> dict[str, str]:
    skips = {}
    for name, module in (("HF tokenizers", "tokenizers"), ("rustbpe", "rustbpe")):
        if importlib.util.find_spec(module) is None:
            skips[name] = f"`{module}` is not importable (pip install -e '.[bench]')"
    return skips


def run_trainer(name: str, workload: Workload, workers: int) -> dict:
    """One trainer on one workload, in a fresh process."""
    env = {**os.environ, "RAYON_NUM_THREADS": str(workers), "TOKENIZERS_PARALLELISM": "true"}
    args = [name, str(workload.path), str(workload.vocab_size), "--workers", str(workers)]
    return {"name": name, **run_child(__file__, args, env)}


def run_workload(workload: Workload, workers: int) -> None:
    for name in workload.trainers:
        if name in workload.skipped:
            continue
        print(f"  running {name} ...", file=sys.stderr, flush=True)
        workload.results[name] = run_trainer(name, workload, workers)


def _ok(result: dict | None) -> bool:
    return result is not None and "error" not in result


def _fmt_s(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def _fmt_bpt(result: dict, text: str) -> str:
    value = result["bytes_per_token"].get(text)
    return "n/a" if value is None else f"{value:.4f}"


def table_row(name: str, workload: Workload) -> str:
    if name in workload.skipped:
        return f"| {name} | skipped: {workload.skipped[name]} | | | | |"
    r = workload.results[name]
    if not _ok(r):
        return f"| {name} | failed: {r['error']} | | | | |"
    hf = workload.results.get("HF tokenizers")
    ratio = f"{r['wall_s'] / hf['wall_s']:.2f}" if _ok(hf) else "n/a"
    cells = [name, _fmt_s(r["wall_s"]), f"{r['rss_mb']:,.0f}", _fmt_bpt(r, "taylorswift"), _fmt_bpt(r, "code"), ratio]
    return "| " + " | ".join(cells) + " |"


def print_table(workload: Workload) -> None:
    print(f"\n### {workload.title}\n")
    print("| trainer | wall s | peak RSS MB | bytes/token (taylorswift) | bytes/token (code) | vs HF time ratio |")
    print("|---|--:|--:|--:|--:|--:|")
    for name in workload.trainers:
        print(table_row(name, workload))


def _reference(name: str) -> str:
    return "ours (basic)" if "basic" in name else "ours (regex)"


def vocab_comparison(name: str, workload: Workload) -> str | None:
    """How the learned tokens of a trainer compare with ours (same pattern or none)."""
    ref = workload.results.get(_reference(name))
    r = workload.results.get(name)
    if name == _reference(name) or not (_ok(ref) and _ok(r)):
        return None
    mine, theirs = r["learned"], ref["learned"]
    if mine == theirs:
        return f"{name}: identical to {_reference(name)}, token for token in learned order"
    shared = len(set(mine) & set(theirs))
    return f"{name}: {len(mine):,} learned tokens, {shared:,} of them also learned by {_reference(name)}"


def newline_tokens(workload: Workload) -> str:
    """How many learned tokens hold a newline before their last byte (HF's line-by-line reading allows none)."""
    counts = []
    for name, r in workload.results.items():
        if _ok(r):
            n = sum(b"\n" in bytes.fromhex(t)[:-1] for t in r["learned"])
            counts.append(f"{name} {n:,}")
    return "; ".join(counts)


def print_notes(workload: Workload, workers: int) -> None:
    print()
    ok = {n: r for n, r in workload.results.items() if _ok(r)}
    if ok:
        base = max(r["baseline_mb"] for r in ok.values())
        print(f"- Every child's RSS includes ~{base:.0f} MB of interpreter + minbpe/numpy/regex imports.")
    for name, r in ok.items():
        if r["info"]:
            print(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in r["info"].items()))
        line = vocab_comparison(name, workload)
        if line:
            print(f"- learned vocabulary: {line}")
    if ok:
        print(f"- learned tokens with a newline before their last byte: {newline_tokens(workload)}")
    ours = ok.get("ours (regex)")
    if ours and ours["rss_children_mb"] > 0:
        bound = ours["rss_self_mb"] + workers * ours["rss_children_mb"]
        sampled = "n/a (no psutil)" if ours["tree_peak_mb"] is None else f"{ours['tree_peak_mb']:,.0f} MB"
        print(
            f"- ours (regex) memory: main process {ours['rss_self_mb']:,.0f} MB + largest worker "
            f"{ours['rss_children_mb']:,.0f} MB = the table's figure. RUSAGE_CHILDREN reports the largest "
            f"single worker, so with {workers} workers alive at once the strict upper bound is "
            f"{bound:,.0f} MB; the sampled peak of the whole process tree's summed RSS was {sampled} "
            "(RSS counts copy-on-write pages shared with the parent once per process, so sums overstate)."
        )


def print_heldout(workload: Workload) -> None:
    print("\n### 3. Bytes/token on held-out text (tokenizers of workload 2)\n")
    ours = workload.results.get("ours (regex)")
    anchors = [a for a in ("HF tokenizers", "rustbpe") if _ok(workload.results.get(a))]
    header = ["held-out text", "ours", *anchors, *(f"ours / {a}" for a in anchors)]
    print("| " + " | ".join(header) + " |")
    print("|---" + "|--:" * (len(header) - 1) + "|")
    for text in ("taylorswift", "code"):
        mine = ours["bytes_per_token"].get(text)
        if mine is None:
            print(f"| {text} |" + " n/a |" * (len(header) - 1))
            continue
        theirs = [workload.results[a]["bytes_per_token"][text] for a in anchors]
        cells = [text, f"{mine:.4f}", *(f"{t:.4f}" for t in theirs), *(f"{mine / t:.4f}" for t in theirs)]
        print("| " + " | ".join(cells) + " |")


# ---------------------------------------------------------------------------
# targets


def _why(w: Workload, name: str) -> str:
    """Why a trainer gave no figures: not run (its module is missing) or crashed."""
    result = w.results.get(name)
    if result is None:
        return f"{name} not run: {w.skipped.get(name, 'unknown')}"
    return f"{name} failed: {result['error']}"


def small_targets(w: Workload, t: Verdict) -> None:
    ours = w.results.get("ours (regex)")
    if _ok(ours):
        t.check(
            ours["wall_s"] <= SMALL_WALL_TARGET_S,
            f"workload 1: ours (regex) wall {ours['wall_s']:.3f} s <= {SMALL_WALL_TARGET_S} s",
        )
    else:
        t.not_measured(f"workload 1: ours (regex) <= {SMALL_WALL_TARGET_S} s", _why(w, "ours (regex)"))
    for kind in ("regex", "basic"):
        mine, oracle = w.results.get(f"ours ({kind})"), w.results.get(f"naive ({kind})")
        what = f"workload 1: ours ({kind}) learns the naive oracle's merges"
        if _ok(mine) and _ok(oracle):
            t.check(mine["learned"] == oracle["learned"], what)
        else:
            t.not_measured(what, _why(w, f"ours ({kind})" if not _ok(mine) else f"naive ({kind})"))


def big_targets(w: Workload, t: Verdict) -> None:
    ours, hf = w.results.get("ours (regex)"), w.results.get("HF tokenizers")
    if not _ok(ours):
        t.not_measured("workloads 2 and 3: every target", _why(w, "ours (regex)"))
        return
    if _ok(hf):
        ratio = ours["wall_s"] / hf["wall_s"]
        t.check(ratio <= 1, f"workload 2: ours wall {ours['wall_s']:.2f} s <= HF {hf['wall_s']:.2f} s ({ratio:.2f}x)")
    else:
        t.not_measured("workload 2: ours wall <= HF wall", _why(w, "HF tokenizers"))
    t.check(
        ours["rss_mb"] <= BIG_RSS_TARGET_MB,
        f"workload 2: ours peak RSS {ours['rss_mb']:,.0f} MB <= {BIG_RSS_TARGET_MB:,} MB",
    )
    for anchor in ("HF tokenizers", "rustbpe"):
        for text in ("taylorswift", "code"):
            bpt_target(w, anchor, text, t)


def bpt_target(w: Workload, name: str, text: str, t: Verdict) -> None:
    what = f"workload 3: ours bytes/token on {text} within {BPT_TOLERANCE:.0%} of {name}"
    anchor = w.results.get(name)
    mine = w.results["ours (regex)"]["bytes_per_token"].get(text)
    if not _ok(anchor) or mine is None:
        t.not_measured(what, _why(w, name) if mine is not None else "held-out text not available")
        return
    theirs = anchor["bytes_per_token"][text]
    better = "ours fewer tokens" if mine > theirs else "ours more tokens" if mine < theirs else "equal"
    t.check(
        abs(mine / theirs - 1) <= BPT_TOLERANCE,
        f"{what}: {mine:.4f} vs {theirs:.4f} ({mine / theirs:.4f}, {better})",
    )


# ---------------------------------------------------------------------------
# main


def print_header(workers: int) -> None:
    print("## BPE training benchmark\n")
    print(f"- date: {now()}")
    print(f"- machine: {machine()}")
    print(f"- python {platform.python_version()}; workers / rayon threads: {workers}")
    print(f"- gptkit {git_commit()}; tokenizers {package_version('tokenizers')}; rustbpe {package_version('rustbpe')}")


def print_method_notes() -> None:
    print("\n### Notes\n")
    print("- wall s: the training call in a fresh process, input file reading included, start-up and imports not.")
    print(
        "- peak RSS MB (MiB): ru_maxrss(RUSAGE_SELF) + ru_maxrss(RUSAGE_CHILDREN) of that process, read right "
        "after training. For our trainer (worker processes) the sum is an upper bound on the memory the parent "
        "and any one worker held at the same time; see the per-workload notes for all workers together."
    )
    print(
        "- Every trainer sees the same ~1 MB blocks of text (HF via train_from_iterator: its file reader "
        "goes line by line and could not learn tokens that span a newline). HF gets the GPT-4 pattern with "
        "`\\p{N}{1,3}+` written `\\p{N}{1,3}`: Oniguruma reads `{n,m}+` as a repetition, not as possessive."
    )
    print("- Workload 1 bytes/token on taylorswift is on the training text itself; on code it is held out.")


def small_workload(skips: dict[str, str]) -> Workload:
    names = ["ours (regex)", "ours (basic)", "naive (regex)", "naive (basic)", "HF tokenizers", "rustbpe"]
    return Workload(f"1. taylorswift.txt, vocab {SMALL_VOCAB}", TAYLOR, SMALL_VOCAB, names, dict(skips))


def big_workload(path: Path, skips: dict[str, str]) -> Workload:
    naive_why = f"O(corpus) per merge: {BIG_VOCAB - 256:,} passes over 49 MB in Python would take hours"
    names = ["ours (regex)", "naive (regex)", "HF tokenizers", "rustbpe"]
    title = f"2. bench corpus ({path.stat().st_size / 1e6:.1f} MB: prose + code), GPT-4 pattern, vocab {BIG_VOCAB}"
    return Workload(title, path, BIG_VOCAB, names, {**skips, "naive (regex)": naive_why})


def main_parent(args: argparse.Namespace) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # tables and progress lines in order
    print_header(args.workers)
    skips = anchor_skips()
    targets = Verdict()
    small = small_workload(skips)
    run_workload(small, args.workers)
    print_table(small)
    print_notes(small, args.workers)
    small_targets(small, targets)
    if args.skip_big:
        print("\nWorkloads 2 and 3 skipped (--skip-big).")
    else:
        run_big(skips, args.workers, targets)
    print_method_notes()
    return targets.exit_status()


def run_big(skips: dict[str, str], workers: int, targets: Verdict) -> None:
    print("  preparing the bench corpus ...", file=sys.stderr, flush=True)
    path, how = prepare_corpus()
    if path is None:
        print(f"\nWorkloads 2 and 3 not measured: {how}.")
        targets.not_measured("workloads 2 and 3: every target", how)
        return
    big = big_workload(path, skips)
    run_workload(big, workers)
    print_table(big)
    print(f"\n- corpus: {how}")
    print_notes(big, workers)
    if _ok(big.results.get("ours (regex)")):
        print_heldout(big)
    big_targets(big, targets)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--skip-big", action="store_true", help="run only workload 1 (taylorswift.txt)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes / threads")
    p.add_argument("--one", nargs=3, metavar=("NAME", "PATH", "VOCAB"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:
        name, path, vocab = args.one
        print_result(run_one(name, path, int(vocab), args.workers))
        return 0
    return main_parent(args)


if __name__ == "__main__":
    sys.exit(main())
