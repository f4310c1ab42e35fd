"""Checkpoints: one file per snapshot, written atomically, loaded without running pickled code.

A checkpoint is a dict saved with torch.save and read back with
torch.load(weights_only=True), which only rebuilds tensors and plain Python
values, so a checkpoint from elsewhere cannot execute code. It holds:

    format, version        "gptkit-checkpoint", 1
    model_config           GPTConfig as a dict
    model                  the state dict of the plain (uncompiled, unwrapped) module
    optimizer, scaler      their state dicts (scaler None without fp16)
    step                   optimizer steps taken
    best_val_loss          the lowest validation loss so far
    rng                    torch's CPU RNG state, and CUDA's when on a GPU (dropout)
    train_config           the training settings, for the record and for --resume
    tokenizer              the data manifest's tokenizer identity (type, vocab, specials, sha256)
    data_manifest_sha256   which prepared data the model was trained on

A run directory holds latest.pt and best.pt, and tokenizer.model when the
tokenizer is a file (so generation needs nothing but the run directory).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from minbpe import Tokenizer
from minbpe.files import atomic_write
from pipeline.manifest import TokenizerInfo

from .model import GPT, GPTConfig

FORMAT = "gptkit-checkpoint"
VERSION = 1
LATEST = "latest.pt"
BEST = "best.pt"


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, foreign or does not fit the run."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a checkpoint to a temporary file, then rename it over `path`: never half-written."""
    with atomic_write(path) as f:
        torch.save({"format": FORMAT, "version": VERSION, **state}, f)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint (no pickled code runs); CheckpointError says what is wrong with a bad one.

    mmap=True maps the tensors from the file instead of reading them (to look at a large checkpoint's
    settings without loading its weights)."""
    path = Path(path)
    if path.is_dir():
        path = path / LATEST
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint here; give the run directory of a train-gpt or train-char run")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as e:  # torch raises RuntimeError / UnpicklingError / EOFError for bad files
        if "Weights only load failed" in str(e):  # torch's text goes on to suggest an unsafe load: not ours to pass on
            reason = "it holds Python objects other than tensors and plain values, which gptkit never unpickles"
        elif "mmap can only be used" in str(e):  # torch's text for a file that is not a zip archive at all
            reason = "it is not a torch zip archive"
        else:
            reason = " ".join(str(e).split())[:200]
        raise CheckpointError(f"{path}: not a readable checkpoint, truncated or corrupt ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gptkit checkpoint")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state['version']} is newer than this gptkit reads")
    return state



def latest_run(root: str | os.PathLike = "out") -> Path | None:
    """The run directory under `root` whose latest.pt was written last (train-gpt's or train-char's); None if none."""
    root = Path(root)
    runs = [path for path in root.glob(f"**/{LATEST}") if path.is_file()] if root.is_dir() else []
    return max(runs, key=lambda path: path.stat().st_mtime).parent if runs else None


def tokenizer_info(state: dict[str, Any], source: str | os.PathLike) -> TokenizerInfo:
    """The identity of the tokenizer a checkpoint was trained with (CheckpointError if the record is bad)."""
    try:
        return TokenizerInfo(**state["tokenizer"])
    except (KeyError, TypeError):
        raise CheckpointError(f"{source}: the checkpoint's tokenizer record is missing or malformed") from None


def checkpoint_tokenizer(run_dir: str | os.PathLike, state: dict[str, Any]) -> Tokenizer:
    """The tokenizer a checkpoint was trained with: gpt2 / gpt4 by name, else the run's tokenizer.model."""
    run_dir = Path(run_dir)
    return tokenizer_info(state, run_dir).load(run_dir if run_dir.is_dir() else run_dir.parent)


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[GPT, dict]:
    """The model of a checkpoint (a run directory's latest.pt, or a .pt file) in eval mode, and the checkpoint."""
    state = load_checkpoint(run_dir, map_location=device)
    return gpt_from_state(state, run_dir, device), state


def checked_model_config(state: dict, source: str | os.PathLike) -> GPTConfig:
    """A train-gpt checkpoint's GPTConfig, checked against the weights it holds before anything is built: the
    number of layers and the embedding shapes must be the tensors', so a crafted config cannot ask for a model
    far larger than the file (n_layer = 10**9 would otherwise allocate until the machine gives out)."""
    raw, weights = state.get("model_config"), state.get("model")
    if not isinstance(raw, dict) or not isinstance(weights, dict):
        raise CheckpointError(f"{source}: not a train-gpt checkpoint")
    try:
        config = GPTConfig(**raw)
    except (TypeError, ValueError, AssertionError) as e:
        raise CheckpointError(f"{source}: its model_config is not a GPT's ({e})") from None
    layers = {key.split(".")[2] for key in weights if isinstance(key, str) and key.startswith("transformer.h.")}
    shapes = {name: tuple(t.shape) if isinstance(t, torch.Tensor) else None
              for name, t in ((n, weights.get(f"transformer.{n}.weight")) for n in ("wte", "wpe"))}
    expected = {"wte": (config.vocab_size, config.n_embd), "wpe": (config.block_size, config.n_embd)}
    n_layer = config.n_layer  # compared by count first: a set of 10**9 names would be the bomb itself
    if not isinstance(n_layer, int) or len(layers) != n_layer or layers != {str(i) for i in range(n_layer)}:
        raise CheckpointError(f"{source}: model_config says {config.n_layer!r} layers, the weights hold "
                              f"{len(layers)}; the file is corrupt or crafted")
    if shapes != expected:
        raise CheckpointError(f"{source}: model_config does not fit the embedding weights (config {expected}, "
                              f"weights {shapes}); the file is corrupt or crafted")
    return config


def gpt_from_state(state: dict, source: str | os.PathLike, device: str | torch.device = "cpu") -> GPT:
    """The GPT of a loaded train-gpt checkpoint, in eval mode; CheckpointError if it is not one or does not fit."""
    model = GPT(checked_model_config(state, source))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        reason = str(e).splitlines()[0]
        raise CheckpointError(f"{source}: the weights do not fit the model config ({reason})") from None
    return model.to(device).eval()
