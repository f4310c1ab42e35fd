"""A GPT-2 style decoder-only Transformer, in one file.

Token and learned position embeddings, then n_layer pre-LayerNorm blocks (causal
multi-head self-attention, then a GELU MLP, each added back to the residual
stream), a final LayerNorm and a linear head whose weight is the token
embedding's (weight tying). Attention runs through
torch.nn.functional.scaled_dot_product_attention, which picks flash / memory-
efficient kernels on a GPU.

Parameter names and shapes are Hugging Face's GPT-2 (`transformer.wte`,
`transformer.h.0.attn.c_attn`, ...), except that HF's Conv1D layers store their
weights transposed, so checkpoints move across with a transpose of those.

Training rows may pack several documents (forward's `bos`): each document starts
with the bos token, its positions restart at 0 there and attention stays inside it
(a block-diagonal causal mask), so every document is computed exactly as if it
were alone in its row, without the padding a row per document needs.

Generation can keep a KVCache: the keys and values of the tokens seen so far, so
each new token costs one position instead of the whole context. Positions are
learned and absolute, so once the sequence outgrows block_size the window slides
and the cache is rebuilt from the window, which keeps the tokens exactly those of
the uncached loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from gptkit_base.errors import ConfigError

# The GELUs, by name, as torch's nn.GELU(approximate=...) computes them: "exact", the erf form (nanoGPT's nn.GELU,
# about 2x faster on CPU), and "tanh", GPT-2's approximation (Hugging Face's gelu_new)
GELUS = {"exact": "none", "tanh": "tanh"}
# other names for a GELU, read as the name above: "none" is torch's own (approximate="none"), which flags, saved
# configs and checkpoints may hold; it reads as "no GELU", so it is never what gptkit writes
GELU_ALIASES = {"none": "exact"}


def gelu_name(value: Any) -> Any:
    """A GELU's name in GELUS for an alias of it; anything else as it is (GPTConfig checks it)."""
    return GELU_ALIASES.get(value, value) if isinstance(value, str) else value


@dataclass
class GPTConfig:
    vocab_size: int = 50304  # GPT-2's 50,257 padded to a multiple of 64 for faster matmuls
    block_size: int = 1024  # the longest context
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in Linear layers and LayerNorms, as GPT-2
    tie_weights: bool = True  # the output layer shares the token embedding, as GPT-2
    gelu: str = "tanh"  # a name in GELUS ("none" is read as "exact")

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        self.gelu = gelu_name(self.gelu)
        if not (isinstance(self.gelu, str) and self.gelu in GELUS):
            raise ConfigError(f"gelu must be {' or '.join(map(repr, GELUS))}, got {self.gelu!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


class KVCache:
    """Keys and values of every layer for the positions seen so far (up to block_size).

    Allocated on first use with the dtype attention runs in (bf16 under autocast), for the
    positions seen, and doubled (up to block_size) when they outgrow it: the memory follows
    the tokens, not block_size, which a model's file may set far larger than any sample.
    """

    MIN_POSITIONS = 64  # the first allocation's room, so that short samples never regrow it

    def __init__(self, config: GPTConfig) -> None:
        self.config = config
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.length = 0  # positions filled, in every layer once a forward pass is done

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new positions' k, v of one layer; return all of that layer's k, v so far."""
        start, end = self.length, self.length + k.size(2)
        fresh = self.k is None or self.k.shape[1] != k.size(0) or self.k.dtype != k.dtype
        if fresh or end > self.k.size(3):
            cfg = self.config
            room = min(cfg.block_size, max(end, self.MIN_POSITIONS, 0 if fresh else 2 * self.k.size(3)))
            shape = (cfg.n_layer, k.size(0), cfg.n_head, room, cfg.n_embd // cfg.n_head)
            old_k, old_v = self.k, self.v
            self.k = torch.empty(shape, device=k.device, dtype=k.dtype)
            self.v = torch.empty(shape, device=k.device, dtype=k.dtype)
            if not fresh:  # the positions already seen, in every layer
                self.k[:, :, :, :start] = old_k[:, :, :, :start]
                self.v[:, :, :, :start] = old_v[:, :, :, :start]
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, layer: int) -> None:
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v at once
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.dropout, self.layer = config.n_head, config.dropout, layer

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        past = 0 if cache is None else cache.length
        if cache is not None:
            k, v = cache.update(self.layer, k, v)
        dropout = self.dropout if self.training else 0.0
        if mask is not None:  # packed documents: (B, 1, T, T), True where a query may see a key
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        elif past == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        elif T == 1:  # one new token sees every cached position: no mask needed
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        else:
            # new query i sits at position past + i and may see keys 0 .. past + i
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class FeedForward(nn.Module):
    """A block's position-wise feed-forward network (nanoGPT's MLP): widen 4x, GELU, project back. The block holds
    it as `mlp` and its layers are c_fc / c_proj: GPT-2's weight names."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate=GELUS[config.gelu])
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = FeedForward(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, mask)
        return x + self.mlp(self.ln_2(x))


def document_positions_and_mask(idx: torch.Tensor, bos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of packed documents: each token's position in its document (B, T), and the
    attention mask (B, 1, T, T) that lets a token see the tokens of its document up to itself."""
    T = idx.size(1)
    t = torch.arange(T, device=idx.device).expand_as(idx)
    starts = idx == bos
    pos = t - torch.where(starts, t, 0).cummax(1).values  # distance to the latest document start
    doc = starts.cumsum(1)
    causal = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()
    return pos, ((doc.unsqueeze(2) == doc.unsqueeze(1)) & causal).unsqueeze(1)


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config, i) for i in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        # GPT-2: scale the projections into the residual stream by 1/sqrt(number of residual adds)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, counting the tied embedding once; without the position table by default
        (it adds no compute per token), as nanoGPT reports."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache: KVCache | None = None,
        bos: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every position and the mean cross-entropy against targets (-1 = ignored);
        without targets, the logits of the last position only, shape (B, 1, vocab).

        With bos, each row is a pack of documents that each start with the token bos
        (tokens before a row's first bos are one more document)."""
        B, T = idx.size()
        start = 0 if cache is None else cache.length
        if start + T > self.config.block_size:
            raise ValueError(f"a sequence of {start + T} tokens is longer than block_size {self.config.block_size}")
        mask = None
        if bos is None:
            pos = torch.arange(start, start + T, dtype=torch.long, device=idx.device)
        elif cache is not None:
            raise ValueError("packed documents (bos) are for training and scoring, not for a KVCache")
        else:
            pos, mask = document_positions_and_mask(idx, bos)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x, cache, mask)
        if cache is not None:
            cache.length += T
        x = self.transformer.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, [-1], :]), None
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def optimizer_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: weight decay on matrices and embeddings, none on biases and LayerNorm gains."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]

    def flops_per_token(self) -> int:
        """Training FLOPs per token (forward + backward), as in the PaLM paper's appendix B."""
        cfg = self.config
        return 6 * self.num_params() + 12 * cfg.n_layer * cfg.n_embd * cfg.block_size
