"""Any run directory, for the tools that show runs or sample from them (the CLI's generate, the playground).

    for path in find_runs("out"):
        info = run_info(path)                # kind, step, settings, tokenizer
        curves = run_curves(path)            # loss (and bits per byte) against step
    sampler = RunSampler("out/shakespeare-char-cpu")
    for sample in sampler.samples("ROMEO:", SampleConfig(max_new_tokens=200), num=1, seed=1337):
        for piece in sample: ...             # text as it is generated

Three kinds of directory hold a model: train-gpt's run (latest.pt, and metrics.jsonl, which
gets a row per logged step and evaluation while the run trains), train-char's run (latest.pt,
and metrics.json, written once at the end), and a Hugging Face GPT-2 directory written by
`export`. A GPT samples token by token, so its text streams; a character model draws whole
examples (or a stretch of a stream) at once, so each of its samples comes as one piece. The
pieces never repeat the prompt.

This lives in gpt.char because that is the lowest layer that knows every kind of run.
"""

from __future__ import annotations

import json
import math
import os
import reprlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import LATEST, CheckpointError, checkpoint_tokenizer, gpt_from_state, load_checkpoint, tokenizer_info
from ..device import pick_device
from ..generate import SampleConfig, stream_text
from ..hf import is_hf_directory, load_hf_for_sampling
from ..train import METRICS, read_metrics
from .models import CHAR_KIND
from .sample import checkpoint_samples
from .train import METRICS_FILE as CHAR_METRICS


@dataclass
class RunInfo:
    """What a run directory holds, read from its checkpoint without loading the weights.

    A checkpoint is data from anywhere, and what is read here is shown (a web page, the CLI): so every field
    is checked to be the plain value it says it is, and ValueError names the one that is not."""

    kind: str  # "gpt" (train-gpt) or "char" (train-char)
    step: int  # optimizer steps taken
    model: str  # the model, in words
    tokenizer: str  # the tokenizer's type (gpt2, gpt4, char, regex, basic), or "characters" for a char run
    settings: dict[str, Any] = field(default_factory=dict)  # the run's training settings: plain values or lists of them

    def __post_init__(self) -> None:
        if not isinstance(self.step, int) or isinstance(self.step, bool) or self.step < 0:
            raise ValueError(f"the checkpoint's step ({reprlib.repr(self.step)}) is not a whole number >= 0")
        for name in ("kind", "model", "tokenizer"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"the checkpoint's {name} ({reprlib.repr(getattr(self, name))}) is not text")
        for key, value in self.settings.items():
            # a number that is not finite has no JSON form, and a nested record has no place in a settings table
            plain = all(isinstance(v, (str, int, type(None))) or (isinstance(v, float) and math.isfinite(v))
                        for v in (value if isinstance(value, list) else [value]))
            if not isinstance(key, str) or not plain:
                raise ValueError(f"the checkpoint's setting {reprlib.repr(key)} ({reprlib.repr(value)}) is not "
                                 "a plain value (text, a finite number, true/false, null, or a list of them)")


