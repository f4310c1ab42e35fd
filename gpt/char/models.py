"""The character-level models of makemore (bigram counts, bigram net, MLP, BatchNorm MLP, WaveNet, GPT),
Kneser-Ney n-grams, the mixture of trained models, and REGISTRY: every model in one place.

Each model predicts the next character from the block_size characters before it
(fewer for a bigram: one), with token 0 the boundary that starts and ends every
example and fills the context before the start. They take a (B, block_size)
batch of contexts and give (B, vocab) logits, so one training loop and one
evaluation serve them all, and CharGPT (gpt/model.py's GPT, which predicts every
position of a sequence) is trained by the same loop. A model's ``layout`` says
which rows of the data it reads (gpt/char/data.py). A Mixture has no forward of
its own: gpt/char/train.py evaluates it, and gpt/char/sample.py samples it, through its members.

- BigramCounts: the count table N[a, b] + k (add-k smoothing), normalised per
  row; it is fitted exactly by counting (fit), never by gradient descent.
- KneserNey: counts of every context of up to block_size characters, smoothed by
  modified interpolated Kneser-Ney (Chen & Goodman 1998), fitted by counting; the n-gram
  model that neural models long had to beat, and a good partner in a mixture.
- BigramNN: one linear layer over a one-hot input, i.e. a row lookup in a
  vocab x vocab table of logits; its L2 penalty pulls the logits towards the
  uniform distribution, the same role +k smoothing plays for the counts.
- MLP (Bengio et al. 2003): a character embedding table, the context's
  embeddings concatenated, one tanh hidden layer, a linear read-out. Initialised
  so that the first loss is ~ -ln(1/vocab): the read-out starts near zero (no
  confidently wrong logits) and the hidden weights are Kaiming-scaled (gain 5/3
  for tanh) so tanh starts out of saturation. With batch_norm the hidden layer is
  Linear -> BatchNorm -> tanh (its bias is redundant before BatchNorm).
- WaveNet: the context is fused in a tree, two neighbours at a time
  (FlattenConsecutive(2) -> Linear -> BatchNorm -> tanh, repeated until one
  position is left), so each layer sees a little more; block_size must be a
  power of two.
- CharGPT: the GPT with makemore's initialisation, reading whole examples (sequences).
- Mixture: trained models' predictions mixed, p(c | h) = sum_m w_m p_m(c | h), with
  weights fitted on held-out data by EM (see mixture_weights).

Adding a model is one entry in REGISTRY (a ModelSpec: its recipe, its constructor's
arguments from the run's config, its constructor, how it is trained); the CLI's
--model choices, the baselines table and checkpoint loading all read it.

A checkpoint's model is built only once its tensors are checked to be exactly the ones
its recorded arguments make (gpt.checkpoint.check_weights: a model built on the meta
device, which allocates nothing, says which), and once every model in it predicts the
checkpoint's own characters: a crafted file cannot make a model larger than itself.
Every model has a vocab_size for that; the n-gram's tables are as long as the file's.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from gptkit_base.errors import ConfigError

from ..checkpoint import CheckpointError, check_weights
from ..model import GPT, GPTConfig
from .data import CharVocab, Layout

CHAR_KIND = "char-baseline"  # the "kind" of a train-char checkpoint


def nll(logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
    """Mean cross-entropy over the targets that are not -1 (padding)."""
    if targets is None:
        return None
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)


class BatchNorm(nn.Module):
    """BatchNorm over every dimension but the last (the features), as the lectures' BatchNorm1d.

    In training mode it normalises with the batch's mean and variance and updates
    running estimates (running = (1 - momentum) * running + momentum * batch); in
    eval mode it uses the running estimates, so a single example is normalised the
    same way whatever batch it comes in.
    """

    def __init__(self, dim: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # one fused kernel over (rows, features); a (B, T, C) input is B * T rows
        y = F.batch_norm(x.reshape(-1, x.size(-1)), self.running_mean, self.running_var, self.weight, self.bias,
                         self.training, self.momentum, self.eps)
        return y.view(x.shape)


class FlattenConsecutive(nn.Module):
    """(B, T, C) -> (B, T/n, C*n): concatenate the features of n neighbouring positions."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        return x.reshape(b, t // self.n, c * self.n)


