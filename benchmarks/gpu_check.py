"""The GPU proof: one command that shows mixed-precision training works and is fast on a real GPU.

    python3 -m pip install -q --no-deps --no-build-isolation -e .   # on a GPU machine whose PyTorch is a CUDA build
    python3 benchmarks/gpu_check.py --out DIR                         # ~8 minutes on one H100/H200
    python3 benchmarks/gpu_check.py --out /tmp/dry --dry-run          # the same code on CPU, tiny, < 1 minute

What it runs, each part's figures into OUT/gpu_check.json and OUT/report.md:
1. The CUDA tests (`pytest -m cuda`): bf16 and fp16 training (with compile), fp16 loss scaling
   that skips an inf step, checkpoints GPU -> CPU -> GPU, the KV cache on CUDA, NCCL DDP
   through torchrun, the pinned-memory loader, the char lab on CUDA. Target: all pass, none
   skipped.
2. nanoGPT's Shakespeare-char recipe (6 x 384, block 256, batch 64, 5000 iters, dropout 0.2,
   lr 1e-3 -> 1e-4, warmup 100, beta2 0.99) in bf16 with torch.compile. Targets (absolute,
   from the issue): the FINAL val loss <= 1.47 (the best is reported too, not judged),
   wall <= 90 s. nanoGPT's README figure (best val 1.4697 in about 3 minutes on an A100)
   is quoted in the report as published, not measured: no verdict rests on it.
   The same for its modern twin, shakespeare-char-modern (Qwen3's blocks, Muon; issue 25):
   reported beside it, no target yet (issue 27 sets the time-to-loss ones).
3. GPT-2-124M shape (12 x 768, block 1024, vocab 50,304), bf16, compiled, batch 16 x 1024:
   tokens/s and MFU against the GPU's dense bf16 peak after the first 10 steps (compilation
   and warm-up), and peak memory. Target: MFU >= 40%.
4. Sampling 500 tokens from the 124M shape with the KV cache and without: tokens/s and the
   ratio (the same tokens, greedy).

--dry-run runs every part on the CPU with tiny sizes and checks only that each ran (the
targets are the GPU's). A part left out with --skip-tests / --skip-training has no verdict
(never a PASS). The exit status is 0 only if every part run met its target; without a GPU
(and not dry) nothing is measured and it is 1 (harness.Verdict).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

from harness import ROOT, Verdict  # first: it puts this checkout on sys.path

# isort: split
import torch

from gpt.config import config_from
from gpt.generate import SampleConfig, generate
from gpt.model import GPT, GPTConfig
from gpt.train import train
from pipeline.prepare import PrepareConfig, prepare

SHAKESPEARE = ROOT / "data" / "tinyshakespeare.txt"
TARGETS = {"val_loss": 1.47, "wall_s": 90.0, "mfu": 0.40}
# nanoGPT's README, quoted for context only: nothing here runs nanoGPT on the GPU
NANOGPT_PUBLISHED = "best val 1.4697 in about 3 minutes on one A100 (its README)"
TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=8, eval_iters=2, dropout=0.0)


def cuda_tests(out: Path, dry: bool) -> dict:
    """pytest -m cuda in its own process; the counts from its JUnit report."""
    report = out / "cuda-tests.xml"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "-rs",
                           f"--junitxml={report}"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    (out / "cuda-tests.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    ok = done.returncode in (0, 5) if dry else (done.returncode == 0 and counts["skipped"] == 0 and counts["passed"])
    return {**counts, "seconds": time.perf_counter() - start, "ok": bool(ok)}


def shakespeare_char(work: Path, device: str, dry: bool, preset: str = "shakespeare-char") -> dict:
    """nanoGPT's recipe (judged), or its modern twin (reported only: ok None unless dry)."""
    data = work / "char"
    if not (data / "manifest.json").exists():
        prepare(PrepareConfig([str(SHAKESPEARE)], str(data), "char", val_fraction=0.1, delimiter=None))
    overrides = dict(TINY, max_iters=20, eval_interval=10, compile=False) if dry else dict(compile=True)
    cfg = config_from(preset, data=str(data), out=str(work / f"run-{preset}"), device=device, **overrides)
    start = time.perf_counter()
    result = train(cfg)
    wall = time.perf_counter() - start
    part = {"wall_s": wall, "val_loss": result.val_loss, "best_val_loss": result.best_val_loss, "steps": result.step}
    judged = preset == "shakespeare-char"
    return {**part, "ok": dry or (shakespeare_met(part) if judged else None)}


