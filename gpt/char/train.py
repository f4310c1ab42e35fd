"""Training the character-level models: one loop for the bigram net, the MLPs, WaveNet and the GPT.

    result = train_char(char_config("mlp", input="data/names.txt", out="out/char/mlp"))
    result.nll["val"], result.samples

Every model is trained the same way: at each step a random batch of rows (the
whole training split when batch_size is 0), the mean NLL of the next character,
one optimizer step. The learning rate is a step schedule, as in the lectures: lr
[0.1, 0.01] with lr_decay_at 0.5 means 0.1 for the first half of the steps and
0.01 after. The MLPs use plain SGD, as the lectures do; the GPT uses AdamW, as
makemore does. The bigram net adds an L2 penalty (weight_decay times the mean
squared weight) to its training loss; the reported NLL never includes it. The
count models (bigram, n-gram) are fitted exactly and take no steps. An ensemble
trains nothing either: it mixes finished runs on the same data and split, with
weights fitted on val (gpt/char/models.py's Mixture). With ema (e.g. 0.999) the run keeps
an exponential moving average of the weights after every step (its decay warmed up
over the first steps) and evaluates, samples and saves that average instead: it
smooths out the noise of the last steps, which on small data beat a lower learning
rate for the GPT. Which model trains how is its entry in gpt/char/models.py's REGISTRY.

A run directory gets: latest.pt (the model, its settings and the vocabulary;
``python cli.py generate`` reads it), split.json (which input lines are in
train/val/test, with the seed), metrics.json (the NLLs, the loss curve, and what
the plots need), and with plots the PNGs of gpt/char/plots.py. (Runs written before
the held-out split was called val say "dev" in these files; nothing reads those keys
back, so such a run still serves as an ensemble member.)

A model trained by steps is saved as it goes: latest.pt at each evaluation, and, when
the run is stopped (Ctrl-C, SIGTERM, or a callback's KeyboardInterrupt), at the last
completed step. Besides what generate reads, such a checkpoint holds what the steps
need to go on: the weights being trained (not their moving average), the optimizer,
the RNG states and the batch generator's, and the history so far. resume=True
continues from it exactly: a run stopped and resumed ends bit for bit as the run that
was not stopped (on the CPU). It continues the run as it was: the settings in
CHAR_RUN.kept (the model and its shape, the split, the seed, the batch size...) and the
data (its sha256) must be the checkpoint's, or it refuses, naming them; max_steps, the
learning rates, the evaluation interval, the samples, the plots and the device may
change. The count models and the ensemble take no steps: they have nothing to resume.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from gptkit_base import texts
from gptkit_base.errors import ConfigError
from gptkit_base.files import atomic_write_text, exclusive_directory, read_utf8
from gptkit_base.signals import HeldSignals
from minbpe.core import counted

from ..checkpoint import (
    CheckpointError,
    check_weights,
    load_checkpoint,
    rng_states,
    save_checkpoint,
    set_rng_states,
)
from ..config import MUON_MOMENTUM, OPTIMIZERS, RunKind, build_config, check_kept, resumed_config, saved_train_config
from ..device import pick_device
from ..generate import SampleConfig
from ..runs import (
    CHAR_FILES,
    CHAR_METRICS,
    CHAR_PLOTS,
    DATA_DIR,
    LATEST,
    SPLIT_FILE,
    check_resume_or_overwrite,
    claim_run,
)
from ..train import TrainingError, build_optimizers, report_changes
from .data import BOUNDARY, SPLITS, LineData, StreamData, pack
from .models import CHAR_KIND, MODELS, REGISTRY, Mixture, build_model, char_model_from_state, mixture_weights
from .plots import write_plots
from .sample import sample

# the longest context block_size 0 chooses by itself (GPT-2's): a file with one 2M-character line would otherwise
# build a GPT whose attention over that context needs terabytes
MAX_AUTO_CONTEXT = 1024


# the settings with a help text (metadata "help") are train-char's flags of the same names
@dataclass
class CharConfig:
    model: str = "mlp"
    input: str = str(texts.NAMES)  # makemore's names, bundled
    out: str = "out/char"
    stream: bool = False  # a long text (train/val from the pipeline) instead of one example per line
    split: str = "80/10/10"  # or "none": train and evaluate on every example
    seed: int = 42
    block_size: int = field(default=3, metadata={"help": "Context length in characters (ngram: 5 = 6-grams; gpt: 0 = "
                                                 "the longest example + 1)."})
    n_embd: int = field(default=10, metadata={"help": "Embedding width."})
    n_hidden: int = field(default=200, metadata={"help": "Hidden units of the MLPs and WaveNet."})
    n_layer: int = field(default=4, metadata={"help": "gpt: Transformer blocks."})
    n_head: int = field(default=4, metadata={"help": "gpt: attention heads."})
    dropout: float = field(default=0.0, metadata={"help": "gpt: dropout."})
    max_steps: int = field(default=200_000, metadata={"help": "Optimizer steps."})
    batch_size: int = field(default=32, metadata={"help": "Rows per step (0 = the whole training split)."})
    lr: list[float] = field(default_factory=lambda: [0.1])
    lr_decay_at: float = field(default=0.5, metadata={"help": "Fraction of the steps after which each next --lr "
                                                      "value starts."})
    weight_decay: float = field(default=0.0, metadata={"help": "gpt: AdamW's weight decay; bigram-nn: the L2 "
                                                       "penalty."})
    optimizer: str = field(default="adamw", metadata={"help": "gpt models: adamw = AdamW for every weight; muon = "
                                                      "Muon for the blocks' matrices, AdamW (--lr) for the rest."})
    muon_lr: float = field(default=0.02, metadata={"help": "Muon's learning rate (--optimizer muon); it follows "
                                                   "--lr's schedule, scaled to it."})
    smoothing: float = field(default=1.0, metadata={"help": "bigram-counts: add-k smoothing."})
    members: list[str] = field(default_factory=list)  # ensemble: the run directories it mixes
    ema: float = field(default=0.0, metadata={"help": "Keep, evaluate and save the moving average of the weights "
                                              "with this decay (0 = off)."})
    eval_interval: int = field(default=0, metadata={"help": "Steps between val evaluations (0 = 20 per run)."})
    num_samples: int = 20
    plots: bool = False
    overwrite: bool = False  # replace the run already in `out` (without it, such a directory is refused)
    resume: bool = False  # continue the run in `out` from its latest.pt (see the module doc)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.model not in REGISTRY:
            raise ConfigError(f"unknown model {self.model!r}; models: {', '.join(MODELS)}")
        spec = REGISTRY[self.model]
        if self.stream and spec.lines_only:
            raise ConfigError(f"{self.model} needs a line dataset (examples with boundaries), not --stream")
        if (spec.training == "mix") != bool(self.members):
            raise ConfigError("an ensemble needs --members (run directories), and only an ensemble takes them")
        if spec.training == "mix" and self.plots:
            raise ConfigError("an ensemble has no plots of its own; plot its members' runs")
        for name in ("max_steps", "batch_size", "block_size", "eval_interval", "num_samples"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.block_size < 1 and not (self.block_size == 0 and spec.recipe.get("block_size") == 0):
            raise ConfigError(
                f"block_size must be at least 1 (gpt: 0 = the longest example + 1), got {self.block_size}")
        if not self.lr or any(not v > 0 for v in self.lr):
            raise ConfigError(f"lr must be one or more positive values, got {self.lr}")
        if not 0 < self.lr_decay_at <= 1:
            raise ConfigError(f"lr_decay_at must be in (0, 1], got {self.lr_decay_at}")
        if self.smoothing < 0:
            raise ConfigError(f"smoothing must be >= 0, got {self.smoothing}")
        if self.weight_decay and spec.training == "sgd" and not hasattr(spec.build, "penalty"):
            raise ConfigError(f"weight decay applies to gpt (AdamW) and bigram-nn (an L2 penalty), not {self.model}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be {' or '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.optimizer == "muon" and spec.training != "adamw":
            raise ConfigError(f"muon optimizes a GPT's matrices (gpt models), not {self.model}'s")
        if not self.muon_lr > 0:
            raise ConfigError(f"muon_lr must be positive, got {self.muon_lr}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema must be in [0, 1) (0: off; 0.999 is usual), got {self.ema}")
        if self.resume:
            if self.overwrite:
                raise ConfigError("give resume or overwrite, not both")
            require_steps(self.model)

    @property
    def takes_steps(self) -> bool:
        """Trained by steps (saved between them, resumable), not counted or mixed in one go."""
        return REGISTRY[self.model].training in STEPPED


STEPPED = ("sgd", "adamw")  # the trainings that take steps, and so can be saved between them and resumed


def require_steps(model: str) -> None:
    """Refuse to resume a model that takes no steps, in one line."""
    if REGISTRY[model].training not in STEPPED:
        how = "mixes finished runs" if REGISTRY[model].training == "mix" else "is counted"
        raise ConfigError(f"{model} takes no steps (it {how} in one go): there is nothing to resume; train it again, "
                         "with --overwrite")


# what a resumed run keeps: the model and its shape, and what decides its data, its initial weights and its batches;
# weight_decay and ema too, as AdamW's state and the moving average carry them (a change would train another run),
# and the optimizer (its state is another optimizer's)
CHAR_KEPT = ("model", "stream", "split", "seed", "block_size", "n_embd", "n_hidden", "n_layer", "n_head", "dropout",
             "batch_size", "weight_decay", "ema", "optimizer")


# runs saved before train-char had an optimizer setting were trained with AdamW
CHAR_RUN = RunKind(CharConfig, CHAR_KIND, "train-char", CHAR_KEPT, {"optimizer": "adamw"})


def char_config(model: str, **overrides: Any) -> CharConfig:
    """A CharConfig for `model`: its recipe, then explicit overrides (None = not given)."""
    if model not in REGISTRY:
        raise ConfigError(f"unknown model {model!r}; models: {', '.join(MODELS)}")
    return build_config(CharConfig, {"model": model, **REGISTRY[model].recipe}, overrides)


def resume_char_config(out: str | os.PathLike, **overrides: Any) -> CharConfig:
    """The settings that continue the train-char run in `out`: its checkpoint's, then the overrides that are not
    None. A model that takes no steps, or a change to a setting in CHAR_KEPT, is refused naming it."""
    if overrides.get("model") is not None:
        require_steps(overrides["model"])  # before looking for a checkpoint a counted model never has
    return resumed_config(CHAR_RUN, out, overrides)


def plan_char_run(model: str | None = None, out: str | None = None, resume: bool = False, overwrite: bool = False,
                  **settings: Any) -> CharConfig:
    """train-char's settings from what the user gave (None = not given): with resume, the run in `out`'s own,
    changed only by the settings given; else `model`'s recipe (mlp when None), then the settings given, on the
    bundled names unless `input` is given. `out` defaults to out/char/<model>."""
    check_resume_or_overwrite(resume, overwrite)
    out = out or f"out/char/{model or 'mlp'}"
    if resume:
        return resume_char_config(out, model=model, **settings)
    return char_config(model or "mlp", **{**settings, "input": settings.get("input") or str(texts.NAMES)}, out=out,
                       overwrite=overwrite)


def kept_when_stopped(cfg: CharConfig) -> str:
    """What a stopped run (Ctrl-C, SIGTERM) has kept, in words, and how to go on from it."""
    latest = Path(cfg.out) / LATEST
    if cfg.takes_steps and latest.exists():
        step = load_checkpoint(latest, mmap=True)["step"]
        return f"{latest} holds step {step:,}; continue with: gptkit train-char --out {cfg.out} --resume"
    return "nothing of this run was saved"


def model_args(cfg: CharConfig, vocab_size: int) -> dict:
    """What build_model needs, and what a checkpoint stores to rebuild the model."""
    args = REGISTRY[cfg.model].args
    if args is None:
        raise ConfigError(f"{cfg.model} is built from its members' checkpoints, not from settings")
    return args(cfg, vocab_size)


def lr_at(step: int, cfg: CharConfig) -> float:
    """The step schedule: lr[k] from step k * lr_decay_at * max_steps on."""
    k = int(step / max(cfg.lr_decay_at * cfg.max_steps, 1))
    return cfg.lr[min(k, len(cfg.lr) - 1)]


def ema_update(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    """AveragedModel's update for an exponential moving average of the weights.

    The decay warms up as (1 + n) / (10 + n) at the n-th update (TensorFlow's and
    timm's rule): a plain 0.999 would keep a third of the initial weights after 1,000
    steps, so a short run would report and sample a barely trained model.
    """

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        n = float(num_averaged)
        weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        for a, c in zip(averaged, current, strict=True):
            a.lerp_(c, weight)

    return update


def char_nll(model: nn.Module, data: LineData | StreamData, split: str, device: torch.device) -> float:
    """The mean NLL (nats per character) of every character of a split, boundaries included."""
    return -float(char_log_probs(model, data, split, device).mean())


@torch.no_grad()
def char_log_probs(model: nn.Module, data: LineData | StreamData, split: str, device: torch.device,
                   chunk: int = 4096) -> torch.Tensor:
    """The log-probability the model gives every character of a split (float64), in the split's order:
    example by example, character by character, each final boundary included (so every layout lines up)."""
    if isinstance(model, Mixture):
        return model.mix(torch.stack([char_log_probs(m, data, split, device, chunk) for m in model.members]))
    was_training = model.training
    model.eval()
    x, y = data.rows(split, model.layout, evaluation=True)
    out = []
    for i in range(0, len(x), chunk):
        xb, yb = trim_padding(x[i : i + chunk], y[i : i + chunk])
        xb, yb = xb.to(device), yb.to(device)
        logits, _ = model(xb, yb)
        kept = yb != -1
        log_probs = F.log_softmax(logits.double(), -1)[kept]
        out.append(log_probs.gather(1, yb[kept].unsqueeze(1)).squeeze(1).cpu())
    model.train(was_training)
    return torch.cat(out)


def trim_padding(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences: drop the columns that are padding in every row (a causal model's other outputs are unchanged)."""
    if y.dim() == 1:
        return x, y
    length = int((y != -1).sum(1).max())
    return x[:, :length].contiguous(), y[:, :length].contiguous()


@dataclass
class CharResult:
    model: str
    params: int
    nll: dict[str, float]  # train / val / test (test absent for a stream)
    samples: list[str]
    new: list[bool]  # per sample: not an example of the training split
    seconds: float
    steps: int
    out: Path

    def lines(self, cfg: CharConfig) -> list[str]:
        """The result in words, as train-char prints it: the model's size and steps, the NLL of each split, the
        samples (* marks those that are not in the training set of line data), and the files written."""
        lines = [f"{self.model}: {self.params:,} parameters, {counted(self.steps, 'step')} in {self.seconds:.1f} s"]
        if cfg.split == "none":
            lines.append(f"nll {self.nll['train']:.4f}")
        else:
            lines += [f"{name:<5} nll {value:.4f}" for name, value in self.nll.items()]
        if self.samples:
            lines.append("samples (* = not in the training set):" if not cfg.stream else "samples:")
            lines += [f"  {'*' if new and not cfg.stream else ' '} {text}"
                      for text, new in zip(self.samples, self.new, strict=True)]
        plots = " and the plots" if cfg.plots else ""
        lines.append(f"wrote {self.out}/{LATEST}, {SPLIT_FILE}, {CHAR_METRICS}{plots}")
        return lines


def train_char(cfg: CharConfig, callback: Callable[[dict], None] | None = None) -> CharResult:
    """Train one model on cfg.input (or, with cfg.resume, go on with the run in cfg.out), evaluate every split,
    sample, and write the run directory.

    callback gets the progress of a model trained by steps: {"event": "start", "step", "max_iters",
    "eval_interval", "device", "dtype", "params", "model", its shape, "rows_per_step", "rows"} before the
    first step, {"event": "eval", "step", "train_loss", "val_loss", "lr"} at each evaluation,
    {"event": "step", "step", "train_loss", "lr"} every 100 steps in between, and "message" events.
    """
    report = callback or (lambda event: None)
    out = Path(cfg.out)
    with exclusive_directory(out):  # one writer; a run that fails before writing leaves no directory
        state = load_checkpoint(out / LATEST) if cfg.resume else None
        if state is None:
            claim_run(out, CHAR_FILES, cfg.overwrite, resumable=cfg.takes_steps)
        return _train_char(cfg, report, out, state)


def _train_char(cfg: CharConfig, report: Callable[[dict], None], out: Path, state: dict | None) -> CharResult:
    data = StreamData(cfg.input, out / DATA_DIR) if cfg.stream else LineData(cfg.input, cfg.split, cfg.seed)
    if cfg.block_size == 0:  # the recipe's automatic context: the longest example fits one sequence
        if not cfg.stream and data.max_length + 1 > MAX_AUTO_CONTEXT:
            raise ConfigError(f"{cfg.input}: its longest example is {data.max_length:,} characters, so --block-size 0 "
                             f"(the longest example + 1) would be a context of {data.max_length + 1:,}, over the "
                             f"{MAX_AUTO_CONTEXT:,} it chooses alone: for one long text use --stream, or give "
                             "--block-size explicitly")
        cfg = replace(cfg, block_size=data.max_length + 1 if not cfg.stream else 64)
    if state is not None:  # checked once the data says what block_size 0 means
        _check_resume(state, cfg, data, out / LATEST, report)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    history: dict[str, Any] = {"loss": [], "eval": [], "update_ratio": {}}

    start = time.perf_counter()
    earlier = state["training"].get("seconds", 0.0) if state is not None else 0.0

    def clock() -> float:
        """The run's training time so far, the sessions before a resume included."""
        return earlier + time.perf_counter() - start

    model, args, descent = _fit(cfg, data, device, history, report, out, state, clock)
    seconds = clock()

    nll = {s: char_nll(model, data, s, device) for s in SPLITS if not (cfg.stream and s == "test")}
    generator = torch.Generator(device=device).manual_seed(cfg.seed)  # for the samples only
    samples = sample(model, data.vocab, "", cfg.num_samples, data.sample_length, SampleConfig(), generator)
    known = set(data.examples["train"]) if isinstance(data, LineData) else set()
    steps = descent.step if descent is not None else 0
    result = CharResult(cfg.model, model.num_params(), nll, samples, [s not in known for s in samples], seconds,
                        steps, out)

    for name in CHAR_PLOTS:  # plots of this run's earlier end (a resumed run's) are not this result's
        (out / name).unlink(missing_ok=True)
    _save(out, cfg, model, args, data, result, history, descent)
    if cfg.plots:
        _plot(out, cfg, model, data, history)
    return result


def _check_resume(state: dict, cfg: CharConfig, data: LineData | StreamData, path: Path,
                  report: Callable[[dict], None]) -> None:
    """Refuse to resume from a checkpoint that is not this run's (another kind, model or shape, other data...)."""
    report_changes(report, check_kept(saved_train_config(state, path, CHAR_RUN), cfg, path, CHAR_KEPT))
    if state.get("data_sha256") != data.sha256:
        raise CheckpointError(f"{path} was trained on other data than {cfg.input} holds (its sha256 differs); "
                              "resume on the same data")
    if not isinstance(state.get("training"), dict):
        raise CheckpointError(f"{path} holds no training state to resume from (written before train-char saved "
                              "one); train it again, with --overwrite")
    step = state.get("step")
    if type(step) is not int or step < 0:
        raise CheckpointError(f"{path}: its step ({step!r:.40}) is not a whole number; the file is damaged")
    if cfg.max_steps < step:
        raise CheckpointError(f"{path} holds step {step:,}: max_steps {cfg.max_steps:,} is fewer; give --max-steps "
                              f"{step} or more")


def _fit(cfg: CharConfig, data: LineData | StreamData, device: torch.device, history: dict,
         report: Callable[[dict], None], out: Path, state: dict | None,
         clock: Callable[[], float]) -> tuple[nn.Module, dict, _Descent | None]:
    """The trained model (mixed, counted or by gradient descent, as its REGISTRY entry says), its model_args, and
    the descent that trained it (None for a model without steps)."""
    training = REGISTRY[cfg.model].training
    if training == "mix":
        return (*_mixture(cfg, data, device), None)
    args = model_args(cfg, data.vocab.size)
    model = build_model(cfg.model, args).to(device)
    x_train, y_train = data.rows("train", model.layout)
    if training == "count":
        model.fit(x_train.to(device), y_train.to(device))
        return model, args, None
    descent = _Descent(model, args, cfg, data, device, out, report, clock)
    if state is not None:
        descent.restore(state, history, out / LATEST)
    return descent.run(x_train, y_train, history), args, descent


def _mixture(cfg: CharConfig, data: LineData, device: torch.device) -> tuple[Mixture, dict]:
    """The mixture of cfg.members' finished runs, its weights fitted on val; with its model_args."""
    members, args = [], []
    for run in cfg.members:
        state = load_checkpoint(run)
        model = char_model_from_state(state, run, device)
        split = Path(run) / SPLIT_FILE if Path(run).is_dir() else Path(run).parent / SPLIT_FILE
        try:  # a damaged record matches nothing: the run is refused below, by name
            record = json.loads(read_utf8(split)) if split.is_file() else {}
        except json.JSONDecodeError:
            record = {}
        record = record if isinstance(record, dict) else {}
        if isinstance(model, Mixture) or (record.get("sha256"), record.get("split"), record.get("seed")) \
                != (data.sha256, data.split, data.seed):
            raise ConfigError(f"{run}: not a run on the same line data, split and seed as this ensemble "
                             f"({data.path}, {data.split}, seed {data.seed}); train its members with those")
        members.append(model)
        args.append({"model_name": state["model_name"], "model_args": state["model_args"]})
    mixture = Mixture(members).to(device)
    val = torch.stack([char_log_probs(m, data, "val", device) for m in members])
    mixture.weights.copy_(mixture_weights(val))
    return mixture, {"members": args}


class _Descent:
    """Gradient descent on one model, saved as it goes (see the module doc): run() trains it in place and returns it,
    or with cfg.ema the moving average of its weights (and buffers)."""

    def __init__(self, model: nn.Module, args: dict, cfg: CharConfig, data: LineData | StreamData,
                 device: torch.device, out: Path, report: Callable[[dict], None], clock: Callable[[], float]) -> None:
        self.model, self.args, self.cfg, self.data, self.device = model, args, cfg, data, device
        self.out, self.report, self.clock = out, report, clock
        self.optimizer, self.muon, self.penalty = _optimizers(model, cfg, device)
        self.optimizers = [o for o in (self.optimizer, self.muon) if o is not None]
        self.averaged = AveragedModel(model, multi_avg_fn=ema_update(cfg.ema), use_buffers=True) if cfg.ema else None
        self.evaluated = model if self.averaged is None else self.averaged.module
        self.generator = torch.Generator().manual_seed(cfg.seed)  # the batches'
        self.losses: list[float] = []
        self.step = 0  # steps completed
        self.saved_step = 0  # the step latest.pt holds (0: none of this run)

    def restore(self, state: dict, history: dict, path: Path) -> None:
        """Continue exactly where the checkpoint stopped: weights, their average, optimizer, RNGs, history."""
        training = state["training"]
        try:
            for weights in (training["model"], state["model"]):  # a crafted file builds nothing larger than itself
                check_weights(lambda: build_model(self.cfg.model, self.args), weights, path)
            self.model.load_state_dict(training["model"])
            if self.averaged is not None:
                self.averaged.module.load_state_dict(state["model"])
                self.averaged.n_averaged.copy_(training["ema_updates"])
            self.optimizer.load_state_dict(training["optimizer"])
            if self.muon is not None:
                self.muon.load_state_dict(training["muon"])
            set_rng_states(training["rng"], self.device)
            self.generator.set_state(training["batches"])
            self.losses = training["losses"].tolist()
            if not isinstance(training["eval"], list) or not isinstance(training["update_ratio"], dict):
                raise TypeError("its history is not a list and a dict")
            history["eval"], history["update_ratio"] = training["eval"], training["update_ratio"]
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
            raise CheckpointError(f"{path}: its training state is damaged ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0][:200] if str(e) else 'missing'})") from None
        self.step = self.saved_step = state["step"]

    def training_state(self, history: dict) -> dict:
        """What the steps need to go on, beside the weights generate samples (the average, with ema)."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "muon": self.muon.state_dict() if self.muon is not None else None,
                "ema_updates": self.averaged.n_averaged.clone() if self.averaged is not None else None,
                "rng": rng_states(self.device), "batches": self.generator.get_state(),
                "losses": torch.tensor(self.losses, dtype=torch.float64), "eval": history["eval"],
                "update_ratio": history["update_ratio"], "seconds": self.clock()}

    def save(self, history: dict) -> None:
        """latest.pt of the last completed step (unless it holds it already, or no step of this run is done)."""
        if self.step == self.saved_step:
            return
        save_checkpoint(self.out / LATEST, {**_run_state(self.cfg, self.evaluated, self.args, self.data, self.step),
                                            "training": self.training_state(history)})
        self.saved_step = self.step

    def run(self, x_train: torch.Tensor, y_train: torch.Tensor, history: dict) -> nn.Module:
        cfg, model = self.cfg, self.model
        # a GPT's batch of examples is packed into fewer rows, each example starting at its boundary
        packed = model.layout.kind == "sequences" and isinstance(self.data, LineData)
        eval_interval = cfg.eval_interval or max(cfg.max_steps // 20, 1)
        ratio_interval = max(cfg.max_steps // 1000, 1)
        start = {"event": "start", "step": self.step, "max_iters": cfg.max_steps, "eval_interval": eval_interval,
                 "device": str(self.device), "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
                 "params": model.num_params(), "model": cfg.model,
                 **{k: v for k, v in self.args.items() if k in ("n_layer", "n_embd", "n_hidden", "block_size")},
                 "rows_per_step": min(cfg.batch_size or len(x_train), len(x_train)),
                 "rows": "examples" if packed else model.layout.kind}
        batches = _batches(x_train, y_train, cfg, packed, self.device, self.generator, cfg.max_steps - self.step)
        model.train()
        with HeldSignals() as signals:  # from the start event on: a run that says it trains saves when stopped
            try:
                self.report(start)
                for step, (x, y) in enumerate(batches, start=self.step):
                    self._step(step, x, y, packed, ratio_interval, history)
                    if self.step % eval_interval == 0 or self.step == cfg.max_steps:
                        val = char_nll(self.evaluated, self.data, "val", self.device)
                        history["eval"].append({"step": self.step, "val": val})
                        self.save(history)
                        self.report({"event": "eval", "step": self.step, "train_loss": self.losses[-1],
                                     "val_loss": val, "lr": lr_at(step, cfg)})
                    elif self.step % 100 == 0:
                        self.report({"event": "step", "step": self.step, "train_loss": self.losses[-1],
                                     "lr": lr_at(step, cfg)})
                    if signals.pending:
                        break
            except KeyboardInterrupt:  # a callback's, between two steps (signals wait for the step to end: below)
                self.save(history)
                raise
            if signals.pending:
                self.save(history)
                signals.deliver()
        history["loss"] = _loss_curve(self.losses)
        return self.evaluated

    def _step(self, step: int, x: torch.Tensor, y: torch.Tensor, packed: bool, ratio_interval: int,
              history: dict) -> None:
        """Step `step` (from 0): the loss, its gradient, the update, the moving average; self.step becomes step + 1."""
        model, cfg = self.model, self.cfg
        _, loss = model(x, y, bos=BOUNDARY) if packed else model(x, y)
        objective = loss + self.penalty * model.penalty() if self.penalty else loss
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        objective.backward()
        lr = lr_at(step, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.muon is not None:  # the same schedule, scaled to Muon's own first rate (as train-gpt's)
            for group in self.muon.param_groups:
                group["lr"] = cfg.muon_lr * lr / cfg.lr[0]
        before = _matrices(model) if cfg.plots and step % ratio_interval == 0 else None
        for optimizer in self.optimizers:
            optimizer.step()
        if self.averaged is not None:
            self.averaged.update_parameters(model)
        if before is not None:
            _record_update_ratios(model, before, step, history["update_ratio"])
        self.losses.append(loss.item())
        if not math.isfinite(self.losses[-1]):
            raise TrainingError(f"the loss became {self.losses[-1]} at step {step}; stopped: use a lower --lr")
        self.step = step + 1


def _optimizers(model: nn.Module, cfg: CharConfig,
                device: torch.device) -> tuple[torch.optim.Optimizer, torch.optim.Muon | None, float]:
    """The optimizers of the model's REGISTRY entry (a GPT's are train-gpt's: AdamW, or with cfg.optimizer "muon"
    Muon for the blocks' matrices beside it; the others take SGD, and no Muon), and the weight of the L2 penalty
    (SGD: weight_decay)."""
    if REGISTRY[cfg.model].training == "adamw":
        adamw, muon = build_optimizers(model, cfg.optimizer, cfg.lr[0], cfg.weight_decay, (0.9, 0.99), cfg.muon_lr,
                                       MUON_MOMENTUM, 0.0, device)
        return adamw, muon, 0.0
    return torch.optim.SGD(model.parameters(), lr=cfg.lr[0], foreach=True), None, cfg.weight_decay


def _batches(x_train: torch.Tensor, y_train: torch.Tensor, cfg: CharConfig, packed: bool, device: torch.device,
             generator: torch.Generator, steps: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`steps` training batches on the device: the whole split each time (batch_size 0, or at least the
    split's size), else batch_size random rows, packed or with the all-padding columns trimmed."""
    if cfg.batch_size == 0 or cfg.batch_size >= len(x_train):
        x, y = x_train.to(device), y_train.to(device)
        for _ in range(steps):
            yield x, y
        return
    for _ in range(steps):
        ix = torch.randint(len(x_train), (cfg.batch_size,), generator=generator)
        x, y = pack(x_train[ix], y_train[ix], cfg.block_size) if packed else trim_padding(x_train[ix], y_train[ix])
        yield x.to(device), y.to(device)


def _matrices(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.dim() >= 2}


def _record_update_ratios(model: nn.Module, before: dict[str, torch.Tensor], step: int, ratios: dict) -> None:
    """log10 of the update's size relative to the weights' (the lectures' update:data ratio), per matrix."""
    for name, p in model.named_parameters():
        if name in before:
            ratio = ((p.detach() - before[name]).std() / p.detach().std()).log10().item()
            ratios.setdefault(name, []).append((step, ratio))


def _loss_curve(losses: list[float]) -> list[tuple[int, float]]:
    """The loss curve, in means of up to 1000 points (as the lectures plot it)."""
    chunk = max(len(losses) // 1000, 1)
    return [(i + chunk, sum(losses[i : i + chunk]) / len(losses[i : i + chunk])) for i in range(0, len(losses), chunk)]


def _run_state(cfg: CharConfig, model: nn.Module, args: dict, data: LineData | StreamData, step: int) -> dict:
    """What every train-char checkpoint holds: the model generate samples and what rebuilds it, the settings, the
    steps taken, and the data's sha256 (what a resume must find again)."""
    return {"kind": CHAR_KIND, "model_name": cfg.model, "model_args": args, "model": model.state_dict(),
            "chars": data.vocab.chars, "boundary": data.vocab.boundary, "sample_length": data.sample_length,
            "train_config": asdict(cfg), "step": step, "data_sha256": data.sha256}


def _save(out: Path, cfg: CharConfig, model: nn.Module, args: dict, data: LineData | StreamData, result: CharResult,
          history: dict, descent: _Descent | None) -> None:
    """latest.pt (with the training state of a model trained by steps: a finished run can go on, given more
    steps), split.json and metrics.json."""
    training = {"training": descent.training_state(history)} if descent is not None else {}
    save_checkpoint(out / LATEST, {**_run_state(cfg, model, args, data, result.steps), "nll": result.nll, **training})
    atomic_write_text(str(out / SPLIT_FILE), json.dumps(data.record()) + "\n")
    metrics = {"model": cfg.model, "params": result.params, "nll": result.nll, "seconds": result.seconds,
               "history": history}
    atomic_write_text(str(out / CHAR_METRICS), json.dumps(metrics) + "\n")


def _plot(out: Path, cfg: CharConfig, model: nn.Module, data: LineData | StreamData, history: dict) -> None:
    """The plots, their histograms over a random batch of training rows (at least 256)."""
    x_train, y_train = data.rows("train", model.layout)
    rows = torch.Generator().manual_seed(cfg.seed)
    batch = torch.randint(len(x_train), (min(len(x_train), max(cfg.batch_size, 256)),), generator=rows)
    write_plots(out, model, data.vocab.chars, data.vocab.boundary, history, x_train[batch], y_train[batch])
