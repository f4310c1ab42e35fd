"""The run folder: what each kind of run writes there, claiming it, finding runs, and reading them back.

    claim_run(out, GPT_FILES, overwrite)     # a fresh run: refuse a folder that holds one, or clear it
    for path in find_runs("out"):
        info = run_info(path)                # kind, step, settings, tokenizer
        curves = run_curves(path)            # loss (and bits per byte) against step
    sampler = RunSampler(latest_run("out"))  # the run written last
    for sample in sampler.samples("ROMEO:", SampleConfig(max_new_tokens=200), num=1, seed=1337):
        for piece in sample: ...             # text as it is generated

Three kinds of directory hold a model: train-gpt's run (latest.pt, best.pt, metrics.jsonl,
which gets a row per logged step and evaluation while the run trains, loss.png, and the
tokenizer's file when it is one), train-char's run (latest.pt, split.json, metrics.json,
written once at the end, and the lab's plots), and a Hugging Face GPT-2, Qwen3 or Llama
directory (written by `export`, or elsewhere). A GPT samples token by token, so its text
streams; a character model draws whole examples (or a stretch of a stream) at once, so each
of its samples comes as one piece. The pieces never repeat the prompt.

Where this sits: reading every kind of run needs the checkpoint loader, the Hugging Face
loader and the character models' sampler, so this module is above those (gpt.checkpoint,
gpt.hf, gpt.char.sample and what they import); the trainers (gpt.train, gpt.char.train)
claim their folder and name their files with it, so they are above it. latest.pt and
best.pt are defined in gpt.checkpoint, whose load_checkpoint turns a run folder into its
latest.pt, and are named here with the rest.
"""

from __future__ import annotations

import json
import math
import os
import reprlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gptkit_base.errors import GptkitError
from gptkit_base.files import read_utf8

from .char.models import CHAR_KIND
from .char.sample import checkpoint_samples
from .checkpoint import (
    BEST,
    LATEST,
    CheckpointError,
    checkpoint_tokenizer,
    gpt_from_state,
    load_checkpoint,
    tokenizer_info,
)
from .config import SettingsConflict
from .device import pick_device
from .generate import SampleConfig, stream_text
from .hf import is_hf_directory, load_hf_for_sampling
from .progress import gpt_shape

METRICS = "metrics.jsonl"  # train-gpt: a row per logged step and per evaluation, appended as the run trains
LOSS_PLOT = "loss.png"  # the loss curves (train-gpt's and train-char's)
DATA_DIR = "data"  # train-gpt --input and train-char --stream: the text prepared into token shards
CHAR_METRICS = "metrics.json"  # train-char: NLL of each split, the loss history
SPLIT_FILE = "split.json"  # train-char: which examples each split holds (and the data's sha256)
# train-char --plots: the lectures' plots (gpt/char/plots.py draws them)
COUNTS_PLOT = "counts.png"
EMBEDDING_PLOT = "embedding.png"
ACTIVATIONS_PLOT = "activations.png"
GRADIENTS_PLOT = "gradients.png"
UPDATE_RATIO_PLOT = "update_ratio.png"
CHAR_PLOTS = (COUNTS_PLOT, LOSS_PLOT, EMBEDDING_PLOT, ACTIVATIONS_PLOT, GRADIENTS_PLOT, UPDATE_RATIO_PLOT)


@dataclass(frozen=True)
class RunFiles:
    """The files of one kind of run: any of `held` in a folder means it holds such a run; `written` are all the
    files a run of that kind writes (an overwrite or a discarded run removes them)."""

    held: tuple[str, ...]
    written: tuple[str, ...]


GPT_FILES = RunFiles(held=(LATEST, METRICS), written=(LATEST, BEST, METRICS, LOSS_PLOT))
CHAR_FILES = RunFiles(held=(LATEST, CHAR_METRICS), written=(LATEST, CHAR_METRICS, SPLIT_FILE, *CHAR_PLOTS))


class RunExists(GptkitError, ValueError):
    """A fresh run was asked to write a directory that holds a run (neither --resume nor --overwrite)."""


class RunFileError(GptkitError, ValueError):
    """A file of a run folder that cannot be read as what it should be (the message names the file and line)."""


def check_resume_or_overwrite(resume: bool, overwrite: bool) -> None:
    """--resume (go on with OUT's run) and --overwrite (replace it) exclude each other (SettingsConflict)."""
    if resume and overwrite:
        raise SettingsConflict("give --resume or --overwrite, not both")


def claim_run(out: str | os.PathLike, files: RunFiles, overwrite: bool, resumable: bool = True) -> None:
    """A fresh run (train-gpt's or train-char's): refuse a directory that holds a run (any of files.held), unless
    told to overwrite it; then the old run's files go at once, so none of them mixes with the new."""
    out = Path(out)
    found = [name for name in files.held if (out / name).exists()]
    if not found:
        return
    if not overwrite:
        resume = "continue it with --resume, " if resumable else ""
        raise RunExists(f"{out} already holds a run ({', '.join(found)}); {resume}start it over with --overwrite, "
                        "or give another --out")
    discard_run(out, files)


def discard_run(out: str | os.PathLike, files: RunFiles, extra: Iterable[str | None] = ()) -> None:
    """Remove a run's files (files.written, and the `extra` names that are not None) from its folder."""
    for name in (*files.written, *extra):
        if name is not None:
            (Path(out) / name).unlink(missing_ok=True)


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The rows of a metrics.jsonl. A torn last line (the writer was killed mid-row) is dropped; any other
    line that is not a JSON object is an error (RunFileError) naming the file and the line."""
    lines = read_utf8(path).split("\n")
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            if number == len(lines):  # no newline after it: the last write did not finish
                break
            raise RunFileError(f"{path} line {number}: not a metrics row; repair or remove that line, then resume")
        rows.append(row)
    return rows


def find_runs(root: str | os.PathLike) -> list[Path]:
    """The run directories under root (root itself included): those holding a latest.pt, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(path.parent for path in root.glob(f"**/{LATEST}") if path.is_file())


def latest_run(root: str | os.PathLike = "out") -> Path | None:
    """The run directory under `root` whose latest.pt was written last (train-gpt's or train-char's); None if none."""
    runs = [path / LATEST for path in find_runs(root)]
    return max(runs, key=lambda path: path.stat().st_mtime).parent if runs else None


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
        model = f"GPT {gpt_shape(shape)}"
        kind, tokenizer = "gpt", tokenizer_info(state, run_dir).type
    try:
        return RunInfo(kind, state.get("step", 0), model, tokenizer, settings)
    except ValueError as e:
        raise CheckpointError(f"{run_dir}: {e}") from None


def run_curves(run_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """The run's loss curves as (step, value) pairs: "train" and "val" loss (nats per token) and, for a GPT,
    "val_bpb" (bits per byte). A train-gpt run's grow while it trains; a train-char run has them once it ends
    (empty before). RunFileError names the file and line of a damaged log."""
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
                raise RunFileError(f"{run_dir / METRICS} line {line}: a {row['event']} row needs a whole-number step "
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
            raise RunFileError(f"{run_dir / CHAR_METRICS}: not a train-char metrics file") from None
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
