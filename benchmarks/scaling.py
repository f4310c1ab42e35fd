"""Benchmark: how the cost of `prepare` and of BPE training grows with the corpus, from 49 MB to 200 MB to 1 GB.

    python benchmarks/scaling.py                        # 49, 200 and 1000 MB (a quarter of an hour or more, two cores)
    python benchmarks/scaling.py --sizes 1,2,4          # a check in about a minute: prefixes of the bench corpus
    python benchmarks/scaling.py --only tokenizer --skip-anchors     # ours alone, a quick look (exits 1)
    python benchmarks/scaling.py --corpora-only         # build and cache the corpora, measure nothing

The corpora
-----------
A size of 49 (MB) is the bench corpus as it is (harness.py: prose then code). A smaller size is
the bench corpus's first bytes, a larger one the bench corpus followed by more real text, a
blank line between them; either is cut at the last line break before the size (MB = 10^6 bytes,
as make_corpus.py counts). The more text is --extra DIR: its files in sorted path order (hidden
entries skipped, make_corpus.files_in), those that are not UTF-8 text (undecodable, or holding
NUL bytes) left out and counted, one blank line between files. By default it is the Linux 6.1
source tree, from Debian's package `linux-source-6.1` (/usr/src/linux-source-6.1.tar.xz, unpacked
once under harness.CACHE_DIR): C, headers, Documentation's .rst, Kconfig, scripts. Without it the
larger sizes are not measured. Each corpus is cached in harness.CACHE_DIR under a name keyed by its
size and its sources, with a .json beside it saying what it is made of, so a rerun reuses it; its
sha256 is printed.

What is measured
----------------
Every run is a fresh child process with its own peak RSS, through the other benchmarks' own
code: prepare.py's run_prepare (the GPT-2 tokenizer, --workers processes, blank-line documents:
its workload 1; MB/s, the peak RSS of the main process plus workers x the largest worker, and the
sampled peak of the process tree) and tokenizer_train.py's trainers, set up as there (GPT-4
pattern, vocab 32768; ours is RegexTokenizer.train_from_files, then HF `tokenizers` and `rustbpe`
on the same ~1 MB blocks; wall time of the training call, peak RSS of the process plus its
largest worker). For ours also its distinct chunks (TrainStats.distinct_chunks), counting and
merging seconds, and its peak RSS per distinct chunk. prepare runs --repeats times per size,
the sizes in turn, and keeps the best time and the largest RSS; each trainer runs once.

Targets (issue 26), between the smallest size ("base", 49 MB) and the largest ("top", 1 GB):
prepare's MB/s at top >= 0.85 x its MB/s at base, its peak RSS <= 1,000 MiB at every size
(prepare.py's bar; the larger of the bound and the sampled tree peak); our training time at top
<= 1.15 x our time at base x the ratio of their sizes in bytes (linear plus 15%), and ours <= HF
at every size. rustbpe is run beside ours at every size; a size where HF or rustbpe could not run
(not installed, crashed, --skip-anchors) has its targets NOT MEASURED, and so does a size whose
corpus could not be made. The exit status is 0 only if every target was measured and met.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import (
    CACHE_DIR,
    Verdict,
    git_commit,
    machine,
    now,
    package_version,
    prepare_corpus,
    run_child,
)
from harness import MB as MIB  # RSS is in MiB; corpus sizes are in MB of 10^6 bytes (MB below)

# isort: split
import prepare as prepare_bench
import tokenizer_train

from gptkit_base.files import atomic_write_text
from make_corpus import files_in

MB = 1e6  # corpus sizes, as make_corpus.py counts them
BENCH_MB = 49  # this size is the bench corpus as it is
KERNEL_TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
KERNEL_DIR = CACHE_DIR / "linux-source-6.1"  # the tarball's own top directory, unpacked here
GET_KERNEL = (f"`apt-get install -y linux-source-6.1` (Debian) gives {KERNEL_TARBALL}, which this script "
              f"unpacks into {KERNEL_DIR}; or give --extra DIR")
OURS, HF, RUSTBPE = "ours (regex)", "HF tokenizers", "rustbpe"
PREPARE_SPEED_RATIO = 0.85  # MB/s at top >= this x MB/s at base
TRAIN_TIME_SLACK = 1.15  # ours at top <= this x ours at base x the size ratio


# ---------------------------------------------------------------------------
# the corpora


@dataclass
class Extra:
    """The text that follows the bench corpus in the larger corpora."""

    path: Path
    name: str


@dataclass
class Corpus:
    size_mb: float  # as asked
    path: Path
    n_bytes: int
    sha256: str
    made_of: str

    @property
    def label(self) -> str:
        return f"{self.size_mb:g} MB"


def find_extra(arg: Path | None) -> tuple[Extra | None, str]:
    """--extra, or the unpacked Linux source (unpacked now from Debian's tarball when only that is there)."""
    if arg is not None:
        return (Extra(arg, str(arg)), "") if arg.is_dir() else (None, f"--extra {arg}: no such directory")
    name = "the Linux 6.1 source (Debian's linux-source-6.1)"
    if KERNEL_DIR.is_dir():
        return Extra(KERNEL_DIR, name), ""
    if not KERNEL_TARBALL.is_file():
        return None, f"no extra text: {KERNEL_DIR} is absent; {GET_KERNEL}"
    print(f"  unpacking {KERNEL_TARBALL} into {KERNEL_DIR} (once) ...", file=sys.stderr, flush=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="linux-unpack-", dir=CACHE_DIR))
    try:
        subprocess.run(["tar", "-xJf", str(KERNEL_TARBALL), "-C", str(tmp)], check=True, capture_output=True)
        os.replace(tmp / KERNEL_DIR.name, KERNEL_DIR)
    except subprocess.CalledProcessError as e:
        return None, f"unpacking {KERNEL_TARBALL} failed: {e.stderr.decode(errors='replace').strip()}"
    except OSError as e:
        return None, f"unpacking {KERNEL_TARBALL} failed: {e}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Extra(KERNEL_DIR, name), ""


