"""Benchmark: what the Ray engines cost beside the local ones, on 200 MB and this machine's CPUs (issue 26).

    python benchmarks/ray_overhead.py               # prepare and the tokenizer's counting on 200 MB (~10 minutes)
    python benchmarks/ray_overhead.py --mb 20       # a quick look (a prefix of the bench corpus)

What is measured
----------------
The corpus is scaling.py's 200 MB corpus (the bench corpus, then Linux 6.1's source; one text file), so a
unit of the Ray engines is a 16 MiB part of it. Each run is a fresh child process (harness.run_child):

- prepare (the GPT-2 tokenizer, blank-line documents: prepare.py's workload 1): the local engine with
  --workers = the CPUs, then --engine ray (Ray gets as many CPUs);
- the tokenizer's counting (GPT-4 pattern, vocab 32768, RegexTokenizer.train_from_files): the counting
  stage's seconds (TrainStats.seconds_counting) of the local engine and of --engine ray.

Ray runs twice: started by the command itself on this machine's CPUs ("cold": what `--engine ray` with no
address does, Ray's own start-up of several seconds included), and on a Ray already running here
(`ray start --head --num-cpus N`, then --ray-address: how a cluster is used, where Ray is up before the job).
Each is run --repeats times (local and cold in turn, then warm) and the fastest run counts: on a shared
2-core machine a run varies by a few seconds.

Identical output: prepare's shards byte for byte and its manifest but for `engine` and `created` (a digest
of each output directory), and the tokenizer's .model file (its merges) byte for byte.

Targets: each Ray run's time <= 1.3 x the local engine's (prepare's wall time; the counting stage's time),
cold and warm, and identical output. A run that fails is NOT MEASURED; the exit status is 0 only if every
target was measured and met.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import CACHE_DIR, Verdict, git_commit, machine, now, package_version, print_result, run_child

# isort: split
import scaling

OVERHEAD = 1.3  # a Ray run's time <= this x the local engine's
VOCAB = 32768
MODES = ("local", "ray cold", "ray warm")


def output_digest(out: Path) -> str:
    """sha256 over every file of a prepare output, the manifest without what names the run rather than the data."""
    h = hashlib.sha256()
    for path in sorted(out.iterdir()):
        data = path.read_bytes()
        if path.name == "manifest.json":
            manifest = json.loads(data)
            for key in ("engine", "created", "command"):
                manifest.pop(key, None)
            data = json.dumps(manifest, sort_keys=True).encode()
        h.update(path.name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def run_prepare(path: str, engine: str, address: str | None, workers: int) -> dict:
    """In a child: one prepare run, timed (Ray's start-up included when the command starts it)."""
    from pipeline.prepare import PrepareConfig, prepare

    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as out:
        config = PrepareConfig([path], os.path.join(out, "data"), "gpt2", doc_separator="blank-line",
                               engine=engine, ray_address=address, workers=workers if engine == "local" else 1)
        start = time.perf_counter()
        prepare(config)
        wall = time.perf_counter() - start
        return {"seconds": wall, "digest": output_digest(Path(out) / "data")}


def run_count(path: str, engine: str, address: str | None, workers: int) -> dict:
    """In a child: train the 32k tokenizer; the counting stage's seconds, and the .model file's digest."""
    from minbpe import GPT4_SPLIT_PATTERN, RegexTokenizer

    tokenizer = RegexTokenizer(GPT4_SPLIT_PATTERN)
    stats = tokenizer.train_from_files([path], VOCAB, workers=workers if engine == "local" else None,
                                       engine=engine, ray_address=address)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as out:
        tokenizer.save(os.path.join(out, "tok"))
        digest = hashlib.sha256(Path(out, "tok.model").read_bytes()).hexdigest()
    return {"seconds": stats.seconds_counting, "merging_s": stats.seconds_merging,
            "distinct_chunks": stats.distinct_chunks, "digest": digest}


class LocalRay:
    """`ray start --head` on this machine's CPUs for the warm runs; `ray stop` at the end."""

    def __init__(self, cpus: int) -> None:
        self.cpus = cpus

    def __enter__(self) -> str:
        subprocess.run(["ray", "start", "--head", f"--num-cpus={self.cpus}", "--include-dashboard=false",
                        "--disable-usage-stats"], check=True, capture_output=True)
        return "auto"

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ray", "stop", "--force"], capture_output=True)


def measure(path: Path, workers: int, repeats: int) -> dict[str, dict[str, dict]]:
    """{job: {mode: the fastest of `repeats` runs}} for jobs prepare and count, each run a fresh child: local and
    cold in turn, then the warm runs once Ray is up."""
    results: dict[str, dict[str, dict]] = {"prepare": {}, "count": {}}
    script = str(Path(__file__).resolve())

    def child(job: str, mode: str, address: str | None, repeat: int) -> None:
        engine = "local" if mode == "local" else "ray"
        print(f"  {job}, {mode}, run {repeat + 1} of {repeats} ...", file=sys.stderr, flush=True)
        run = run_child(script, [job, str(path), engine, address or "", str(workers)])
        best = results[job].get(mode)
        if best is None or "seconds" not in best or run.get("seconds", float("inf")) < best["seconds"]:
            results[job][mode] = run

    for repeat in range(repeats):
        for job in results:
            child(job, "local", None, repeat)
            child(job, "ray cold", None, repeat)
    with LocalRay(workers) as address:
        for repeat in range(repeats):
            for job in results:
                child(job, "ray warm", address, repeat)
    return results


def report(results: dict[str, dict[str, dict]], verdict: Verdict) -> None:
    titles = {"prepare": "prepare, wall s", "count": "the tokenizer's counting stage, s"}
    print("| job | local | Ray, cold (started by the command) | Ray, warm (already running) | output |")
    print("|---|--:|--:|--:|---|")
    for job, runs in results.items():
        local = runs.get("local", {})
        cells, same = [], True
        for mode in MODES:
            run = runs.get(mode, {})
            if "seconds" not in run:
                cells.append(f"failed ({run.get('error', 'not run')})")
                continue
            ratio = f" ({run['seconds'] / local['seconds']:.2f}x)" if mode != "local" and "seconds" in local else ""
            cells.append(f"{run['seconds']:.2f}{ratio}")
            same &= run["digest"] == local.get("digest")
        print(f"| {titles[job]} | {' | '.join(cells)} | {'identical' if same else 'DIFFERENT'} |")
        for mode in MODES[1:]:
            text = f"{titles[job]}: {mode} <= {OVERHEAD}x the local engine, identical output"
            run = runs.get(mode, {})
            if "seconds" not in run or "seconds" not in local:
                verdict.not_measured(text, run.get("error") or local.get("error") or "not run")
                continue
            ratio = run["seconds"] / local["seconds"]
            verdict.check(ratio <= OVERHEAD and run["digest"] == local["digest"],
                          f"{text}: {ratio:.2f}x, {'identical' if run['digest'] == local['digest'] else 'DIFFERENT'}")
    count = results["count"].get("local", {})
    if "distinct_chunks" in count:
        print(f"\n(the tokenizer: {count['distinct_chunks']:,} distinct chunks; merging took "
              f"{count['merging_s']:.1f} s after each counting)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mb", type=float, default=200, help="corpus size in MB (scaling.py's corpora) [200]")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="the local engines' processes and Ray's CPUs [all cores]")
    p.add_argument("--repeats", type=int, default=2, help="runs of each engine; the fastest counts [2]")
    p.add_argument("--extra", type=Path, default=None, help="scaling.py's --extra: text after the bench corpus")
    p.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:
        job, path, engine, address, workers = args.one
        run = run_prepare if job == "prepare" else run_count
        print_result(run(path, engine, address or None, int(workers)))
        return 0
    verdict = Verdict()
    corpora, missing = scaling.make_corpora([args.mb], args.extra)
    print(f"## The Ray engines' overhead\n\n{machine()}, {args.workers} CPUs for both engines; {now()}; "
          f"commit {git_commit()}; ray {package_version('ray')}\n")
    if not corpora:
        verdict.not_measured("the Ray engines' overhead", missing.get(args.mb, "no corpus"))
        return verdict.exit_status()
    corpus = corpora[0]
    print(f"corpus: {corpus.n_bytes / 1e6:.1f} MB, sha256 {corpus.sha256[:12]}: {corpus.made_of}\n")
    report(measure(corpus.path, args.workers, args.repeats), verdict)
    return verdict.exit_status()


if __name__ == "__main__":
    sys.exit(main())
