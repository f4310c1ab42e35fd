"""Runs for the playground's tests: a character-level GPT, a GPT on a trained BPE tokenizer, a train-char run and a
damaged run, all under one root, plus the trained tokenizer's .model file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import minbpe
from conftest import TINYSHAKESPEARE, shakespeare_data
from gpt.char.train import char_config, train_char
from gpt.config import config_from
from gpt.train import train
from pipeline.prepare import PrepareConfig, prepare

TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=8, dropout=0.0, eval_iters=2,
            eval_interval=10, log_interval=5, lr=3e-3, min_lr=3e-4, warmup_iters=2, device="cpu")
NAMES = Path(__file__).resolve().parents[2] / "data" / "names.txt"


@dataclass
class PlaygroundRuns:
    root: Path  # --runs
    tokenizer: Path  # a trained .model file (also the "bpe" run's tokenizer)


def make_runs(base: Path) -> PlaygroundRuns:
    root = base / "runs"
    data = shakespeare_data(base, 30_000)
    train(config_from(None, data=str(data), out=str(root / "gpt"), max_iters=20, **TINY))

    text = TINYSHAKESPEARE.read_text(encoding="utf-8")[:30_000]
    tokenizer, _ = minbpe.train_tokenizer([str(base / "shakespeare.txt")], 300, str(base / "tok" / "shakes"),
                                          special=["<|endoftext|>"])
    assert tokenizer.encode(text[:100])  # trained
    prepare(PrepareConfig([str(base / "shakespeare.txt")], str(base / "bpe-data"), str(base / "tok" / "shakes.model"),
                          val_fraction=0.1, delimiter=None))
    train(config_from(None, data=str(base / "bpe-data"), out=str(root / "nested" / "bpe"), max_iters=10, **TINY))

    small = base / "names.txt"
    small.write_text("\n".join(NAMES.read_text(encoding="utf-8").split("\n")[:2000]) + "\n", encoding="utf-8")
    train_char(char_config("bigram-counts", input=str(small), out=str(root / "names"), num_samples=0))

    (root / "broken").mkdir()
    (root / "broken" / "latest.pt").write_bytes(b"not a checkpoint")
    return PlaygroundRuns(root, base / "tok" / "shakes.model")