def cache_path(size_mb: float, bench: Path, extra: Extra | None) -> Path:
    """Where a corpus of this size from these sources is cached (the extra text counts only above the bench)."""
    st = bench.stat()
    source = [str(bench), st.st_size, st.st_mtime_ns, str(extra.path.resolve()) if extra else None]
    key = hashlib.sha256(json.dumps(source).encode()).hexdigest()[:12]
    return CACHE_DIR / f"scaling-{size_mb:g}MB-{key}.txt"


def text_of(path: Path) -> bytes | None:
    """A file's bytes if it is UTF-8 text (NUL bytes mark a binary file even where they decode), else None."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return data


def cut(piece: bytes, room: int) -> bytes:
    """piece, or its bytes up to the last line break that fits in room bytes (b"" if none does)."""
    if len(piece) <= room:
        return piece
    return piece[: piece.rfind(b"\n", 0, room) + 1]


def write_corpus(out_path: Path, bench: Path, target: int, extra: Extra | None) -> tuple[str, str]:
    """Write the corpus of target bytes (at most) to out_path; its sha256 and what it is made of."""
    digest = hashlib.sha256()
    bench_bytes = bench.stat().st_size
    with open(out_path, "wb") as out:

        def put(piece: bytes) -> None:
            out.write(piece)
            digest.update(piece)

        with open(bench, "rb") as f:
            if target < bench_bytes:
                put(cut(f.read(target + 1), target))
                return digest.hexdigest(), f"the bench corpus's first {out.tell() / MB:.2f} MB, cut at a line break"
            while block := f.read(4 * MIB):
                put(block)
        if extra is None:
            raise ValueError(f"needs text beyond the bench corpus ({bench_bytes / MB:.2f} MB)")
        used: list[Path] = []
        not_text = 0
        for path in files_in([extra.path], None):
            data = text_of(path)
            if data is None:
                not_text += 1
                continue
            if not data:
                continue
            piece = b"\n" + (data if data.endswith(b"\n") else data + b"\n")  # one blank line before each file
            kept = cut(piece, target - out.tell())
            put(kept)
            if len(kept) > 1:
                used.append(path)
            if len(kept) < len(piece):
                break
        else:
            raise ValueError(f"the bench corpus and all of {extra.path} make {out.tell() / MB:.2f} MB, "
                             f"short of {target / MB:g} MB")
        first, last = (p.relative_to(extra.path).as_posix() for p in (used[0], used[-1]))
        made_of = (f"the bench corpus ({bench_bytes / MB:.2f} MB), then {(out.tell() - bench_bytes) / MB:.2f} MB "
                   f"of {extra.name}: {len(used):,} files in sorted path order, {first} to {last} (cut at a line "
                   f"break), {not_text:,} files that are not UTF-8 text left out")
    return digest.hexdigest(), made_of


def make_corpus(size_mb: float, bench: Path, extra: Extra | None) -> Corpus:
    """The corpus of size_mb, from the cache or written now (ValueError: it cannot be made from these sources)."""
    if size_mb == BENCH_MB:
        sha = hashlib.sha256(bench.read_bytes()).hexdigest()
        return Corpus(size_mb, bench, bench.stat().st_size, sha, "the bench corpus as it is (prose then code)")
    target = int(size_mb * MB)
    above = target >= bench.stat().st_size
    path = cache_path(size_mb, bench, extra if above else None)
    about = path.with_name(path.name + ".json")
    if path.is_file() and about.is_file():
        meta = json.loads(about.read_text(encoding="utf-8"))
        if meta["bytes"] == path.stat().st_size:
            return Corpus(size_mb, path, meta["bytes"], meta["sha256"], meta["made_of"])
    print(f"  making the {size_mb:g} MB corpus ...", file=sys.stderr, flush=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        sha, made_of = write_corpus(tmp, bench, target, extra if above else None)
        n_bytes = tmp.stat().st_size
        atomic_write_text(about, json.dumps({"bytes": n_bytes, "sha256": sha, "made_of": made_of}))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return Corpus(size_mb, path, n_bytes, sha, made_of)


def make_corpora(sizes: list[float], extra_arg: Path | None) -> tuple[list[Corpus], dict[float, str]]:
    """The corpora that could be made, and why each other size could not."""
    bench, how = prepare_corpus()
    if bench is None:
        return [], {size: how for size in sizes}
    above = [size for size in sizes if size != BENCH_MB and size * MB >= bench.stat().st_size]
    extra, why_not = find_extra(extra_arg) if above else (None, "")
    corpora, missing = [], {}
    for size in sizes:
        if extra is None and size in above:
            missing[size] = why_not
            continue
        try:
            corpora.append(make_corpus(size, bench, extra))
        except (OSError, ValueError) as e:
            missing[size] = str(e)
    return corpora, missing


# ---------------------------------------------------------------------------
# prepare


def measure_prepare(corpora: list[Corpus], workers: int, repeats: int) -> dict[float, list[dict]]:
    """prepare.py's workload 1 on each corpus, the sizes in turn, repeats times."""
    runs: dict[float, list[dict]] = {c.size_mb: [] for c in corpora}
    for repeat in range(repeats):
        for c in corpora:
            print(f"  prepare, {c.label}, run {repeat + 1} of {repeats} ...", file=sys.stderr, flush=True)
            args = ["prepare", str(c.path), "blank-line", "--workers", str(workers)]
            runs[c.size_mb].append(run_child(prepare_bench.__file__, args))
    return runs