class CharModel(nn.Module, ABC):
    """A next-character model over a fixed context: (B, block_size) ids -> (B, vocab) logits."""

    block_size: int

    @abstractmethod
    def logits(self, idx: torch.Tensor) -> torch.Tensor: ...

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits = self.logits(idx)
        return logits, nll(logits, targets)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def layout(self) -> Layout:
        """One row per character, the block_size ids before it as its context."""
        return Layout("windows", self.block_size)


class BigramCounts(CharModel):
    """The smoothed count table; log-probabilities are a buffer, not parameters."""

    may_hold_minus_inf = ("log_probs",)  # without smoothing, a pair never seen has probability 0

    def __init__(self, vocab_size: int, smoothing: float = 1.0) -> None:
        super().__init__()
        self.block_size, self.vocab_size, self.smoothing = 1, vocab_size, smoothing
        self.register_buffer("counts", torch.zeros(vocab_size, vocab_size, dtype=torch.long))
        self.register_buffer("log_probs", torch.full((vocab_size, vocab_size), -math.log(vocab_size)))

    @torch.no_grad()
    def fit(self, contexts: torch.Tensor, targets: torch.Tensor) -> None:
        """Count every (previous, next) pair and normalise the smoothed rows."""
        v = self.counts.size(0)
        pairs = contexts[:, -1] * v + targets
        self.counts.copy_(torch.bincount(pairs, minlength=v * v).view(v, v))
        smoothed = self.counts.double() + self.smoothing
        self.log_probs.copy_((smoothed / smoothed.sum(1, keepdim=True)).log())

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        return self.log_probs[idx[:, -1]]

    def probs(self) -> torch.Tensor:
        """The lecture's P: the smoothed counts normalised per row in float32, what sampling draws from."""
        smoothed = self.counts.float() + self.smoothing
        return smoothed / smoothed.sum(1, keepdim=True)

    def num_params(self) -> int:
        return self.counts.numel()


