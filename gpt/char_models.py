"""The character-level baselines of makemore: bigram counts, bigram net, MLP, BatchNorm MLP, WaveNet.

Each model predicts the next character from the block_size characters before it
(fewer for a bigram: one), with token 0 the boundary that starts and ends every
example and fills the context before the start. They take a (B, block_size)
batch of contexts and give (B, vocab) logits, so one training loop and one
evaluation serve them all, and the GPT of gpt/model.py (which predicts every
position of a sequence) is trained by the same loop.

- BigramCounts: the count table N[a, b] + k (add-k smoothing), normalised per
  row; it is fitted exactly by counting (fit), never by gradient descent.
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
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn


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


class BigramCounts(CharModel):
    """The smoothed count table; log-probabilities are a buffer, not parameters."""

    def __init__(self, vocab_size: int, smoothing: float = 1.0) -> None:
        super().__init__()
        self.block_size, self.smoothing = 1, smoothing
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

    def num_params(self) -> int:
        return self.counts.numel()


class BigramNN(CharModel):
    """Logits = one_hot(previous) @ W, computed as the row lookup W[previous]."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.block_size = 1
        self.weight = nn.Parameter(torch.randn(vocab_size, vocab_size))

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        return self.weight[idx[:, -1]]

    def penalty(self) -> torch.Tensor:
        """The L2 term added to the training loss (not to the reported NLL)."""
        return (self.weight**2).mean()


class MLP(CharModel):
    def __init__(self, vocab_size: int, block_size: int = 3, n_embd: int = 10, n_hidden: int = 200,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.block_size = block_size
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


class WaveNet(CharModel):
    def __init__(self, vocab_size: int, block_size: int = 8, n_embd: int = 24, n_hidden: int = 128) -> None:
        super().__init__()
        if block_size < 2 or block_size & (block_size - 1):
            raise ValueError(f"wavenet needs block_size a power of two (>= 2), got {block_size}")
        self.block_size = block_size
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
