"""The settings of a training run: TrainConfig, nanoGPT's recipes as presets, and what a resume may change.

A config is built in layers: the dataclass's defaults, then a preset's values, then the
settings given explicitly (None = not given). A resumed run starts from the settings saved in
its checkpoint instead, and may change only what does not make it another run: the model's
shape and what decides the data stream (KEPT_ON_RESUME) are refused, naming the change.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from gptkit_base.errors import ConfigError

from .checkpoint import LATEST, CheckpointError, load_checkpoint
from .model import ARCHS, GPTConfig, gelu_name

C = TypeVar("C")
DEFAULT_BLOCK_SIZE = 1024  # GPT-2's context


class SettingsConflict(ConfigError):
    """Settings given together that exclude each other, or that the run's data rules out (the CLI shows it as a
    usage error: the command line itself must change)."""


DTYPES = ("auto", "float32", "bfloat16", "float16")
OPTIMIZERS = ("adamw", "muon")
MUON_MOMENTUM = 0.95  # nanochat's (train-gpt's default; train-char's GPTs use it)


# Each setting a command line offers carries its help text (metadata "help"): the CLI declares its flags from them.
@dataclass
class TrainConfig:
    data: str = ""  # a prepared data directory (python cli.py prepare)
    out: str = "out"
    # model
    arch: str = field(default="gpt2", metadata={"help": "gpt2 = GPT-2's blocks; modern = Qwen3's (rotary positions, "
                                                "RMSNorm + QK-norm, SwiGLU, grouped-query attention, untied head)."})
    n_layer: int = field(default=12, metadata={"help": "Transformer blocks."})
    n_head: int = field(default=12, metadata={"help": "Attention heads."})
    # None: n_head (plain multi-head attention)
    n_kv_head: int | None = field(default=None, metadata={"help": "Key/value heads, dividing n-head (grouped-query "
                                                          "attention; --arch modern only). [default: n-head]"})
    n_embd: int = field(default=768, metadata={"help": "Width of the residual stream."})
    # None: 1024, or with init_from the pretrained model's own context
    block_size: int | None = field(default=None, metadata={"help": "Context length in tokens."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout on embeddings, attention and residuals."})
    bias: bool = False  # nanoGPT's training default: a little faster and as good
    # nanoGPT's exact GELU: as good as GPT-2's tanh form and 2.7x faster forward + backward on CPU (about
    # 15% of a step of the CPU recipe); "tanh" matches GPT-2's weights exactly (model.GELUS)
    gelu: str = field(default="exact", metadata={"help": "GPT-2's GELU: exact = the erf form (nanoGPT's; faster on "
                                                 "CPU), tanh = GPT-2's approximation; none = exact (torch's name for "
                                                 "it). The modern MLP is SwiGLU."})
    # optimisation
    batch_size: int = field(default=12, metadata={"help": "Windows per micro-batch (per process)."})
    grad_accum: int = field(default=1, metadata={"help": "Micro-batches per optimizer step."})
    max_iters: int = field(default=5000, metadata={"help": "Optimizer steps in all."})
    lr: float = field(default=6e-4, metadata={"help": "Peak learning rate."})
    min_lr: float = field(default=6e-5, metadata={"help": "Learning rate at the end of the cosine."})
    warmup_iters: int = field(default=100, metadata={"help": "Steps of linear warmup."})
    # None: max_iters
    lr_decay_iters: int | None = field(default=None, metadata={"help": "Step where the cosine ends."})
    beta1: float = 0.9
    beta2: float = field(default=0.95, metadata={"help": "AdamW beta2."})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay (matrices only)."})
    grad_clip: float = 1.0  # 0: no clipping
    optimizer: str = field(default="adamw", metadata={"help": "adamw = AdamW for every weight; muon = Muon for the "
                                                      "blocks' matrices, AdamW (--lr) for the rest."})  # OPTIMIZERS
    # Muon's defaults are nanochat's (matrix_lr 0.02, momentum 0.95, no weight decay), with Keller Jordan's
    # (modded-nanogpt's) lr scaling by sqrt(max(1, rows / cols)): torch.optim.Muon's adjust_lr_fn "original"
    muon_lr: float = field(default=0.02, metadata={"help": "Muon's peak learning rate (--optimizer muon); it follows "
                                                   "the same warmup and cosine as --lr."})
    muon_momentum: float = field(default=MUON_MOMENTUM, metadata={"help": "Muon's (Nesterov) momentum."})
    muon_weight_decay: float = field(default=0.0, metadata={"help": "Muon's decoupled weight decay."})
    # evaluation and logs
    eval_interval: int = field(default=250, metadata={"help": "Steps between checkpoint + evaluation."})
    eval_iters: int = field(default=20, metadata={"help": "Validation batches per evaluation."})
    # None: train all max_iters steps
    stop_at_val: float | None = field(default=None, metadata={"help": "Stop at the first evaluation whose val loss "
                                                              "is at or below this (its checkpoint is the last)."})
    log_interval: int = 10
    # system
    device: str = field(default="auto", metadata={"help": "auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps."})
    dtype: str = field(default="auto", metadata={"help": "auto: bf16 on GPUs that have it, else fp16 with loss "
                                                  "scaling; fp32 on CPU."})  # one of DTYPES
    compile: bool = False
    fsdp: bool = field(default=False, metadata={"help": "Under torchrun, shard the weights, gradients and AdamW's "
                                                "state across the processes (PyTorch's FSDP2) instead of copying "
                                                "them to each (DDP): for models that outgrow one device."})
    seed: int = field(default=1337, metadata={"help": "Seed of the initial weights and of the data stream."})
    resume: bool = False
    # start from a pretrained model (a Hugging Face GPT-2, Qwen3 or Llama directory, or gpt2 / gpt2-medium /
    # gpt2-large / gpt2-xl): its architecture, shape and weights; block_size may only shorten its context
    init_from: str | None = None
    overwrite: bool = False  # start afresh in a directory that holds a run (its checkpoints and log are replaced)

    def __post_init__(self) -> None:
        self.gelu = gelu_name(self.gelu)  # checkpoints store the current name
        if self.block_size is None and not self.init_from:
            self.block_size = DEFAULT_BLOCK_SIZE
        for name in ("batch_size", "grad_accum", "eval_interval", "eval_iters", "log_interval"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_iters", "warmup_iters"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"need 0 <= min_lr <= lr, got min_lr {self.min_lr} and lr {self.lr}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be {' or '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.muon_lr < 0 or not 0 <= self.muon_momentum < 1 or self.muon_weight_decay < 0:
            raise ConfigError(f"need muon_lr >= 0, 0 <= muon_momentum < 1 and muon_weight_decay >= 0, got "
                              f"{self.muon_lr}, {self.muon_momentum} and {self.muon_weight_decay}")
        if self.fsdp and self.optimizer == "muon":
            raise ConfigError("--fsdp shards each matrix across the processes and Muon orthogonalizes whole "
                              "matrices: use --optimizer adamw with --fsdp")
        if self.fsdp and self.dtype == "float16":
            raise ConfigError("--fsdp trains in bfloat16 or float32: float16's loss scaling is not supported "
                              "with sharded gradients")
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be {' or '.join(ARCHS)}, got {self.arch!r}")
        # said before a fresh run prepares its data (GPTConfig refuses it too); a resume first refuses the change
        if self.n_kv_head is not None and self.arch != "modern" and not self.resume:
            raise ConfigError("n_kv_head (grouped-query attention) is for --arch modern; GPT-2 has a key and value "
                              "head per query head")

    def model_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(vocab_size, self.block_size, self.n_layer, self.n_head, self.n_embd, self.dropout, self.bias,
                         gelu=self.gelu, arch=self.arch, n_kv_head=self.n_kv_head)


# nanoGPT's recipes, under their names
PRESETS: dict[str, dict[str, Any]] = {
    # config/train_shakespeare_char.py (a GPU run of a few minutes)
    "shakespeare-char": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2, batch_size=64,
                             max_iters=5000, lr=1e-3, min_lr=1e-4, warmup_iters=100, beta2=0.99,
                             eval_interval=250, eval_iters=200, log_interval=10),
    # the same, shrunk for a laptop CPU as nanoGPT's README suggests
    "shakespeare-char-cpu": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, batch_size=12,
                                 max_iters=2000, lr=1e-3, min_lr=1e-4, warmup_iters=100, beta2=0.99,
                                 eval_interval=250, eval_iters=20, log_interval=10),
    # config/train_gpt2.py: GPT-2 124M on 8 GPUs, 0.5M tokens per step
    "gpt2-124m": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, dropout=0.0, batch_size=12,
                      grad_accum=40, max_iters=600000, lr=6e-4, min_lr=6e-5, warmup_iters=2000, beta2=0.95,
                      weight_decay=0.1, eval_interval=1000, eval_iters=200),
}
# The modern twins (issue 25): the same data, shape and batch, Qwen3's blocks trained with Muon for their matrices
# and AdamW for the rest (the embedding, the head, the norms' gains); the rates from the sweep in docs/training.md
MODERN_RECIPE = dict(arch="modern", optimizer="muon", muon_lr=0.02, lr=3e-3, min_lr=3e-4)
TWINNED = ("shakespeare-char", "shakespeare-char-cpu")
PRESETS.update({f"{name}-modern": {**PRESETS[name], **MODERN_RECIPE} for name in TWINNED})
# At the CPU recipe's 768 tokens a step, Muon's Newton-Schulz iterations (5 x 3 products per matrix) are about as
# much arithmetic as the forward and backward, and the modern blocks' elementwise work adds a quarter: a step takes
# about 1.9x GPT-2's. The CPU twin takes half the steps, so it runs in the wall time of the recipe it twins
# (and still ends far below it: docs/training.md). At the GPU recipe's 16k tokens a step it is, by the FLOPs, a few
# percent of a step.
PRESETS["shakespeare-char-cpu-modern"]["max_iters"] = 1000

SHAPE = ("n_layer", "n_head", "n_embd", "block_size")


def twin(preset: str, arch: str | None) -> str:
    """The preset for `arch`: its modern twin for "modern", the preset itself otherwise."""
    return f"{preset}-modern" if arch == "modern" and preset in TWINNED else preset


def preset_for(device_type: str, arch: str | None = None) -> str:
    """The recipe of a run given neither a preset nor a shape: sized for the device it runs on (TrainConfig's
    own defaults are GPT-2-124M, which stalls a laptop CPU without a word), the modern twin for --arch modern."""
    return twin("shakespeare-char" if device_type == "cuda" else "shakespeare-char-cpu", arch)

# what a resumed run keeps: the model's shape, and what decides the data stream it has been reading
# (batches are drawn from (seed, step * grad_accum)), and the optimizer (its state is another optimizer's); a
# change would silently train another run
KEPT_ON_RESUME = ("arch", "n_layer", "n_head", "n_kv_head", "n_embd", "block_size", "dropout", "bias", "gelu",
                  "batch_size", "grad_accum", "seed", "optimizer", "fsdp")
# kept settings added after checkpoints were written: the value those runs were trained with (a resume that gives
# another value must be refused, not read as a change to a setting the checkpoint never named)
PREDATED = {"arch": "gpt2", "n_kv_head": None, "optimizer": "adamw", "fsdp": False}


def build_config(cls: type[C], base: dict[str, Any], overrides: dict[str, Any]) -> C:
    """A config dataclass: its defaults, then `base` (a preset), then the overrides that are not None."""
    unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
    if unknown:
        raise ConfigError(f"unknown training settings: {', '.join(unknown)}")
    return cls(**{**base, **{k: v for k, v in overrides.items() if v is not None}})


def config_from(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """A TrainConfig: the defaults, then a preset's values, then explicit overrides (None = not given)."""
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    return build_config(TrainConfig, PRESETS[preset] if preset else {}, overrides)