class KneserNey(CharModel):
    """Modified interpolated Kneser-Ney over the last block_size characters (orders 0 .. block_size).

    With h a context, h' the same without its oldest character, N(h c) a count, N(h) its
    sum over c, and D(n) the discount of a count n (0 for n = 0):

        P(c | h) = (N(h c) - D(N(h c))) / N(h) + sum_c' D(N(h c')) / N(h) * P(c | h')

    and P(c | h) = P(c | h') for a context never seen; below the empty context is the
    uniform distribution. What the discounts take from the seen characters is exactly
    what the shorter context gets to spread. The longest contexts count occurrences. A
    shorter context counts continuations, N(h c) = the number of distinct characters
    seen before h c: a lower order only speaks when the longer context is unknown or
    uncertain, and then a character that always follows the same few letters should not
    be predicted as often as its raw count says. Per order, three discounts, for counts
    of 1, 2 and 3 or more, estimated from n_i, the numbers of counts equal to i:
    D_i = i - (i + 1) Y n_(i+1) / n_i with Y = n_1 / (n_1 + 2 n_2); where that is
    undefined or outside (0, i), KenLM's fallback 0.5, 1, 1.5. (On names' val this is
    0.023 better than one discount per order.)

    The counts are stored sparsely, one sorted array of (context, next) keys per order,
    key = ids read as a number in base vocab_size; a batch looks up all of its
    vocab_size keys per order at once.
    """

    def __init__(self, vocab_size: int, block_size: int = 5) -> None:
        super().__init__()
        # (the exponent is bounded first: 2 ** (10**9) would take the machine before the answer came)
        if vocab_size > 1 and (block_size + 1 > 62 or vocab_size ** (block_size + 1) >= 2**62):
            raise ConfigError(f"ngram: {vocab_size} symbols ^ {block_size + 1} do not fit 64-bit keys; "
                             f"use a smaller --block-size")
        self.block_size, self.vocab_size = block_size, vocab_size
        for k in range(block_size + 1):
            self.register_buffer(f"keys_{k}", torch.zeros(0, dtype=torch.long))
            self.register_buffer(f"counts_{k}", torch.zeros(0, dtype=torch.float64))
        self.register_buffer("discounts", torch.zeros(block_size + 1, 3, dtype=torch.float64))  # D_1, D_2, D_3+
        self.file_sized = tuple((f"keys_{k}", f"counts_{k}") for k in range(block_size + 1))  # for check_weights

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # the tables' sizes come from the data they were counted on
        for name, _ in list(self.named_buffers(recurse=False)):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def fit(self, contexts: torch.Tensor, targets: torch.Tensor) -> None:
        v, n = self.vocab_size, self.block_size
        keys = (contexts * v ** torch.arange(n, 0, -1, device=contexts.device)).sum(1) + targets  # (context, next)
        keys, counts = torch.unique(keys, return_counts=True)
        for k in range(n, -1, -1):
            setattr(self, f"keys_{k}", keys)
            setattr(self, f"counts_{k}", counts.double())
            self.discounts[k] = _discounts([int((counts == i).sum()) for i in (1, 2, 3, 4)])
            # continuations for order k - 1: distinct keys left once the oldest character is dropped
            keys, counts = torch.unique(keys % v**k, return_counts=True)

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of the next character after each row of idx (B, block_size)."""
        v = self.vocab_size
        nexts = torch.arange(v, device=idx.device)
        p = torch.full((idx.size(0), v), 1.0 / v, dtype=torch.float64, device=idx.device)
        for k in range(self.block_size + 1):
            keys, counts = getattr(self, f"keys_{k}"), getattr(self, f"counts_{k}")
            if not len(keys):
                continue
            h = (idx[:, idx.size(1) - k :] * v ** torch.arange(k, 0, -1, device=idx.device)).sum(1)  # last k ids
            query = h.unsqueeze(1) + nexts
            at = torch.searchsorted(keys, query).clamp(max=len(keys) - 1)
            n_hc = torch.where(keys[at] == query, counts[at], 0.0)
            d = torch.where(n_hc > 0, self.discounts[k][(n_hc.clamp(1, 3) - 1).long()], 0.0)
            n_h = n_hc.sum(1, keepdim=True)
            mixed = (n_hc - d + d.sum(1, keepdim=True) * p) / n_h.clamp(min=1)
            p = torch.where(n_h > 0, mixed, p)
        return p.log().float()

    def num_params(self) -> int:
        return sum(len(getattr(self, f"keys_{k}")) for k in range(self.block_size + 1))


def _discounts(n: list[int]) -> torch.Tensor:
    """Chen & Goodman's D_1, D_2, D_3+ from n = the numbers of counts equal to 1, 2, 3, 4."""
    y = n[0] / (n[0] + 2 * n[1]) if n[0] else 0.0
    d = []
    for i, fallback in zip((1, 2, 3), (0.5, 1.0, 1.5), strict=True):
        estimate = i - (i + 1) * y * n[i] / n[i - 1] if n[i - 1] else 0.0
        d.append(estimate if 0 < estimate < i else fallback)
    return torch.tensor(d, dtype=torch.float64)


