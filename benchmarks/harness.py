"""What every benchmark shares: the bench corpus, the machine's description, memory, child runs, the verdict.

A benchmark script imports only from here and from the packages (minbpe, pipeline, gpt).
Importing this module puts the repository root first on sys.path, so the scripts
measure this checkout's code whether or not it is installed.

The bench corpus is two xz files, prose.txt.xz and code.txt.xz (49 MB of text once
decompressed), which are not shipped with the repository: `benchmarks/make_corpus.py`
makes a corpus of the same kind and size from texts every machine has. The directory that
holds them is $GPTKIT_BENCH_DIR, else `shared/data/bench` beside the repository's own
directory (where the project's own machines keep theirs). They are decompressed and concatenated,
prose then code, into one cached file in the temp directory, rewritten only when its
size does not match the archives' (read from the xz index, without decompressing).
A benchmark that needs the corpus and cannot find it reports its targets as not measured
(`Verdict`), and exits non-zero.

Memory is measured two ways. `maxrss_mb` reads the kernel's peak RSS of this process
(RUSAGE_SELF) or of its largest finished child (RUSAGE_CHILDREN). `TreeRssSampler`
samples the summed RSS of this process and all its descendants every 20 ms (needs
psutil); the sum counts pages shared after fork once per process, so it overstates.

`run_child` runs a benchmark script again in a fresh process (with the hidden option
--one), so that a measurement's peak RSS is its own; the child prints one line,
`RESULT <json>` (`print_result`), which the parent reads back.

The anchors for BPE are minbpe's own loops, which live in the package as
minbpe/reference.py (the tests prove the fast paths equal to them): count every pair,
merge the most frequent (training) or the lowest-ranked (encoding), every occurrence
left to right, and repeat, O(text) per merge.
"""

from __future__ import annotations

import json
import lzma
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DIR = Path(os.environ.get("GPTKIT_BENCH_DIR") or ROOT.parent / "shared" / "data" / "bench")
BENCH_PARTS = ("prose.txt.xz", "code.txt.xz")  # concatenated in this order
CACHE_DIR = Path(tempfile.gettempdir()) / "gptkit-bench"
CORPUS = CACHE_DIR / "corpus.txt"
# what a run without the corpus says (the tests' skips too)
MAKE_CORPUS = "make one with `python benchmarks/make_corpus.py --out DIR` and set GPTKIT_BENCH_DIR=DIR"
MB = 1 << 20
RESULT_PREFIX = "RESULT "


# ---------------------------------------------------------------------------
# the bench corpus


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
        return None, f"needs a bench corpus ({', '.join(missing)}: not found): {MAKE_CORPUS}"
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


# ---------------------------------------------------------------------------
# the machine and the code measured


def git_commit() -> str:
    """`git describe --always --dirty` of the checkout, or "unknown"."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), or what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    """An installed distribution's version, or "not installed"."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def now() -> str:
    """The local time, to the second, with its UTC offset."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def machine() -> str:
    """One line: CPU count and model, the OS."""
    return f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.platform()}"


def torch_machine() -> str:
    """machine(), then Python's and torch's versions and torch's threads: a training benchmark's second line."""
    import torch  # here: the tokenizer benchmarks need no torch

    return (f"{machine()}; Python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")


# ---------------------------------------------------------------------------
# memory


def maxrss_mb(who: int) -> float:
    """Peak RSS in MiB of resource.RUSAGE_SELF or of the largest finished child (RUSAGE_CHILDREN)."""
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(who).ru_maxrss * scale / MB


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # a worker that just exited
            pass
    return total


class TreeRssSampler:
    """Samples the summed RSS of this process and all its descendants; peak_mb stays None without psutil."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRssSampler:
        if find_spec("psutil") is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        self.peak_mb = 0.0
        while not self._stop.wait(self.interval_s):
            self.peak_mb = max(self.peak_mb, _tree_rss(me) / MB)


# ---------------------------------------------------------------------------
# a measurement in a fresh process


def run_child(script: str, args: Sequence[str], env: dict[str, str] | None = None) -> dict:
    """`script --one ARGS` in a fresh interpreter; its RESULT line, or {"error": ...} with stderr's last line."""
    proc = subprocess.run([sys.executable, script, "--one", *args], capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {proc.returncode}: {tail}"}


def print_result(result: dict) -> None:
    """The child's side of run_child: one RESULT line on stdout."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------
# the verdict


class Verdict:
    """The targets of one benchmark run, each PASS, FAIL or NOT MEASURED.

    A target passes only when it was measured in this run, with every anchor it names, and
    held. One that could not be measured (an anchor not installed, the corpus or a checkout
    missing, a trainer or an anchor that crashed) is NOT MEASURED and fails the run like a
    missed target: every script reports through this, so none can exit 0 on what it skipped.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.missed = 0
        self.unmeasured = 0

    def check(self, passed: bool, text: str) -> None:
        """A target measured in this run: PASS if it held, else FAIL."""
        self.lines.append(f"- {'PASS' if passed else 'FAIL'}: {text}")
        self.missed += not passed

    def not_measured(self, text: str, why: str) -> None:
        """A target this run could not measure, and why: never a pass."""
        self.lines.append(f"- NOT MEASURED: {text} ({why})")
        self.unmeasured += 1

    def exit_status(self) -> int:
        """Print the targets and a summary; the exit status: 0 only if every target was measured and met."""
        print("\n### Targets\n")
        print("\n".join(self.lines) if self.lines else "- NOT MEASURED: no target was checked")
        if not self.lines:
            return 1
        if not (self.missed or self.unmeasured):
            print("\nall targets met")
            return 0
        print(f"\n{self.missed} target(s) missed, {self.unmeasured} not measured")
        return 1