@dataclass(frozen=True)
class RunKind:
    """What resuming a kind of run needs to know (train-gpt's here, train-char's in gpt.char.train): the class of
    its settings, the "kind" its checkpoints are tagged with (None: train-gpt's carry none), the command that
    trains it, and the settings a resume keeps."""

    settings: type
    tag: str | None
    command: str
    kept: tuple[str, ...]
    predated: dict[str, Any] = field(default_factory=dict)  # what older checkpoints ran with, for settings they lack


GPT_RUN = RunKind(TrainConfig, None, "train-gpt", KEPT_ON_RESUME, PREDATED)


def resume_config(out: str | os.PathLike, preset: str | None = None, **overrides: Any) -> TrainConfig:
    """The settings that continue the run in `out`: its checkpoint's, then a preset's values and the
    overrides that are not None. Changing a setting in KEPT_ON_RESUME is refused (CheckpointError)."""
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    return resumed_config(GPT_RUN, out, {**(PRESETS[preset] if preset else {}), **overrides})


def resumed_config(run: RunKind, out: str | os.PathLike, given: dict[str, Any]) -> Any:
    """The settings that continue a run of that kind in `out`: its checkpoint's, then the `given` ones that are not
    None; a change to one of run.kept is refused (CheckpointError), naming it."""
    path = Path(out) / LATEST
    saved = saved_train_config(load_checkpoint(path, map_location="cpu", mmap=True), path, run)
    cfg = build_config(run.settings, saved, {**given, "out": str(out), "resume": True, "overwrite": False})
    check_kept(saved, cfg, path, run.kept)
    return cfg