class BigramNN(CharModel):
    """Logits = one_hot(previous) @ W, computed as the row lookup W[previous]."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.block_size, self.vocab_size = 1, vocab_size
        self.weight = nn.Parameter(torch.randn(vocab_size, vocab_size))

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        return self.weight[idx[:, -1]]

    def penalty(self) -> torch.Tensor:
        """The L2 term added to the training loss (not to the reported NLL)."""
        return (self.weight**2).mean()


class CharMLP(CharModel):
    """The lab's "mlp" and "mlp-bn" models: Bengio et al.'s MLP language model (see the module doc)."""

    def __init__(self, vocab_size: int, block_size: int = 3, n_embd: int = 10, n_hidden: int = 200,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.block_size, self.vocab_size = block_size, vocab_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.hidden = nn.Linear(block_size * n_embd, n_hidden, bias=not batch_norm)
        self.bn = BatchNorm(n_hidden, momentum=0.001) if batch_norm else nn.Identity()
        self.act = nn.Tanh()  # a module, so plots can hook its activations
        self.head = nn.Linear(n_hidden, vocab_size)
        with torch.no_grad():
            nn.init.normal_(self.wte.weight)
            nn.init.normal_(self.hidden.weight, std=(5 / 3) / math.sqrt(block_size * n_embd))
            if self.hidden.bias is not None:
                nn.init.normal_(self.hidden.bias, std=0.01)
            nn.init.normal_(self.head.weight, std=0.01)
            nn.init.zeros_(self.head.bias)

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx).flatten(1)
        return self.head(self.act(self.bn(self.hidden(x))))


class Mixture(nn.Module):
    """Trained models mixed: p(c | h) = sum_m weights[m] * p_m(c | h).

    Each member predicts the same next character from its own view of the history
    (a window, or the whole example for the GPT), so the mixture is itself a model
    of the same data whose NLL compares with its members'. Members that err
    differently (counts that remember exact spellings, networks that generalise)
    make a mixture better than the best of them. It is evaluated and sampled
    through its members; the weights come from mixture_weights on val.
    """

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("weights", torch.full((len(members),), 1.0 / len(members), dtype=torch.float64))

    def mix(self, log_probs: torch.Tensor) -> torch.Tensor:
        """log sum_m weights[m] * p_m, from the members' log-probabilities stacked on dim 0 (any shape after it)."""
        log_weights = self.weights.log().to(log_probs).view(-1, *[1] * (log_probs.dim() - 1))
        return torch.logsumexp(log_probs + log_weights, 0)

    def num_params(self) -> int:
        return sum(m.num_params() for m in self.members)


def mixture_weights(log_probs: torch.Tensor, steps: int = 1000, tol: float = 1e-10) -> torch.Tensor:
    """The weights that maximise the likelihood of held-out characters under a mixture (EM).

    log_probs (members, characters): each member's log-probability of each character.
    An EM step gives every member the mean, over the characters, of its share of the
    mixture's probability: w_m <- mean_i w_m p_m(i) / sum_k w_k p_k(i). The
    log-likelihood is concave in the weights and EM never lowers it, so this stops at
    the best weights (up to tol in mean log-likelihood).
    """
    log_probs = log_probs.double()
    w = torch.full((log_probs.size(0),), 1.0 / log_probs.size(0), dtype=torch.float64)
    last = -math.inf
    for _ in range(steps):
        joint = w.log().unsqueeze(1) + log_probs
        total = torch.logsumexp(joint, 0)
        w = (joint - total).exp().mean(1)
        if float(total.mean()) - last < tol:
            break
        last = float(total.mean())
    return w


class WaveNet(CharModel):
    def __init__(self, vocab_size: int, block_size: int = 8, n_embd: int = 24, n_hidden: int = 128) -> None:
        super().__init__()
        if block_size < 2 or block_size & (block_size - 1):
            raise ConfigError(f"wavenet needs block_size a power of two (>= 2), got {block_size}")
        self.block_size, self.vocab_size = block_size, vocab_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        layers: list[nn.Module] = []
        width = n_embd
        for _ in range(int(math.log2(block_size))):
            layers += [FlattenConsecutive(2), nn.Linear(2 * width, n_hidden, bias=False), BatchNorm(n_hidden),
                       nn.Tanh()]
            width = n_hidden
        self.tree = nn.Sequential(*layers)
        self.head = nn.Linear(n_hidden, vocab_size)
        with torch.no_grad():
            nn.init.normal_(self.wte.weight)
            for layer in self.tree:
                if isinstance(layer, nn.Linear):
                    nn.init.normal_(layer.weight, std=1 / math.sqrt(layer.in_features))
            nn.init.normal_(self.head.weight, std=0.1 / math.sqrt(n_hidden))
            nn.init.zeros_(self.head.bias)

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.tree(self.wte(idx)).squeeze(1))


