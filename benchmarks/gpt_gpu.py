"""Benchmark: GPT training on one GPU (run it through the device tool when a GPU is lent).

    python benchmarks/gpt_gpu.py                 # both workloads
    python benchmarks/gpt_gpu.py --skip-124m     # Shakespeare-char only

1. nanoGPT's full Shakespeare-char recipe (6 layers, 6 heads, 384 wide, block 256,
   batch 64, 5000 iters, dropout 0.2, lr 1e-3 -> 1e-4, beta2 0.99, 200 eval batches
   every 250 steps), precision auto (bf16), torch.compile on. nanoGPT's published
   result: val 1.4697 in about 3 minutes on an A100. Targets on one H100: val <= 1.47
   in <= 90 s of training wall time (compilation included).
2. A GPT-2-124M-shaped model (12 layers, 12 heads, 768 wide, block 1024, vocabulary
   50,304) trained for --steps steps on Tiny Shakespeare tokenized with GPT-2's
   tokenizer, batch 16 x 1024 tokens, bf16, compiled: tokens/s and MFU (model FLOPs
   utilisation against the GPU's dense bf16 peak, the PaLM formula nanoGPT uses),
   from the steps after the first 10 (compilation and warm-up). Target: MFU >= 40%.

The exit status is 1 if a target fails (or there is no GPU), else 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from harness import ROOT, verdict  # first: it puts this checkout on sys.path

# isort: split
import torch

from gpt.config import config_from
from gpt.train import train
from pipeline.prepare import PrepareConfig, prepare

SHAKESPEARE = ROOT / "data" / "tinyshakespeare.txt"
VAL_TARGET = 1.47
WALL_TARGET_S = 90.0
MFU_TARGET = 0.40


def shakespeare_char(work: Path, failures: list[str]) -> None:
    prepare(PrepareConfig([str(SHAKESPEARE)], str(work / "char"), "char", val_fraction=0.1, delimiter=None))
    cfg = config_from("shakespeare-char", data=str(work / "char"), out=str(work / "run-char"), device="cuda",
                      compile=True)
    start = time.perf_counter()
    result = train(cfg)
    wall = time.perf_counter() - start
    print("## 1. nanoGPT's Shakespeare-char recipe (5000 iters)\n")
    print("| run | wall s | final val loss | best val loss |")
    print("|---|--:|--:|--:|")
    print("| nanoGPT, published (A100) | ~180 | 1.4697 | - |")
    gpu = torch.cuda.get_device_name()
    print(f"| ours ({gpu}) | {wall:.1f} | {result.val_loss:.4f} | {result.best_val_loss:.4f} |")
    if wall > WALL_TARGET_S:
        failures.append(f"Shakespeare-char wall {wall:.1f} s > {WALL_TARGET_S:.0f} s")
    if not result.best_val_loss <= VAL_TARGET:
        failures.append(f"Shakespeare-char best val loss {result.best_val_loss:.4f} > {VAL_TARGET}")


def gpt2_124m(work: Path, steps: int, failures: list[str]) -> None:
    prepare(PrepareConfig([str(SHAKESPEARE)], str(work / "gpt2"), "gpt2", val_fraction=0.1))
    rows: list[dict] = []
    cfg = config_from("gpt2-124m", data=str(work / "gpt2"), out=str(work / "run-124m"), device="cuda", compile=True,
                      batch_size=16, grad_accum=1, max_iters=steps, eval_interval=10**9, eval_iters=1,
                      log_interval=1, warmup_iters=10)
    train(cfg, rows.append)
    timed = [r for r in rows if r["event"] == "step" and r["step"] > 10]
    tokens_per_s = sum(r["tokens_per_s"] for r in timed) / len(timed)
    mfu = sum(r.get("mfu", float("nan")) for r in timed) / len(timed)
    print(f"\n## 2. GPT-2-124M shape, batch 16 x 1024, bf16, compiled ({steps} steps)\n")
    print("| tokens/s | MFU |")
    print("|--:|--:|")
    print(f"| {tokens_per_s:,.0f} | {mfu:.1%} |")
    if not mfu >= MFU_TARGET:
        failures.append(f"MFU {mfu:.1%} < {MFU_TARGET:.0%} (or the GPU's peak FLOP/s is unknown)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-124m", action="store_true", help="Only the Shakespeare-char run.")
    parser.add_argument("--steps", type=int, default=60, help="Steps of the 124M run (default 60).")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("FAIL no CUDA GPU here: run this through the device tool on a lent GPU")
        return 1
    print(f"# GPT on {torch.cuda.get_device_name()}, {datetime.now():%Y-%m-%d %H:%M}, torch {torch.__version__}\n")
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as work:
        shakespeare_char(Path(work), failures)
        if not args.skip_124m:
            gpt2_124m(Path(work), args.steps, failures)
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
