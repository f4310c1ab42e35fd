"""Checkpoints: one file per snapshot, written atomically, loaded without running pickled code.

A checkpoint is a dict saved with torch.save and read back with
torch.load(weights_only=True), which only rebuilds tensors and plain Python
values, so a checkpoint from elsewhere cannot execute code. It holds:

    format, version        "gptkit-checkpoint", 1
    model_config           GPTConfig as a dict
    model                  the state dict of the plain (uncompiled, unwrapped) module
    optimizer, scaler      their state dicts (scaler None without fp16); optimizer is AdamW's
    muon                   Muon's state dict with --optimizer muon (the blocks' matrices), else None; absent
                           from checkpoints older than the option
    step                   optimizer steps taken
    best_val_loss          the lowest validation loss so far
    rng                    torch's CPU RNG state, and CUDA's when on a GPU (dropout)
    train_config           the training settings, for the record and for --resume
    tokenizer              the data manifest's tokenizer identity (type, vocab, specials, sha256)
    data_manifest_sha256   which prepared data the model was trained on

A run directory holds latest.pt and best.pt, and tokenizer.model when the
tokenizer is a file (so generation needs nothing but the run directory).

Weights from a file are checked before a model is built for them (check_weights, which
every loader uses: train-gpt's and train-char's checkpoints, Hugging Face directories).
A config of a few numbers can ask for a model of any size, so the model is first built
on PyTorch's meta device, which allocates nothing, to learn from its own constructor the
exact names, shapes and dtypes of its tensors; the file must hold exactly those, each
with its own data (not a meta tensor, nor a view that repeats a smaller storage or shares
another tensor's), and finite. Only then is the real model built: what it allocates is
what the file holds. The meta build itself is bounded too (a constructor's loop over a
crafted n_layer of 10**9 would be the bomb): it may make only so many torch calls per
tensor the file holds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from gptkit_base.errors import GptkitError
from gptkit_base.files import atomic_write
from minbpe import Tokenizer
from pipeline.manifest import TokenizerInfo

from .model import GPT, GPTConfig

FORMAT = "gptkit-checkpoint"
VERSION = 1
# a run folder's checkpoints: defined here, where load_checkpoint turns a run folder into its latest.pt;
# gpt.runs names them with the folder's other files
LATEST = "latest.pt"
BEST = "best.pt"
# torch calls a model's constructor may make per tensor the file holds (measured: at most 9, CharGPT's)
BUILD_CALLS_PER_TENSOR = 64


class CheckpointError(GptkitError, ValueError):
    """A checkpoint that is missing, truncated, foreign or does not fit the run."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a checkpoint to a temporary file, then rename it over `path`: never half-written."""
    with atomic_write(path) as f:
        torch.save({"format": FORMAT, "version": VERSION, **state}, f)


def rng_states(device: torch.device) -> dict[str, torch.Tensor | None]:
    """torch's RNG states, for a checkpoint a run resumes from bit for bit (dropout draws from them): the CPU's,
    and the GPU's on a GPU."""
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def set_rng_states(states: dict[str, torch.Tensor | None], device: torch.device) -> None:
    """Put back the RNG states rng_states() saved."""
    torch.set_rng_state(states["torch"])
    if device.type == "cuda" and states["cuda"] is not None:
        torch.cuda.set_rng_state(states["cuda"], device)


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


def tokenizer_info(state: dict[str, Any], source: str | os.PathLike) -> TokenizerInfo:
    """The identity of the tokenizer a checkpoint was trained with (CheckpointError if the record is bad)."""
    try:
        return TokenizerInfo(**state["tokenizer"])
    except (KeyError, TypeError):
        raise CheckpointError(f"{source}: the checkpoint's tokenizer record is missing or malformed") from None


def checkpoint_tokenizer(run_dir: str | os.PathLike, state: dict[str, Any]) -> Tokenizer:
    """The tokenizer a checkpoint was trained with: gpt2 / gpt4 by name, else the run's tokenizer.model.
    CheckpointError if it has more ids than the model embeds (sampling would feed the model ids it has not)."""
    run_dir = Path(run_dir)
    tokenizer = tokenizer_info(state, run_dir).load(run_dir if run_dir.is_dir() else run_dir.parent)
    config = state.get("model_config")
    embedded = config.get("vocab_size") if isinstance(config, dict) else None
    if type(embedded) is not int or tokenizer.n_vocab > embedded:
        raise CheckpointError(f"{run_dir}: its tokenizer has {tokenizer.n_vocab} ids, the model embeds "
                              f"{embedded!r:.40}; the file is corrupt or crafted")
    return tokenizer


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[GPT, dict]:
    """The model of a checkpoint (a run directory's latest.pt, or a .pt file) in eval mode, and the checkpoint."""
    state = load_checkpoint(run_dir, map_location=device)
    return gpt_from_state(state, run_dir, device), state


def checked_model_config(state: dict, source: str | os.PathLike) -> GPTConfig:
    """A train-gpt checkpoint's GPTConfig, once its weights are checked to be exactly that GPT's (check_weights):
    a crafted config cannot ask for a model larger than the file."""
    raw, weights = state.get("model_config"), state.get("model")
    if not isinstance(raw, dict) or not isinstance(weights, dict):
        raise CheckpointError(f"{source}: not a train-gpt checkpoint")
    try:
        config = GPTConfig(**raw)
    except (TypeError, ValueError, AssertionError) as e:
        raise CheckpointError(f"{source}: its model_config is not a GPT's ({e})") from None
    check_weights(lambda: GPT(config), weights, source)
    return config


