"""Training the character-level baselines: one loop for the bigram net, the MLPs, WaveNet and the GPT.

    result = train_char(char_config("mlp", input="data/names.txt", out="out/char/mlp"))
    result.nll["dev"], result.samples

Every model is trained the same way: at each step a random batch of rows (the
whole training split when batch_size is 0), the mean NLL of the next character,
one optimizer step. The learning rate is a step schedule, as in the lectures: lr
[0.1, 0.01] with lr_decay_at 0.5 means 0.1 for the first half of the steps and
0.01 after. The MLPs use plain SGD, as the lectures do; the GPT uses AdamW, as
makemore does. The bigram net adds an L2 penalty (weight_decay times the mean
squared weight) to its training loss; the reported NLL never includes it. The
count models (bigram, n-gram) are fitted exactly and take no steps. An ensemble
trains nothing either: it mixes finished runs on the same data and split, with
weights fitted on dev (gpt/char_models.py's Mixture). With ema (e.g. 0.999) the run keeps
an exponential moving average of the weights after every step (its decay warmed up
over the first steps) and evaluates, samples and saves that average instead: it
smooths out the noise of the last steps, which on small data beat a lower learning
rate for the GPT.

A run directory gets: latest.pt (the model, its settings and the vocabulary;
``python cli.py generate`` reads it), split.json (which input lines are in
train/dev/test, with the seed), metrics.json (the NLLs, the loss curve, and what
the plots need), and with plots the PNGs of gpt/char_plots.py.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from minbpe.files import atomic_write_text

from .char_data import BOUNDARY, SPLITS, CharVocab, Layout, LineData, StreamData, pack
from .char_models import MLP, BigramCounts, BigramNN, KneserNey, Mixture, WaveNet, mixture_weights
from .checkpoint import LATEST, CheckpointError, load_checkpoint, save_checkpoint
from .device import pick_device
from .generate import SampleConfig, sample_next
from .model import GPT, GPTConfig
from .train import TrainingError, build_config

MODELS = ("bigram-counts", "bigram-nn", "ngram", "mlp", "mlp-bn", "wavenet", "gpt", "ensemble")
CHAR_KIND = "char-baseline"

# the default recipe of each model: the lectures' settings (makemore's for the GPT)
_MLP = dict(block_size=3, n_embd=10, n_hidden=200, max_steps=200_000, batch_size=32, lr=[0.1, 0.01],
            lr_decay_at=0.5)
RECIPES: dict[str, dict[str, Any]] = {
    "bigram-counts": dict(block_size=1, max_steps=0),
    "bigram-nn": dict(block_size=1, max_steps=200, batch_size=0, lr=[50.0], weight_decay=0.01),
    # contexts of 5 characters (6-grams): the best on names' dev (4: 1.9832, 5: 1.9740, 6: 1.9794)
    "ngram": dict(block_size=5, max_steps=0),
    "mlp": _MLP,
    "mlp-bn": _MLP,
    "wavenet": dict(block_size=8, n_embd=24, n_hidden=128, max_steps=200_000, batch_size=32, lr=[0.1, 0.01],
                    lr_decay_at=0.75),
    # block_size 0: the longest example + 1, so every example fits one sequence
    # makemore's shape (4 layers, 4 heads, 64 wide) and AdamW (weight decay 0.01); a larger batch and learning
    # rate and dropout 0.1 reach its NLL in a fraction of its steps, and the moving average of the weights
    # beats a step down of the learning rate (dev 1.9297 against 1.9374 after 14,000 steps; packed batches
    # make 14,000 fit `baselines`' 15 minutes; tuned on dev)
    "gpt": dict(block_size=0, n_layer=4, n_head=4, n_embd=64, max_steps=14_000, batch_size=64, lr=[2e-3],
                weight_decay=0.01, dropout=0.1, ema=0.999),
    "ensemble": dict(max_steps=0),
}


@dataclass
class CharConfig:
    model: str = "mlp"
    input: str = "data/names.txt"
    out: str = "out/char"
    stream: bool = False  # a long text (train/dev from the pipeline) instead of one example per line
    split: str = "80/10/10"  # or "none": train and evaluate on every example
    seed: int = 42
    block_size: int = 3
    n_embd: int = 10
    n_hidden: int = 200
    n_layer: int = 4
    n_head: int = 4
    dropout: float = 0.0
    max_steps: int = 200_000
    batch_size: int = 32  # 0: the whole training split every step
    lr: list[float] = field(default_factory=lambda: [0.1])
    lr_decay_at: float = 0.5  # fraction of max_steps after which each next lr value starts
    weight_decay: float = 0.0
    smoothing: float = 1.0  # bigram-counts: add-k
    members: list[str] = field(default_factory=list)  # ensemble: the run directories it mixes
    ema: float = 0.0  # > 0: evaluate, sample and save the exponential moving average of the weights, this decay
    eval_interval: int = 0  # 0: 20 evaluations per run
    num_samples: int = 20
    plots: bool = False
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; models: {', '.join(MODELS)}")
        if self.stream and self.model in ("bigram-counts", "ensemble"):
            raise ValueError(f"{self.model} needs a line dataset (examples with boundaries), not --stream")
        if (self.model == "ensemble") != bool(self.members):
            raise ValueError("an ensemble needs --members (run directories), and only an ensemble takes them")
        if self.model == "ensemble" and self.plots:
            raise ValueError("an ensemble has no plots of its own; plot its members' runs")
        for name in ("max_steps", "batch_size", "block_size", "eval_interval", "num_samples"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.block_size < 1 and not (self.model == "gpt" and self.block_size == 0):
            raise ValueError(f"block_size must be at least 1 (gpt: 0 = the longest example + 1), got {self.block_size}")
        if not self.lr or any(not v > 0 for v in self.lr):
            raise ValueError(f"lr must be one or more positive values, got {self.lr}")
        if not 0 < self.lr_decay_at <= 1:
            raise ValueError(f"lr_decay_at must be in (0, 1], got {self.lr_decay_at}")
        if self.smoothing < 0:
            raise ValueError(f"smoothing must be >= 0, got {self.smoothing}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1) (0: off; 0.999 is usual), got {self.ema}")


def char_config(model: str, **overrides: Any) -> CharConfig:
    """A CharConfig for `model`: its recipe, then explicit overrides (None = not given)."""
    if model not in RECIPES:
        raise ValueError(f"unknown model {model!r}; models: {', '.join(MODELS)}")
    return build_config(CharConfig, {"model": model, **RECIPES[model]}, overrides)


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


def model_args(cfg: CharConfig, vocab_size: int) -> dict:
    """What build_model needs, and what a checkpoint stores to rebuild the model."""
    if cfg.model == "bigram-counts":
        return {"vocab_size": vocab_size, "smoothing": cfg.smoothing}
    if cfg.model == "bigram-nn":
        return {"vocab_size": vocab_size}
    if cfg.model == "ngram":
        return {"vocab_size": vocab_size, "block_size": cfg.block_size}
    if cfg.model in ("mlp", "mlp-bn"):
        return {"vocab_size": vocab_size, "block_size": cfg.block_size, "n_embd": cfg.n_embd,
                "n_hidden": cfg.n_hidden, "batch_norm": cfg.model == "mlp-bn"}
    if cfg.model == "wavenet":
        return {"vocab_size": vocab_size, "block_size": cfg.block_size, "n_embd": cfg.n_embd,
                "n_hidden": cfg.n_hidden}
    return asdict(GPTConfig(vocab_size, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.dropout, bias=True,
                            tie_weights=False, gelu="none"))


def build_model(name: str, args: dict) -> nn.Module:
    if name == "bigram-counts":
        return BigramCounts(**args)
    if name == "bigram-nn":
        return BigramNN(**args)
    if name == "ngram":
        return KneserNey(**args)
    if name == "ensemble":
        return Mixture([build_model(m["model_name"], m["model_args"]) for m in args["members"]])
    if name in ("mlp", "mlp-bn"):
        return MLP(**args)
    if name == "wavenet":
        return WaveNet(**args)
    model = GPT(GPTConfig(**args))
    # makemore's Transformer: PyTorch's default initialisation (embeddings N(0, 1)) and an untied output
    # layer. On 27 symbols it learns much faster than GPT-2's N(0, 0.02) (measured: dev NLL 2.058 against
    # 2.107 after 4,000 steps). (Its GELU is the tanh form; the exact one is as good and faster on CPU.)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding, nn.LayerNorm)):
            module.reset_parameters()
    return model


def layout_of(model: nn.Module) -> Layout:
    if isinstance(model, GPT):
        return Layout("sequences", model.config.block_size)
    return Layout("windows", model.block_size)


def num_params(model: nn.Module) -> int:
    if isinstance(model, Mixture):
        return sum(num_params(m) for m in model.members)
    return model.num_params() if not isinstance(model, GPT) else sum(p.numel() for p in model.parameters())


def evaluate(model: nn.Module, data: LineData | StreamData, split: str, device: torch.device) -> float:
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
    x, y = data.rows(split, layout_of(model), evaluation=True)
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


def next_logits(model: nn.Module, seq: torch.Tensor) -> torch.Tensor:
    """Logits of the next id after each row of seq (B, t); a window model's context is padded with seq[:, 0]."""
    if isinstance(model, Mixture):  # log of the mixed probabilities
        return model.mix(torch.stack([F.log_softmax(next_logits(m, seq).double(), -1) for m in model.members])).float()
    block = layout_of(model).block_size
    if isinstance(model, GPT):
        return model(seq[:, -block:])[0][:, -1]
    context = seq[:, -block:]
    if context.size(1) < block:
        context = torch.cat([seq[:, :1].expand(-1, block - context.size(1)), context], 1)
    return model(context)[0]