def peak_mib(run: dict, workers: int) -> float:
    """The larger of prepare.py's bound (main + workers x the largest worker) and the sampled tree peak."""
    bound = run["rss_self_mib"] + workers * run["rss_worker_mib"]
    return max(bound, run["tree_peak_mib"] or 0.0)


def report_prepare(corpora: list[Corpus], runs: dict[float, list[dict]], workers: int, verdict: Verdict) -> None:
    print(f"\n### prepare (GPT-2, {workers} workers, blank-line documents)\n")
    print("| corpus | MB | documents | tokens | wall s (best) | MB/s | vs base | peak RSS MiB (main + workers x "
          "largest), largest run | sampled tree peak MiB | judged peak MiB |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    speeds: dict[float, float] = {}
    for c in corpora:
        errors = [r["error"] for r in runs[c.size_mb] if "error" in r]
        if errors:
            print(f"| {c.label} | failed: {errors[0]} |||||||||")
            verdict.not_measured(f"prepare at {c.label}: MB/s and peak RSS", f"the run failed: {errors[0]}")
            continue
        best = min(runs[c.size_mb], key=lambda r: r["wall_s"])
        largest = max(runs[c.size_mb], key=lambda r: peak_mib(r, workers))
        speeds[c.size_mb] = c.n_bytes / MB / best["wall_s"]
        base = speeds.get(corpora[0].size_mb)
        vs_base = "n/a" if base is None else f"{speeds[c.size_mb] / base:.2f}x"
        tree = "n/a" if largest["tree_peak_mib"] is None else f"{largest['tree_peak_mib']:,.0f}"
        bound = largest["rss_self_mib"] + workers * largest["rss_worker_mib"]
        peak = peak_mib(largest, workers)
        print(f"| {c.label} | {c.n_bytes / MB:.1f} | {best['documents']:,} | {best['tokens']:,} | "
              f"{best['wall_s']:.2f} | **{speeds[c.size_mb]:.1f}** | {vs_base} | "
              f"{bound:,.0f} ({largest['rss_self_mib']:,.0f} + {workers} x {largest['rss_worker_mib']:,.0f}) | "
              f"{tree} | {peak:,.0f} |")
        verdict.check(peak <= prepare_bench.RSS_TARGET_MIB,
                      f"prepare at {c.label}: peak RSS {peak:,.0f} MiB <= {prepare_bench.RSS_TARGET_MIB:,.0f} MiB")
    print(f"\n- Each run is prepare.py's workload 1 (run_prepare) in a fresh process, timed from the call to its "
          f"return; best of {len(runs[corpora[0].size_mb])} per size, the sizes in turn. Peak RSS: the main "
          f"process's ru_maxrss + {workers} x the largest worker's (an upper bound), and the tree's summed RSS sampled "
          "every 20 ms (counts pages shared after fork once per process); the larger of the two is judged.")
    base, top = corpora[0], corpora[-1]
    what = f"prepare: MB/s at {top.label} >= {PREPARE_SPEED_RATIO} x MB/s at {base.label}"
    if base.size_mb in speeds and top.size_mb in speeds and base is not top:
        ratio = speeds[top.size_mb] / speeds[base.size_mb]
        verdict.check(ratio >= PREPARE_SPEED_RATIO,
                      f"{what}: {speeds[top.size_mb]:.1f} vs {speeds[base.size_mb]:.1f} MB/s ({ratio:.2f}x)")
    else:
        verdict.not_measured(what, "needs two sizes" if base is top else "needs both sizes measured in this run")


# ---------------------------------------------------------------------------
# train-tokenizer


def ok(result: dict | None) -> bool:
    return result is not None and "error" not in result


def measure_tokenizer(corpora: list[Corpus], workers: int, skip_anchors: bool) -> list[tokenizer_train.Workload]:
    """tokenizer_train.py's trainers on each corpus, each in a fresh process."""
    skips = tokenizer_train.anchor_skips()
    if skip_anchors:
        skips = {HF: "--skip-anchors", RUSTBPE: "--skip-anchors", **skips}
    workloads = []
    for c in corpora:
        print(f"  train-tokenizer, {c.label} ...", file=sys.stderr, flush=True)
        w = tokenizer_train.Workload(c.label, c.path, tokenizer_train.BIG_VOCAB, [OURS, HF, RUSTBPE], dict(skips))
        tokenizer_train.run_workload(w, workers)
        workloads.append(w)
    return workloads


def cell(w: tokenizer_train.Workload, name: str) -> str:
    """A trainer's wall time, or why there is none."""
    r = w.results.get(name)
    if r is None:
        return f"not run ({w.skipped.get(name, 'unknown')})"
    return f"{r['wall_s']:.2f}" if ok(r) else f"failed: {r['error']}"


def report_tokenizer(corpora: list[Corpus], workloads: list[tokenizer_train.Workload], verdict: Verdict) -> None:
    base, top = workloads[0], workloads[-1]
    base_ours = base.results.get(OURS)
    print(f"\n### train-tokenizer (GPT-4 pattern, vocab {tokenizer_train.BIG_VOCAB:,}): wall s\n")
    print(f"| corpus | MB | ours | {HF} | {RUSTBPE} | ours / HF | ours vs base (size ratio) | ours counting s | "
          "ours merging s |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for c, w in zip(corpora, workloads, strict=True):
        ours, hf = w.results.get(OURS), w.results.get(HF)
        vs_hf = f"**{ours['wall_s'] / hf['wall_s']:.2f}x**" if ok(ours) and ok(hf) else "n/a"
        growth = (f"{ours['wall_s'] / base_ours['wall_s']:.2f}x ({c.n_bytes / corpora[0].n_bytes:.2f}x)"
                  if ok(ours) and ok(base_ours) else "n/a")
        steps = [f"{ours['info'][k]:.2f}" if ok(ours) else "n/a" for k in ("counting s", "merging s")]
        print(f"| {c.label} | {c.n_bytes / MB:.1f} | {cell(w, OURS)} | {cell(w, HF)} | {cell(w, RUSTBPE)} | "
              f"{vs_hf} | {growth} | {' | '.join(steps)} |")
    print("\n### train-tokenizer: peak RSS (MiB) against distinct chunks\n")
    print("| corpus | distinct chunks | ours (main + largest worker) | ours, sampled tree | ours bytes / chunk | "
          "ours main above imports, bytes / chunk | HF | rustbpe |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for c, w in zip(corpora, workloads, strict=True):
        ours = w.results.get(OURS)
        anchors = [f"{w.results[n]['rss_mb']:,.0f}" if ok(w.results.get(n)) else "n/a" for n in (HF, RUSTBPE)]
        if not ok(ours):
            print(f"| {c.label} | n/a | {cell(w, OURS)} | | | | {' | '.join(anchors)} |")
            continue
        chunks = ours["info"]["distinct chunks"]
        tree = "n/a" if ours["tree_peak_mb"] is None else f"{ours['tree_peak_mb']:,.0f}"
        print(f"| {c.label} | {chunks:,} | {ours['rss_mb']:,.0f} ({ours['rss_self_mb']:,.0f} + "
              f"{ours['rss_children_mb']:,.0f}) | {tree} | {ours['rss_mb'] * MIB / chunks:,.0f} | "
              f"{(ours['rss_self_mb'] - ours['baseline_mb']) * MIB / chunks:,.0f} | {' | '.join(anchors)} |")
    print("\n- wall s: the training call in a fresh process (tokenizer_train.py's), reading the file included; "
          "ours' counting s (splitting and counting chunks, in its workers) and merging s are its own TrainStats.")
    print("- peak RSS: ru_maxrss of the process + of its largest worker; bytes / chunk divides that by the distinct "
          "chunks; 'main above imports' is the main process's peak less its RSS after the imports (where the chunk "
          "counts and the merge state live), per distinct chunk.")
    for w in workloads:
        for name in (HF, RUSTBPE):
            line = tokenizer_train.vocab_comparison(name, w)
            if line:
                print(f"- {w.title}, learned vocabulary: {line}")
    for c, w in zip(corpora, workloads, strict=True):
        hf = w.results.get(HF)
        what = f"train-tokenizer at {c.label}: ours wall <= HF wall"
        if ok(w.results.get(OURS)) and ok(hf):
            mine = w.results[OURS]["wall_s"]
            verdict.check(mine <= hf["wall_s"],
                          f"{what}: {mine:.2f} vs {hf['wall_s']:.2f} s ({mine / hf['wall_s']:.2f}x)")
        else:
            name = HF if ok(w.results.get(OURS)) else OURS
            verdict.not_measured(what, f"{name} {cell(w, name)}")
        if not ok(w.results.get(RUSTBPE)):
            verdict.not_measured(f"train-tokenizer at {c.label}: rustbpe beside ours", f"rustbpe {cell(w, RUSTBPE)}")
    ratio = corpora[-1].n_bytes / corpora[0].n_bytes
    bar = TRAIN_TIME_SLACK * ratio
    what = (f"train-tokenizer: ours at {top.title} <= {TRAIN_TIME_SLACK} x ours at {base.title} x "
            f"{ratio:.2f} (the size ratio) = {bar:.2f}x")
    top_ours = top.results.get(OURS)
    if top is not base and ok(base_ours) and ok(top_ours):
        growth = top_ours["wall_s"] / base_ours["wall_s"]
        verdict.check(growth <= bar, f"{what}: {top_ours['wall_s']:.2f} vs {base_ours['wall_s']:.2f} s ({growth:.2f}x)")
    else:
        verdict.not_measured(what, "needs two sizes" if top is base else "needs ours measured at both sizes")


# ---------------------------------------------------------------------------
# main


def parse_sizes(text: str) -> list[float]:
    sizes = sorted({float(s) for s in text.split(",") if s.strip()})
    if not sizes or sizes[0] <= 0:
        raise argparse.ArgumentTypeError(f"--sizes {text!r}: give sizes in MB > 0, such as 49,200,1000")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--sizes", type=parse_sizes, default=[49.0, 200.0, 1000.0],
                   help="corpus sizes in MB (10^6 bytes); 49 is the bench corpus itself [default: 49,200,1000]")
    p.add_argument("--only", choices=["prepare", "tokenizer"], help="measure one of the two")
    p.add_argument("--skip-anchors", action="store_true",
                   help="train ours only: the targets against HF and rustbpe are then not measured (exit 1)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="prepare's processes, the trainers' "
                   "workers / Rayon threads [default: all cores]")
    p.add_argument("--repeats", type=int, default=3, help="prepare runs per size, best kept [default: 3]")
    p.add_argument("--extra", type=Path, help="the text after the bench corpus in the larger corpora "
                   f"[default: the Linux 6.1 source, unpacked in {KERNEL_DIR}]")
    p.add_argument("--corpora-only", action="store_true",
                   help="build and cache the corpora, print what they are, measure nothing (exit 1 if one is missing)")
    return p.parse_args(argv)


def print_header(args: argparse.Namespace, corpora: list[Corpus], missing: dict[float, str]) -> None:
    print("## How cost grows: prepare and train-tokenizer from the smallest corpus to the largest\n")
    print(f"- date: {now()}")
    print(f"- machine: {machine()}")
    print(f"- python {platform.python_version()}; gptkit {git_commit()}; tokenizers {package_version('tokenizers')}; "
          f"rustbpe {package_version('rustbpe')}; workers / Rayon threads: {args.workers}")
    print("- the targets compare the smallest corpus (base) with the largest (top); MB = 10^6 bytes, MiB = 2^20")
    print("\n| corpus | bytes | sha256 | made of |")
    print("|---|--:|---|---|")
    for c in corpora:
        print(f"| {c.label} | {c.n_bytes:,} | `{c.sha256[:12]}` | {c.made_of} |")
    for size, why in missing.items():
        print(f"| {size:g} MB | not made | | {why} |")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # tables and progress lines in order
    corpora, missing = make_corpora(args.sizes, args.extra)
    print_header(args, corpora, missing)
    if args.corpora_only:
        return 1 if missing else 0
    verdict = Verdict()
    for size, why in missing.items():
        verdict.not_measured(f"every target at {size:g} MB", why)
    if not corpora:
        return verdict.exit_status()
    if args.only != "tokenizer":
        report_prepare(corpora, measure_prepare(corpora, args.workers, args.repeats), args.workers, verdict)
    if args.only != "prepare":
        report_tokenizer(corpora, measure_tokenizer(corpora, args.workers, args.skip_anchors), verdict)
    return verdict.exit_status()


if __name__ == "__main__":
    sys.exit(main())