def gpt_from_state(state: dict, source: str | os.PathLike, device: str | torch.device = "cpu") -> GPT:
    """The GPT of a loaded train-gpt checkpoint, in eval mode; CheckpointError if it is not one or does not fit."""
    model = GPT(checked_model_config(state, source))
    model.load_state_dict(state["model"])
    return model.to(device).eval()


class _OverBudget(Exception):
    """A meta build made more torch calls than its budget (not a ValueError: no constructor catches it)."""


class _Budget(TorchFunctionMode):
    """A meta build's torch calls: counted (tensor factories and initialisers alike), the build stopped when they run
    out; and the in-place initialisers (normal_, kaiming_uniform_...) skipped, as they change nothing on the meta
    device (the first one run would also import torch._dynamo, a second of every loader's start)."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.left = calls

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.left -= 1
        kwargs = kwargs or {}
        name, target = getattr(func, "__name__", ""), args[0] if args else next(iter(kwargs.values()), None)
        if name.endswith("_") and not name.endswith("__") and isinstance(target, torch.Tensor) and target.is_meta:
            result = target
        else:
            result = func(*args, **kwargs)
        # stopped only at a call that makes a tensor: the calls that unwind the build (no_grad's exit
        # restoring grad mode...) must still run
        if self.left < 0 and isinstance(result, torch.Tensor):
            raise _OverBudget
        return result


def check_weights(build: Callable[[], nn.Module], weights: Any, source: str | os.PathLike,
                  error: type[ValueError] = CheckpointError) -> nn.Module:
    """Check that `weights` are exactly the tensors of the model build() makes, before it is built for real (see
    the module doc); the model built on the meta device, or `error` naming the source and the first tensor that
    differs. Modules may declare, as attributes, `file_sized`: groups of their buffers whose length the file
    gives (the same within a group), and `may_hold_minus_inf`: log-probability buffers where -inf means 0."""
    if not isinstance(weights, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                for k, v in weights.items()):
        raise error(f"{source}: its weights are not named tensors")
    try:
        with torch.device("meta"), _Budget(BUILD_CALLS_PER_TENSOR * (len(weights) + 1)):
            model = build()
    except _OverBudget:
        raise error(f"{source}: its config asks for a far larger model than the {len(weights)} tensors the file "
                    "holds; the file is corrupt or crafted") from None
    except (TypeError, ValueError, KeyError, RuntimeError, ArithmeticError) as e:  # RecursionError is a RuntimeError
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise error(f"{source}: its config does not build a model ({reason})") from None
    expected = model.state_dict()
    sized, minus_inf = {}, set()
    for prefix, module in model.named_modules():
        dot = f"{prefix}." if prefix else ""
        for group in getattr(module, "file_sized", ()):
            sized.update({dot + name: dot + group[0] for name in group})
        minus_inf.update(dot + name for name in getattr(module, "may_hold_minus_inf", ()))
    tied = {name: id(t) for named in (model.named_parameters(remove_duplicate=False),
                                      model.named_buffers(remove_duplicate=False)) for name, t in named}
    lengths: dict[str, int] = {}
    owners: dict[tuple, str] = {}
    for name, want in expected.items():
        have = weights.get(name)
        if have is None:
            raise error(f"{source}: the config makes {name} of shape {tuple(want.shape)}, the file does not hold it")
        shape, made = tuple(have.shape), tuple(want.shape)
        if name in sized and have.dim() == want.dim():  # its length is the file's, the same for its whole group
            made = (lengths.setdefault(sized[name], shape[0]), *made[1:])
        if shape != made:
            raise error(f"{source}: the file holds {name} of shape {shape}, the config makes {made}; the file is "
                        "corrupt or crafted")
        if have.dtype != want.dtype and not (have.is_floating_point() and want.is_floating_point()):
            raise error(f"{source}: the file holds {name} as {have.dtype}, the model needs "
                        f"{'floating point' if want.is_floating_point() else want.dtype}")
        storage = have.untyped_storage()
        if have.is_meta or (have.numel() and storage.nbytes() < have.numel() * have.element_size()):
            raise error(f"{source}: the file holds {name} of shape {shape} without its data ({storage.nbytes()} "
                        "bytes); the file is corrupt or crafted")
        if storage.nbytes():  # one storage serves two names only where the model ties them (a tied head)
            owner = owners.setdefault((have.device, storage.data_ptr()), name)
            if tied[owner] != tied[name]:
                raise error(f"{source}: the file's {name} shares its data with {owner}, which the model does not "
                            "tie to it; the file is corrupt or crafted")
    extra = next((name for name in weights if name not in expected), None)
    if extra is not None:
        raise error(f"{source}: the file holds {extra}, which the config does not make; the file is corrupt or "
                    "crafted")
    for name, have in weights.items():
        if have.is_floating_point() and have.numel():
            # a NaN anywhere makes both the least and the greatest NaN (and this is 6x faster than isfinite)
            bounds = [float(x) for x in torch.aminmax(have)]
            if not all(math.isfinite(x) or (x == -math.inf and name in minus_inf) for x in bounds):
                raise error(f"{source}: {name} holds NaN or infinite values; the run diverged or the file is "
                            "damaged")
    return model