def start_ids(vocab: CharVocab, prompt: str) -> list[int]:
    """What sampling starts from: the boundary (or a newline in a stream) and then the prompt's ids."""
    if vocab.boundary:
        return [BOUNDARY] + vocab.encode(prompt)
    return vocab.encode(prompt) if prompt else vocab.encode("\n") if "\n" in vocab.chars else [0]


@torch.no_grad()
def sample(model: nn.Module, vocab: CharVocab, prompt: str, num: int, length: int, sampling: SampleConfig,
           generator: torch.Generator | None = None) -> list[str]:
    """num continuations of prompt, up to `length` new characters; with a boundary, each ends at its first one."""
    was_training = model.training
    model.eval()
    start = start_ids(vocab, prompt)
    device = next(iter(model.state_dict().values())).device
    seq = torch.tensor([start] * num, dtype=torch.long, device=device)
    done = torch.zeros(num, dtype=torch.bool, device=device)
    for _ in range(length):
        token = sample_next(next_logits(model, seq), sampling, generator)
        seq = torch.cat([seq, token], 1)
        if vocab.boundary:
            done |= token.squeeze(1) == BOUNDARY
            if bool(done.all()):
                break
    model.train(was_training)
    rows = [row[len(start) :] for row in seq.tolist()]
    return [prompt + vocab.decode(row[: row.index(BOUNDARY)] if vocab.boundary and BOUNDARY in row else row)
            for row in rows]


