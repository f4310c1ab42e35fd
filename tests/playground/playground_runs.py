"""Runs for the playground's tests: a character-level GPT, a modern GPT on a trained BPE tokenizer, a train-char run
and a damaged run, all under one root, plus the trained tokenizer's .model file; and hostile runs, whose names,
settings, checkpoint fields and logs carry markup that would run as script if a page put it in as HTML."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import minbpe
from conftest import TINYSHAKESPEARE, shakespeare_data
from gpt.char.train import char_config, train_char
from gpt.checkpoint import LATEST, load_checkpoint, save_checkpoint
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
    # the BPE run has the modern architecture (Qwen3's blocks, trained with Muon): the playground serves both
    train(config_from(None, data=str(base / "bpe-data"), out=str(root / "nested" / "bpe"), max_iters=10,
                      arch="modern", optimizer="muon", **TINY))

    small = base / "names.txt"
    small.write_text("\n".join(NAMES.read_text(encoding="utf-8").split("\n")[:2000]) + "\n", encoding="utf-8")
    train_char(char_config("bigram-counts", input=str(small), out=str(root / "names"), num_samples=0))

    (root / "broken").mkdir()
    (root / "broken" / "latest.pt").write_bytes(b"not a checkpoint")
    return PlaygroundRuns(root, base / "tok" / "shakes.model")


# markup that runs script as soon as it is parsed as HTML: it sets a flag and opens a dialog
PAYLOAD = '<img src=x onerror="window.__pwned=1;alert(1)">'


def make_hostile_runs(gpt_run: Path, base: Path) -> Path:
    """A root of copies of a train-gpt run, each changed one way (the names are the runs'):

    PAYLOAD          a readable run named PAYLOAD, with PAYLOAD as a setting's name and as a setting's value
    step-markup      its checkpoint's step is PAYLOAD
    step-negative    its step is -1
    setting-nested   a setting is a record ({"a": 1})
    setting-nan      a setting is NaN (which JSON cannot carry)
    loss-markup      its metrics.jsonl's last row has PAYLOAD as its train_loss
    no-step          its metrics.jsonl's last row has no step
    """
    root = base / "hostile"
    changes = {PAYLOAD: lambda state: state["train_config"].update({"data": PAYLOAD, PAYLOAD: 1}),
               "step-markup": lambda state: state.update(step=PAYLOAD),
               "step-negative": lambda state: state.update(step=-1),
               "setting-nested": lambda state: state["train_config"].update(nested={"a": 1}),
               "setting-nan": lambda state: state["train_config"].update(lr=float("nan"))}
    rows = {"loss-markup": {"event": "step", "step": 25, "train_loss": PAYLOAD, "lr": 1e-3},
            "no-step": {"event": "eval", "val_loss": 2.0, "val_bpb": 3.0}}
    for name in [*changes, *rows]:
        shutil.copytree(gpt_run, root / name)
    for name, change in changes.items():
        state = load_checkpoint(root / name)
        change(state)
        save_checkpoint(root / name / LATEST, state)
    for name, row in rows.items():
        with open(root / name / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
    return root