class CharGPT(GPT):
    """gpt/model.py's GPT as makemore's Transformer: PyTorch's default initialisation (embeddings N(0, 1))
    and an untied output layer (model_args). On 27 symbols it learns much faster than GPT-2's N(0, 0.02)
    (docs/benchmarks.md has the runs that chose the recipe). (makemore's GELU is the tanh form; the
    exact one is as good and faster on CPU.) It reads whole examples, one per row (sequences).

    The modern architecture (gpt-modern) takes the same defaults except for its output projections
    (attention's o_proj, the MLP's down_proj), which stay at zero as GPT initialised them: every block
    starting as the identity is part of that architecture's recipe, and on names' val it beat both GPT's
    own N(0, 0.02) init and PyTorch's defaults everywhere (docs/benchmarks.md)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__(config)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding, nn.LayerNorm)):
                module.reset_parameters()
        for name, p in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):  # the modern blocks' (GPT-2's have none)
                nn.init.zeros_(p)

    @property
    def layout(self) -> Layout:
        return Layout("sequences", self.config.block_size)

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


@dataclass(frozen=True)
class ModelSpec:
    """One model of the lab.

    recipe: its default settings (CharConfig fields), the lectures' (makemore's for the GPT).
    args: (config, vocab size) -> the constructor's keyword arguments, which the checkpoint stores
      to rebuild the model (None for the ensemble: its arguments are its members').
    build: the constructor, called with those arguments.
    training: "count" (fitted exactly by counting, no steps), "sgd" (the lectures' plain SGD),
      "adamw" (makemore's AdamW) or "mix" (mixes finished runs, no steps).
    reference: the published figure its recipe reproduces on names.txt: (split, NLL or None, source).
    seconds: about how long its recipe takes on names.txt with one thread (baselines starts the longest first).
    lines_only: needs a line dataset (boundaries), not a stream.
    """

    recipe: dict[str, Any]
    args: Callable[[Any, int], dict] | None
    build: Callable[..., nn.Module]
    training: Literal["count", "sgd", "adamw", "mix"]
    reference: tuple[str, float | None, str]
    seconds: float
    lines_only: bool = False


def _mixture(members: list[dict]) -> Mixture:
    return Mixture([build_model(m["model_name"], m["model_args"]) for m in members])


def _gpt(**args: Any) -> CharGPT:
    return CharGPT(GPTConfig(**args))


def _gpt_args(cfg: Any, vocab_size: int) -> dict:
    return asdict(GPTConfig(vocab_size, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.dropout, bias=True,
                            tie_weights=False, gelu="exact"))


def _modern_args(cfg: Any, vocab_size: int) -> dict:
    return asdict(GPTConfig(vocab_size, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.dropout,
                            arch="modern"))


def _mlp_args(cfg: Any, vocab_size: int) -> dict:
    return {"vocab_size": vocab_size, "block_size": cfg.block_size, "n_embd": cfg.n_embd, "n_hidden": cfg.n_hidden,
            "batch_norm": cfg.model == "mlp-bn"}


_MLP_RECIPE = dict(block_size=3, n_embd=10, n_hidden=200, max_steps=200_000, batch_size=32, lr=[0.1, 0.01],
                   lr_decay_at=0.5)
REGISTRY: dict[str, ModelSpec] = {
    "bigram-counts": ModelSpec(
        recipe=dict(block_size=1, max_steps=0),
        args=lambda cfg, v: {"vocab_size": v, "smoothing": cfg.smoothing}, build=BigramCounts, training="count",
        reference=("all", 2.4544, "makemore part 1, +1 smoothing, all 32,033 names"), seconds=1, lines_only=True),
    "bigram-nn": ModelSpec(
        recipe=dict(block_size=1, max_steps=200, batch_size=0, lr=[50.0], weight_decay=0.01),
        args=lambda cfg, v: {"vocab_size": v}, build=BigramNN, training="sgd",
        reference=("all", 2.48, "makemore part 1, gradient descent with L2 0.01 (about 2.45-2.48)"), seconds=13),
    "ngram": ModelSpec(
        # contexts of 5 characters (6-grams): the best on names' val (4: 1.9832, 5: 1.9740, 6: 1.9794)
        recipe=dict(block_size=5, max_steps=0),
        args=lambda cfg, v: {"vocab_size": v, "block_size": cfg.block_size}, build=KneserNey, training="count",
        reference=("test", None, "modified interpolated Kneser-Ney 6-grams (not in the lectures)"), seconds=2),
    "mlp": ModelSpec(
        recipe=_MLP_RECIPE, args=_mlp_args, build=CharMLP, training="sgd",
        reference=("val", 2.10, "makemore part 3, MLP with the initialisation fixes"), seconds=170),
    "mlp-bn": ModelSpec(
        recipe=_MLP_RECIPE, args=_mlp_args, build=CharMLP, training="sgd",
        reference=("val", 2.10, "makemore part 3, with BatchNorm"), seconds=214),
    "wavenet": ModelSpec(
        recipe=dict(block_size=8, n_embd=24, n_hidden=128, max_steps=200_000, batch_size=32, lr=[0.1, 0.01],
                    lr_decay_at=0.75),
        args=lambda cfg, v: {"vocab_size": v, "block_size": cfg.block_size, "n_embd": cfg.n_embd,
                             "n_hidden": cfg.n_hidden},
        build=WaveNet, training="sgd",
        reference=("val", 1.99, "makemore part 5, WaveNet (block 8, embedding 24, hidden 128)"), seconds=568),
    "gpt": ModelSpec(
        # block_size 0: the longest example + 1, so every example fits one sequence
        # makemore's shape (4 layers, 4 heads, 64 wide) and AdamW (weight decay 0.01); a larger batch and learning
        # rate and dropout 0.1 reach its NLL in a fraction of its steps, and the moving average of the weights
        # does better than stepping the learning rate down; packed batches make 14,000 steps fit `baselines`'
        # 15 minutes (the runs that chose these, on val: docs/benchmarks.md)
        recipe=dict(block_size=0, n_layer=4, n_head=4, n_embd=64, max_steps=14_000, batch_size=64, lr=[2e-3],
                    weight_decay=0.01, dropout=0.1, ema=0.999),
        args=_gpt_args, build=_gpt, training="adamw",
        reference=("test", 1.92, "makemore.py's default Transformer"), seconds=613),
    "gpt-modern": ModelSpec(
        recipe=dict(block_size=0, n_layer=4, n_head=4, n_embd=64, max_steps=4_000, batch_size=64, lr=[1e-2],
                    weight_decay=0.01, dropout=0.05, ema=0.999, optimizer="muon", muon_lr=0.01),
        args=_modern_args, build=_gpt, training="adamw",
        reference=("test", 1.92, "makemore.py's default Transformer"), seconds=242),
    "ensemble": ModelSpec(
        recipe=dict(max_steps=0), args=None, build=_mixture, training="mix",
        reference=("test", None, "the mixture of the models above, weights fitted on val (not in the lectures)"),
        seconds=0, lines_only=True),
}
MODELS = tuple(REGISTRY)


def build_model(name: str, args: dict) -> nn.Module:
    """The model `name` built from its arguments (ModelSpec.args, or a checkpoint's model_args)."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; models: {', '.join(MODELS)}")
    return REGISTRY[name].build(**args)


def char_model_from_state(state: dict, source: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """A train-char checkpoint's model, in eval mode, once its tensors are checked to be exactly its recorded
    model's and every model in it predicts the checkpoint's characters; CheckpointError for anything else."""
    if state.get("kind") != CHAR_KIND or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{source}: not a train-char checkpoint")
    name, args, weights = state.get("model_name"), state.get("model_args"), state["model"]
    chars, boundary = state.get("chars"), state.get("boundary")
    if not isinstance(chars, str) or not isinstance(boundary, bool):
        raise CheckpointError(f"{source}: the checkpoint's characters are missing or malformed")
    if not isinstance(name, str) or not isinstance(args, dict):
        raise CheckpointError(f"{source}: the checkpoint's model record is missing or malformed")

    build = partial(build_model, name, args)
    size = CharVocab(chars, boundary).size
    for member in check_weights(build, weights, source).modules():
        # the n-gram's tables do not bound its vocab_size, and sampling decodes every id a model draws
        if isinstance(member, (CharModel, CharGPT)) and member.vocab_size != size:
            raise CheckpointError(f"{source}: its model predicts {member.vocab_size!r:.40} symbols, its characters "
                                  f"make {size}; the file is corrupt or crafted")
    model = build()
    model.load_state_dict(weights)
    return model.to(device).eval()