def shakespeare_met(part: dict) -> bool:
    """Part 2's target: the FINAL val loss (the best, reported beside it, is not judged) and the wall time."""
    return part["val_loss"] <= TARGETS["val_loss"] and part["wall_s"] <= TARGETS["wall_s"]


def gpt2_124m(work: Path, device: str, steps: int, dry: bool) -> dict:
    prepare(PrepareConfig([str(SHAKESPEARE)], str(work / "gpt2"), "gpt2", val_fraction=0.1))
    shape = dict(TINY, compile=False) if dry else dict(batch_size=16, compile=True)
    shape = {"eval_iters": 1, **shape}
    cfg = config_from("gpt2-124m", data=str(work / "gpt2"), out=str(work / "run-124m"), device=device, grad_accum=1,
                      max_iters=steps, eval_interval=10**9, log_interval=1, warmup_iters=10, **shape)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rows: list[dict] = []
    train(cfg, rows.append)
    timed = [r for r in rows if r["event"] == "step" and r["step"] > min(10, steps // 2)]
    tokens_per_s = sum(r["tokens_per_s"] for r in timed) / len(timed)
    mfus = [r["mfu"] for r in timed if "mfu" in r]
    mfu = sum(mfus) / len(mfus) if mfus else None
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    ok = dry or (mfu is not None and mfu >= TARGETS["mfu"])
    return {"tokens_per_s": tokens_per_s, "mfu": mfu, "peak_memory_gib": peak, "steps": steps, "ok": bool(ok)}


def sampling(device: str, dry: bool) -> dict:
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=512, block_size=128, n_layer=2, n_head=2, n_embd=64) if dry else GPTConfig()
    model = GPT(config).to(device).eval()
    new = 50 if dry else 500
    rates, tokens = {}, {}
    for cached in (True, False):
        idx = torch.zeros((1, 1), dtype=torch.long, device=device)
        cfg = SampleConfig(new, temperature=0, use_cache=cached)
        # float32 weights and no autocast, as `generate` samples (measured on an H200: autocast re-casts the
        # weights at every token and makes bf16 sampling 16x slower than float32's 368 tokens/s)
        list(generate(model, idx, SampleConfig(5, temperature=0, use_cache=cached)))  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = [int(t[0]) for t in generate(model, idx, cfg)]
        if device == "cuda":
            torch.cuda.synchronize()
        rates["cached" if cached else "uncached"] = new / (time.perf_counter() - start)
        tokens[cached] = out
    same = tokens[True] == tokens[False]
    return {"tokens": new, "cached_tokens_per_s": rates["cached"], "uncached_tokens_per_s": rates["uncached"],
            "speedup": rates["cached"] / rates["uncached"], "same_tokens": same, "ok": same if dry else None}


PARTS = {"cuda_tests": "1. CUDA tests", "shakespeare_char": "2. Shakespeare-char",
         "shakespeare_char_modern": "2b. Shakespeare-char, modern twin", "gpt2_124m": "3. GPT-2-124M shape",
         "sampling": "4. Sampling"}


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def part_row(name: str, part: dict | None, dry: bool) -> str:
    """One row of the report: what the part measured, its target and its verdict (a part left out has none)."""
    title = PARTS[name]
    if part is None:
        return f"| {title} | not run (left out by a --skip option) | - | - |"
    if name == "cuda_tests":
        result = (f"{part['passed']} passed, {part['failures'] + part['errors']} failed, {part['skipped']} skipped "
                  f"({part['seconds']:.0f} s)")
        target = "all pass, none skipped"
    elif name.startswith("shakespeare_char"):
        title += f", {part['steps']} steps"
        result = f"final val {part['val_loss']:.4f} (best {part['best_val_loss']:.4f}), {part['wall_s']:.1f} s"
        target = (f"final val <= {TARGETS['val_loss']}, wall <= {TARGETS['wall_s']:.0f} s"
                  if name == "shakespeare_char" else "reported")
    elif name == "gpt2_124m":
        title += f", {part['steps']} steps"
        result = (f"{part['tokens_per_s']:,.0f} tokens/s, MFU {_fmt(part['mfu'], '.1%')}, "
                  f"peak {_fmt(part['peak_memory_gib'], '.1f')} GiB")
        target = f"MFU >= {TARGETS['mfu']:.0%}"
    else:
        title += f" {part['tokens']} tokens"
        result = (f"cached {part['cached_tokens_per_s']:,.0f} tokens/s, uncached {part['uncached_tokens_per_s']:,.0f} "
                  f"({part['speedup']:.1f}x), same tokens: {part['same_tokens']}")
        target = "-"
    verdict = "-" if part["ok"] is None else "FAIL" if not part["ok"] else "ran (dry run)" if dry else "PASS"
    return f"| {title} | {result} | {target} | {verdict} |"


def report(results: dict) -> str:
    return "\n".join([
        f"# GPU check, {results['date']}: {results['device_name']}, torch {results['torch']}"
        + (" (dry run on CPU: only checks that each part runs)" if results["dry_run"] else ""), "",
        "| part | result | target | verdict |", "|---|---|---|---|",
        *(part_row(name, results.get(name), results["dry_run"]) for name in PARTS), "",
        f"nanoGPT's published figure for part 2's recipe, not run here and no anchor of a verdict: "
        f"{NANOGPT_PUBLISHED}. The wall-time target is the issue's absolute {TARGETS['wall_s']:.0f} s.", ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="Directory for gpu_check.json, report.md, logs.")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: check that every part runs.")
    parser.add_argument("--steps", type=int, default=50, help="Steps of the 124M run (default 50).")
    parser.add_argument("--skip-tests", action="store_true", help="Leave out part 1 (the CUDA tests).")
    parser.add_argument("--skip-training", action="store_true", help="Leave out parts 2 and 3 (the training runs).")
    args = parser.parse_args()
    dry = args.dry_run
    verdict = Verdict()
    if not dry and not torch.cuda.is_available():
        verdict.not_measured("every part", "needs a CUDA GPU and a CUDA build of PyTorch: run it on a machine "
                                           "with one (--dry-run runs every part on the CPU, tiny)")
        return verdict.exit_status()
    device = "cpu" if dry else "cuda"
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"date": datetime.now().isoformat(timespec="seconds"), "torch": torch.__version__,
                     "device_name": torch.cuda.get_device_name() if device == "cuda" else "CPU", "dry_run": dry}
    def save() -> None:  # after every part: a run cut short by its time limit still reports what it measured
        (args.out / "gpu_check.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    with tempfile.TemporaryDirectory() as work:
        if not args.skip_training:
            results["shakespeare_char"] = shakespeare_char(Path(work), device, dry)
            save()
            results["shakespeare_char_modern"] = shakespeare_char(Path(work), device, dry, "shakespeare-char-modern")
            save()
            results["gpt2_124m"] = gpt2_124m(Path(work), device, 4 if dry else args.steps, dry)
            save()
    results["sampling"] = sampling(device, dry)
    save()
    if not args.skip_tests:
        results["cuda_tests"] = cuda_tests(args.out, dry)
        save()
    text = report(results)
    (args.out / "report.md").write_text(text, encoding="utf-8")
    print(text)
    for name in PARTS:
        if results.get(name, {}).get("ok") is not None:
            verdict.check(results[name]["ok"], PARTS[name] + (": ran (dry run)" if dry else ": its target"))
    return verdict.exit_status()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