@dataclass
class CharResult:
    model: str
    params: int
    nll: dict[str, float]  # train / dev / test (dev and test absent for a stream's missing splits)
    samples: list[str]
    new: list[bool]  # per sample: not an example of the training split
    seconds: float
    steps: int
    out: Path


def train_char(cfg: CharConfig, callback: Callable[[dict], None] | None = None) -> CharResult:
    """Train one baseline on cfg.input, evaluate every split, sample, and write the run directory."""
    report = callback or (lambda event: None)
    out = Path(cfg.out)
    data = StreamData(cfg.input, out / "data") if cfg.stream else LineData(cfg.input, cfg.split, cfg.seed)
    out.mkdir(parents=True, exist_ok=True)  # only once the input has loaded
    if cfg.model == "gpt" and cfg.block_size == 0:
        cfg = replace(cfg, block_size=data.max_length + 1 if not cfg.stream else 64)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    history: dict[str, Any] = {"loss": [], "eval": [], "update_ratio": {}}
    start = time.perf_counter()
    if cfg.model == "ensemble":
        model, args = _mixture(cfg, data, device)
    else:
        args = model_args(cfg, data.vocab.size)
        model = build_model(cfg.model, args).to(device)
        x_train, y_train = data.rows("train", layout_of(model))
        generator = torch.Generator().manual_seed(cfg.seed)
        if isinstance(model, (BigramCounts, KneserNey)):
            model.fit(x_train.to(device), y_train.to(device))
        else:
            model = _gradient_descent(model, cfg, x_train, y_train, data, device, generator, history, report)
    seconds = time.perf_counter() - start
    splits = [s for s in SPLITS if cfg.stream is False or s != "test"]
    nll = {s: evaluate(model, data, s, device) for s in splits}
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    samples = sample(model, data.vocab, "", cfg.num_samples, data.sample_length, SampleConfig(), generator)
    known = set(data.examples["train"]) if isinstance(data, LineData) else set()
    new = [s not in known for s in samples]
    steps = 0 if isinstance(model, (BigramCounts, KneserNey, Mixture)) else cfg.max_steps
    result = CharResult(cfg.model, num_params(model), nll, samples, new, seconds, steps, out)
    save_checkpoint(out / LATEST, {"kind": CHAR_KIND, "model_name": cfg.model, "model_args": args,
                                   "model": model.state_dict(), "chars": data.vocab.chars,
                                   "boundary": data.vocab.boundary, "sample_length": data.sample_length,
                                   "train_config": asdict(cfg), "nll": nll, "step": result.steps})
    atomic_write_text(str(out / "split.json"), json.dumps(data.record()) + "\n")
    metrics = {"model": cfg.model, "params": result.params, "nll": nll, "seconds": seconds, "history": history}
    atomic_write_text(str(out / "metrics.json"), json.dumps(metrics) + "\n")
    if cfg.plots:
        from .char_plots import write_plots

        rows = torch.Generator().manual_seed(cfg.seed)
        batch = torch.randint(len(x_train), (min(len(x_train), max(cfg.batch_size, 256)),), generator=rows)
        write_plots(out, model, data.vocab.chars, data.vocab.boundary, history, x_train[batch], y_train[batch])
    return result