def saved_train_config(state: dict, source: str | os.PathLike, run: RunKind = GPT_RUN) -> dict[str, Any]:
    """A checkpoint's training settings, those this version knows (CheckpointError if it is not a checkpoint of
    that kind of run, or they are not a dict)."""
    saved = state.get("train_config")
    if state.get("kind") != run.tag or not isinstance(saved, dict):
        raise CheckpointError(f"{source}: not a {run.command} checkpoint"
                              + (" (no training settings)" if state.get("kind") == run.tag else ""))
    known = {f.name for f in fields(run.settings)}
    # in this version's names: a run saved with gelu "none" resumed with "exact" is the same run
    return {**run.predated, **{k: gelu_name(v) if k == "gelu" else v for k, v in saved.items() if k in known}}


def check_kept(saved: dict[str, Any], cfg: Any, source: str | os.PathLike,
               kept: tuple[str, ...] = KEPT_ON_RESUME) -> dict[str, tuple]:
    """Refuse a resume that changes a `kept` setting; the settings it does change, {name: (old, new)}."""
    now = asdict(cfg)
    changed = {k: (saved[k], now[k]) for k in saved if saved[k] != now[k] and k not in ("resume", "overwrite")}
    refused = [f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items() if k in kept]
    if refused:
        raise CheckpointError(
            f"{source}: --resume continues the run as it was trained and cannot change {', '.join(refused)}; "
            "train a new run to change them (another --out, or --overwrite)"
        )
    return changed