def find_runs(root: str | os.PathLike) -> list[Path]:
    """The run directories under root (root itself included): those holding a latest.pt, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(path.parent for path in root.glob(f"**/{LATEST}") if path.is_file())


def run_info(run_dir: str | os.PathLike) -> RunInfo:
    """The kind, step, model, tokenizer and settings of a run (CheckpointError for a bad checkpoint, or one whose
    fields are not the plain values RunInfo holds)."""
    state = load_checkpoint(run_dir, mmap=True)  # the settings only: the weights stay on disk
    settings = state.get("train_config")
    if not isinstance(settings, dict):
        raise CheckpointError(f"{run_dir}: the checkpoint has no training settings")
    if state.get("kind") == CHAR_KIND:
        chars = state.get("chars", "")
        if not isinstance(chars, str):
            raise CheckpointError(f"{run_dir}: the checkpoint's characters are not text")
        kind, model, tokenizer = "char", f"{state.get('model_name')} ({len(chars)} characters)", "characters"
    else:
        shape = state.get("model_config")
        if not isinstance(shape, dict):
            raise CheckpointError(f"{run_dir}: the checkpoint has no model_config")
        model = f"GPT {shape.get('n_layer')} layers x {shape.get('n_embd')} wide, context {shape.get('block_size')}"
        kind, tokenizer = "gpt", tokenizer_info(state, run_dir).type
    try:
        return RunInfo(kind, state.get("step", 0), model, tokenizer, settings)
    except ValueError as e:
        raise CheckpointError(f"{run_dir}: {e}") from None


def run_curves(run_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """The run's loss curves as (step, value) pairs: "train" and "val" loss (nats per token) and, for a GPT,
    "val_bpb" (bits per byte). A train-gpt run's grow while it trains; a train-char run has them once it ends
    (empty before). ValueError names the file and line of a damaged log."""
    def is_curve_row(row: dict) -> bool:
        """A row the curves can draw: a whole-number step, and each loss a number (NaN too) or null. (type() is
        exact: json reads true as a bool, which isinstance would take for an int.)"""
        losses = [row.get(key) for key in ("train_loss", "val_loss", "val_bpb")]
        return type(row.get("step")) is int and all(loss is None or type(loss) in (int, float) for loss in losses)

    run_dir = Path(run_dir)
    if (run_dir / METRICS).is_file():
        rows = read_metrics(run_dir / METRICS)
        for index, row in enumerate(rows):
            if row.get("event") in ("step", "eval") and not is_curve_row(row):
                # read_metrics skips blank lines: the row's line is the index-th line that is not blank
                lines = (run_dir / METRICS).read_text(encoding="utf-8").split("\n")
                line = [number for number, text in enumerate(lines, 1) if text.strip()][index]
                raise ValueError(f"{run_dir / METRICS} line {line}: a {row['event']} row needs a whole-number step "
                                 "and losses that are numbers or null; repair or remove that line")
        steps = [row for row in rows if row.get("event") == "step" and row.get("train_loss") is not None]
        evals = [row for row in rows if row.get("event") == "eval"]
        return {"train": [(row["step"], row["train_loss"]) for row in steps],
                "val": [(row["step"], row["val_loss"]) for row in evals if row.get("val_loss") is not None],
                "val_bpb": [(row["step"], row["val_bpb"]) for row in evals if row.get("val_bpb") is not None]}
    if (run_dir / CHAR_METRICS).is_file():
        try:
            history = json.loads((run_dir / CHAR_METRICS).read_text(encoding="utf-8"))["history"]
            return {"train": [(int(step), float(loss)) for step, loss in history["loss"]],
                    "val": [(int(row["step"]), float(row["val"])) for row in history["eval"]]}
        except (KeyError, TypeError, ValueError, UnicodeDecodeError):
            raise ValueError(f"{run_dir / CHAR_METRICS}: not a train-char metrics file") from None
    return {"train": [], "val": []}


class RunSampler:
    """A model loaded once from a run (train-gpt, train-char or a Hugging Face directory), to sample text from.

    `warning` says when the samples will be noise (a checkpoint of step 0)."""

    def __init__(self, checkpoint: str | os.PathLike, device: str = "auto") -> None:
        self.device = pick_device(device)
        self.warning: str | None = None
        self.char_state: dict | None = None
        self.checkpoint = checkpoint
        if is_hf_directory(checkpoint):
            self.model, self.tokenizer = load_hf_for_sampling(checkpoint, self.device)
            return
        state = load_checkpoint(checkpoint, map_location=self.device)
        if state.get("kind") == CHAR_KIND:
            self.char_state = state
            return
        self.model = gpt_from_state(state, checkpoint, self.device)
        self.tokenizer = checkpoint_tokenizer(checkpoint, state)
        if state.get("step") == 0:
            self.warning = f"{checkpoint} has not been trained yet (step 0): its samples are noise"

    @property
    def streams(self) -> bool:
        """True when samples come token by token (a GPT), False when each comes whole (a character model)."""
        return self.char_state is None

    def samples(self, prompt: str | None, cfg: SampleConfig, num: int, seed: int) -> Iterator[Iterator[str]]:
        """num samples continuing prompt, each as an iterator of text pieces; one seeded generator draws them
        all in turn, so the same seed gives the same samples. Stopping the iteration stops the work."""
        if self.char_state is not None:
            texts = checkpoint_samples(self.checkpoint, self.char_state, prompt or "", cfg, num, seed, str(self.device))
            for text in texts:
                yield iter([text[len(prompt or ""):]])
            return
        generator = torch.Generator(self.device).manual_seed(seed)
        for _ in range(num):
            yield stream_text(self.model, self.tokenizer, prompt, cfg, generator)
