"""Benchmark: GPT training and sampling on CPU.

    python benchmarks/gpt_cpu.py                  # training (~1-2 min) + sampling (~1 min)
    python benchmarks/gpt_cpu.py --skip-train     # sampling only

1. Training: nanoGPT's published CPU recipe for Shakespeare-char (4 layers, 4 heads,
   128 wide, block 64, batch 12, 2000 iters, lr 1e-3 -> 1e-4, warmup 100, beta2 0.99,
   dropout 0, 20 eval batches every 250 steps): our `train-gpt` preset
   shakespeare-char-cpu on data/tinyshakespeare.txt, character-level, the last 10% as
   validation (nanoGPT's split). Wall time of the training call (evaluations and
   checkpoints included; preparing the 1 MB of data is timed apart), the final
   validation loss (20 batches, as nanoGPT's estimate) and the loss on the whole
   validation split. The anchor is nanoGPT itself, run on this machine by the
   project (97 s wall, val loss 1.886); nanoGPT is not a package, so this script
   cannot re-run it and compares with those figures. Targets: wall <= 0.7x of 97 s,
   final val loss <= 1.89.
2. Sampling 500 new tokens after a 1-token prompt from a 4-layer, 256-wide model with a
   1024 context (so the 500 tokens fit and the cache is used throughout), with and
   without the KV cache, greedy, the same tokens checked. Target: cached >= 5x the
   uncached tokens/s.

The exit status is 1 if a target fails, else 0.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from harness import ROOT, verdict  # first: it puts this checkout on sys.path

# isort: split
import torch

from gpt.checkpoint import load_model
from gpt.config import TrainConfig, config_from
from gpt.generate import SampleConfig, generate
from gpt.model import GPT, GPTConfig
from gpt.train import evaluate, train
from pipeline.loader import TokenData
from pipeline.prepare import PrepareConfig, prepare

NANOGPT_WALL_S = 97.0
NANOGPT_VAL = 1.886
WALL_TARGET = 0.7
VAL_TARGET = 1.89
CACHE_TARGET = 5.0


def matmul_floor(cfg: TrainConfig, vocab_size: int) -> float:
    """Seconds this machine takes for the recipe's matrix products alone, timed now with torch.mm/bmm.

    Every training step multiplies, per Linear (K inputs, N outputs, M = batch x block rows):
    forward M x K by K x N, backward the input gradient (M x N by N x K) and the weight
    gradient (N x M by M x K); per attention layer QK^T and AV forward and two products
    each backward. Evaluations run the forward products only. No implementation of the
    recipe can be faster than this without other kernels or less arithmetic.
    """
    M, C, T = cfg.batch_size * cfg.block_size, cfg.n_embd, cfg.block_size
    heads, hs = cfg.batch_size * cfg.n_head, cfg.n_embd // cfg.n_head
    linears = [(C, 3 * C), (C, C), (C, 4 * C), (4 * C, C)] * cfg.n_layer + [(C, vocab_size)]
    forward = [(M, k, n) for k, n in linears]
    backward = [(M, n, k) for k, n in linears] + [(n, M, k) for k, n in linears]
    attn_forward = [(heads, T, hs, T), (heads, T, T, hs)] * cfg.n_layer
    attn_backward = [(heads, T, hs, T), (heads, T, T, hs), (heads, T, T, hs), (heads, hs, T, T)] * cfg.n_layer

    def timed(mms: list[tuple[int, ...]], bmms: list[tuple[int, ...]], reps: int = 30) -> float:
        pairs = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in mms]
        pairs += [(torch.randn(b, m, k), torch.randn(b, k, n)) for b, m, k, n in bmms]
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(reps):
                for a, b in pairs:
                    torch.matmul(a, b)
            best = min(best, (time.perf_counter() - start) / reps)
        return best

    step = timed(forward + backward, attn_forward + attn_backward)
    evals = (cfg.max_iters // cfg.eval_interval + 1) * cfg.eval_iters
    return cfg.max_iters * step + evals * timed(forward, attn_forward)


def bench_training(work: Path, failures: list[str]) -> None:
    start = time.perf_counter()
    prepare(PrepareConfig([str(ROOT / "data" / "tinyshakespeare.txt")], str(work / "data"), "char",
                          val_fraction=0.1, delimiter=None))
    prepared = time.perf_counter() - start
    cfg = config_from("shakespeare-char-cpu", data=str(work / "data"), out=str(work / "run"), device="cpu")
    start = time.perf_counter()
    result = train(cfg)
    wall = time.perf_counter() - start
    model, _ = load_model(work / "run")
    full = evaluate(model, TokenData(work / "data", "val"), 64, model.config.block_size, torch.device("cpu"))
    print("## 1. Training, nanoGPT's CPU recipe for Shakespeare-char (2000 iters)\n")
    print(f"data prepared in {prepared:.1f} s (not counted)\n")
    print("| run | wall s | vs nanoGPT | final val loss (20 batches) | val loss, whole split |")
    print("|---|--:|--:|--:|--:|")
    print(f"| nanoGPT (the project's measurement on this machine) | {NANOGPT_WALL_S:.0f} | 1.00x | {NANOGPT_VAL} | - |")
    print(f"| ours | {wall:.1f} | {wall / NANOGPT_WALL_S:.2f}x | {result.val_loss:.4f} | {full['loss']:.4f} |")
    floor = matmul_floor(cfg, model.config.vocab_size)
    print(f"| the recipe's matrix products alone (timed now) | {floor:.1f} | {floor / NANOGPT_WALL_S:.2f}x | - | - |")
    print(f"\nours spends {floor / wall:.0%} of its wall time at the matmul floor; "
          f"{WALL_TARGET}x nanoGPT is {WALL_TARGET * NANOGPT_WALL_S:.0f} s")
    if wall > WALL_TARGET * NANOGPT_WALL_S:
        failures.append(f"training wall {wall:.1f} s > {WALL_TARGET}x nanoGPT's {NANOGPT_WALL_S:.0f} s")
    if not result.val_loss <= VAL_TARGET:
        failures.append(f"final val loss {result.val_loss:.4f} > {VAL_TARGET}")


def bench_sampling(failures: list[str]) -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=1024, n_layer=4, n_head=4, n_embd=256)).eval()
    prompt = torch.zeros((1, 1), dtype=torch.long)
    results = {}
    for use_cache in (True, False):
        sample = SampleConfig(max_new_tokens=500, temperature=0, use_cache=use_cache)
        start = time.perf_counter()
        tokens = torch.stack(list(generate(model, prompt, sample)), 1)
        results[use_cache] = (time.perf_counter() - start, tokens)
    (cached_s, a), (plain_s, b) = results[True], results[False]
    ratio = plain_s / cached_s
    print(f"\n## 2. Sampling 500 tokens, {model.num_params() / 1e6:.1f}M-parameter model, context 1024\n")
    print("| generation | seconds | tokens/s | vs uncached |")
    print("|---|--:|--:|--:|")
    print(f"| uncached (whole context per token) | {plain_s:.2f} | {500 / plain_s:,.0f} | 1.00x |")
    print(f"| KV cache | {cached_s:.2f} | {500 / cached_s:,.0f} | {ratio:.1f}x |")
    if not torch.equal(a, b):
        failures.append("the cached tokens differ from the uncached ones")
    if ratio < CACHE_TARGET:
        failures.append(f"KV cache {ratio:.1f}x < {CACHE_TARGET}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-train", action="store_true", help="Only the sampling benchmark.")
    args = parser.parse_args()
    print(f"# GPT on CPU, {datetime.now():%Y-%m-%d %H:%M}")
    print(f"{platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads\n")
    failures: list[str] = []
    if not args.skip_train:
        with tempfile.TemporaryDirectory() as work:
            bench_training(Path(work), failures)
    bench_sampling(failures)
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