def _mixture(cfg: CharConfig, data: LineData, device: torch.device) -> tuple[Mixture, dict]:
    """The mixture of cfg.members' finished runs, its weights fitted on dev; with its model_args."""
    members, args = [], []
    for run in cfg.members:
        state = load_checkpoint(run)
        model = char_model_from_state(state, run, device)
        split = Path(run) / "split.json" if Path(run).is_dir() else Path(run).parent / "split.json"
        record = json.loads(split.read_text()) if split.is_file() else {}
        if isinstance(model, Mixture) or (record.get("sha256"), record.get("split"), record.get("seed")) \
                != (data.sha256, data.split, data.seed):
            raise ValueError(f"{run}: not a run on the same line data, split and seed as this ensemble "
                             f"({data.path}, {data.split}, seed {data.seed}); train its members with those")
        members.append(model)
        args.append({"model_name": state["model_name"], "model_args": state["model_args"]})
    mixture = Mixture(members).to(device)
    dev = torch.stack([char_log_probs(m, data, "dev", device) for m in members])
    mixture.weights.copy_(mixture_weights(dev))
    return mixture, {"members": args}


def _gradient_descent(model: nn.Module, cfg: CharConfig, x_train: torch.Tensor, y_train: torch.Tensor,
                      data: LineData | StreamData, device: torch.device, generator: torch.Generator,
                      history: dict, report: Callable[[dict], None]) -> nn.Module:
    """Train model in place; return it, or with cfg.ema the moving average of its weights (and buffers)."""
    if isinstance(model, GPT):
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(model.optimizer_groups(cfg.weight_decay), lr=cfg.lr[0],
                                                             betas=(0.9, 0.99), eps=1e-8, fused=True)
        penalty = 0.0
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr[0], foreach=True)
        penalty = cfg.weight_decay
    eval_interval = cfg.eval_interval or max(cfg.max_steps // 20, 1)
    ratio_interval = max(cfg.max_steps // 1000, 1)
    full = cfg.batch_size == 0 or cfg.batch_size >= len(x_train)
    if full:
        x_full, y_full = x_train.to(device), y_train.to(device)
    # a GPT's batch of examples is packed into fewer rows, each example starting at its boundary
    packed = isinstance(model, GPT) and isinstance(data, LineData)
    averaged = None
    if cfg.ema:
        averaged = AveragedModel(model, multi_avg_fn=ema_update(cfg.ema), use_buffers=True)
    evaluated = model if averaged is None else averaged.module
    losses: list[float] = []
    model.train()
    for step in range(cfg.max_steps):
        if full:
            x, y = x_full, y_full
        else:
            ix = torch.randint(len(x_train), (cfg.batch_size,), generator=generator)
            x, y = pack(x_train[ix], y_train[ix], cfg.block_size) if packed else trim_padding(x_train[ix], y_train[ix])
            x, y = x.to(device), y.to(device)
        _, loss = model(x, y, bos=BOUNDARY) if packed else model(x, y)
        objective = loss + penalty * model.penalty() if penalty else loss
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        track = cfg.plots and step % ratio_interval == 0
        if track:
            before = {n: p.detach().clone() for n, p in model.named_parameters() if p.dim() >= 2}
        optimizer.step()
        if averaged is not None:
            averaged.update_parameters(model)
        if track:
            # log10 of the update's size relative to the weights' (the lectures' update:data ratio)
            for name, p in model.named_parameters():
                if name in before:
                    ratio = ((p.detach() - before[name]).std() / p.detach().std()).log10().item()
                    history["update_ratio"].setdefault(name, []).append((step, ratio))
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise TrainingError(f"the loss became {losses[-1]} at step {step}; stopped: use a lower --lr")
        if (step + 1) % eval_interval == 0 or step + 1 == cfg.max_steps:
            dev = evaluate(evaluated, data, "dev", device)
            history["eval"].append({"step": step + 1, "dev": dev})
            report({"event": "eval", "step": step + 1, "train_loss": loss.item(), "dev": dev, "lr": lr})
        elif (step + 1) % 100 == 0:
            report({"event": "step", "step": step + 1, "train_loss": loss.item(), "lr": lr})
    # the loss curve, in means of up to 1000 points (as the lectures plot it)
    chunk = max(len(losses) // 1000, 1)
    history["loss"] = [(i + chunk, sum(losses[i : i + chunk]) / len(losses[i : i + chunk]))
                       for i in range(0, len(losses), chunk)]
    return evaluated


def char_model_from_state(state: dict, source: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """A train-char checkpoint's model, in eval mode; CheckpointError for anything else."""
    if state.get("kind") != CHAR_KIND:
        raise CheckpointError(f"{source}: not a train-char checkpoint")
    model = build_model(state["model_name"], state["model_args"])
    model.load_state_dict(state["model"])
    return model.to(device).eval()
