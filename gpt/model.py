"""A GPT-2 style decoder-only Transformer, in one file, and the modern one beside it.

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

GPTConfig(arch="modern") builds Qwen3's architecture instead (gpt.modern: rotary
positions, RMSNorm and QK-norm, a SwiGLU MLP, grouped-query attention, no biases, an
untied head, zero-initialised output projections; with qk_norm=False, Llama's, which
only an imported Llama has); the GPT class below picks the blocks
by arch, and everything else (packed documents, the cache, the loss) is the same code.
With arch "gpt2" the model is exactly the one above: its modules, names, initialisation
and random draws do not depend on the modern one.

Generation can keep a KVCache: the keys and values of the tokens seen so far, so
each new token costs one position instead of the whole context. The model reads at
most block_size positions (a longer sequence is refused: GPT-2 has no position past
its table, and the modern model was never trained on rotations past it), so once a
sample outgrows block_size gpt.generate slides the window, for both architectures:
the last block_size tokens are recomputed from position 0 and the cache rebuilt from
them, which keeps the tokens exactly those of the uncached loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from gptkit_base.errors import ConfigError

from .attention import attend
from .modern import ModernBlock, RMSNorm, Rotary

# The GELUs, by name, as torch's nn.GELU(approximate=...) computes them: "exact", the erf form (nanoGPT's nn.GELU,
# about 2x faster on CPU), and "tanh", GPT-2's approximation (Hugging Face's gelu_new)
GELUS = {"exact": "none", "tanh": "tanh"}
# other names for a GELU, read as the name above: "none" is torch's own (approximate="none"), which flags, saved
# configs and checkpoints may hold; it reads as "no GELU", so it is never what gptkit writes
GELU_ALIASES = {"none": "exact"}


ARCHS = ("gpt2", "modern")  # GPT-2's blocks, or Qwen3's (gpt.modern)
# the modern MLP's width, by default: 8/3 x n_embd (a SwiGLU's three matrices then hold about the parameters of
# GPT-2's two 4x ones), rounded up to a multiple of this for matmul-friendly shapes (768 -> 2048, 384 -> 1024)
HIDDEN_MULTIPLE = 64


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
    bias: bool | None = None  # biases in Linear layers and LayerNorms; None: the arch's (GPT-2 True, modern False)
    # the output layer shares the token embedding; None: the arch's (GPT-2 tied, modern untied)
    tie_weights: bool | None = None
    gelu: str = "tanh"  # GPT-2's MLP: a name in GELUS ("none" is read as "exact"); the modern MLP is SwiGLU
    arch: str = "gpt2"  # a name in ARCHS
    n_kv_head: int | None = None  # key/value heads (grouped-query attention, modern only); None: n_head
    # the modern model's rotary base: Qwen3's configs default to 10,000 (its released models use 1e6 for 32k+
    # contexts); at the contexts trained here (<= a few thousand) 10,000 turns even the slowest pairs through
    # useful angles, where 1e6 leaves most of them almost still
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6  # the modern model's RMSNorm epsilon (Qwen3's)
    intermediate_size: int | None = None  # the modern MLP's width; None: 8/3 x n_embd rounded (HIDDEN_MULTIPLE)
    # the modern model's per-head RMSNorm of queries and keys (Qwen3's); False is Llama's attention, which only an
    # imported Llama has (gpt.hf). None: the arch's (modern True; GPT-2 has none)
    qk_norm: bool | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be {' or '.join(map(repr, ARCHS))}, got {self.arch!r}")
        modern = self.arch == "modern"
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        if not isinstance(self.n_kv_head, int) or self.n_kv_head < 1 or self.n_head % self.n_kv_head:
            raise ConfigError(f"n_kv_head must be a positive integer that divides n_head ({self.n_head}), "
                              f"got {self.n_kv_head!r}")
        if self.bias is None:
            self.bias = not modern
        if self.tie_weights is None:
            self.tie_weights = not modern
        if self.qk_norm is None:
            self.qk_norm = modern
        if not isinstance(self.qk_norm, bool):
            raise ConfigError(f"qk_norm must be true or false, got {self.qk_norm!r}")
        if modern:
            if self.bias:
                raise ConfigError("the modern architecture has no biases (Qwen3's); bias must be false")
            if (self.n_embd // self.n_head) % 2:
                raise ConfigError(f"rotary positions turn pairs of dimensions: the head size n_embd / n_head "
                                  f"({self.n_embd // self.n_head}) must be even")
            if self.intermediate_size is None:
                self.intermediate_size = -(-8 * self.n_embd // (3 * HIDDEN_MULTIPLE)) * HIDDEN_MULTIPLE
            if not isinstance(self.intermediate_size, int) or self.intermediate_size < 1:
                raise ConfigError(f"intermediate_size must be a positive integer, got {self.intermediate_size!r}")
            for name in ("rope_theta", "rms_norm_eps"):
                value = getattr(self, name)
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
                    raise ConfigError(f"{name} must be a positive number, got {value!r}")
        else:
            if self.n_kv_head != self.n_head:
                raise ConfigError("GPT-2's attention has a key and value head per query head: n_kv_head (grouped-"
                                  "query attention) is for the modern architecture")
            if self.intermediate_size is not None:
                raise ConfigError("GPT-2's MLP is 4 x n_embd wide: intermediate_size is for the modern architecture")
            if self.qk_norm:
                raise ConfigError("GPT-2's attention has no QK-norm: qk_norm is for the modern architecture")
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
            shape = (cfg.n_layer, k.size(0), cfg.n_kv_head, room, cfg.n_embd // cfg.n_head)
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
        y = attend(q, k, v, self.layer, cache, mask, self.dropout if self.training else 0.0)
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
        self.rotary: Rotary | None = None  # the modern model's positions (GPT-2's are the table wpe)
        if config.arch == "modern":
            self.transformer = nn.ModuleDict(
                dict(
                    wte=nn.Embedding(config.vocab_size, config.n_embd),
                    drop=nn.Dropout(config.dropout),
                    h=nn.ModuleList([ModernBlock(config.n_embd, config.n_head, config.n_kv_head,
                                                 config.intermediate_size, config.rms_norm_eps, config.dropout, i,
                                                 config.qk_norm)
                                     for i in range(config.n_layer)]),
                    ln_f=RMSNorm(config.n_embd, config.rms_norm_eps),
                )
            )
            self.rotary = Rotary(config.n_embd // config.n_head, config.rope_theta)
        else:
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
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                # GPT-2: scale the projections into the residual stream by 1/sqrt(number of residual adds)
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                # modern: each block starts as the identity, and learns what to add to the residual stream
                nn.init.zeros_(p)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, counting the tied embedding once; by default without the tables that are looked up rather
        than multiplied (they add no compute per token), as nanoGPT reports: GPT-2's position table, and the token
        table when it is not also the output layer (an untied head)."""
        n = sum(p.numel() for p in self.parameters())
        if not non_embedding:
            return n
        if "wpe" in self.transformer:
            n -= self.transformer.wpe.weight.numel()
        if not self.config.tie_weights:
            n -= self.transformer.wte.weight.numel()
        return n

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
        tokens = self.transformer.wte(idx)
        if self.rotary is None:  # GPT-2: a learned vector per position, added to the token's
            x, rope = self.transformer.drop(tokens + self.transformer.wpe(pos)), ()
        else:  # rotary: the positions turn every layer's queries and keys
            x, rope = self.transformer.drop(tokens), (self.rotary(pos),)
        for block in self.transformer.h:
            x = block(x, *rope, cache=cache, mask=mask)
        if cache is not None:
            cache.length += T
        x = self.transformer.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, [-1], :]), None
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def hidden_matrices(self) -> list[nn.Parameter]:
        """The 2-D weights inside the blocks (the attention and MLP projections): what Muon optimizes. Muon
        orthogonalizes a matrix's update, which suits a linear map of the hidden state, not an embedding table
        (rows looked up one at a time), the head, or the vectors (norm gains, biases)."""
        return [p for p in self.transformer.h.parameters() if p.requires_grad and p.dim() == 2]

    def optimizer_groups(self, weight_decay: float, without: list[nn.Parameter] = ()) -> list[dict]:
        """AdamW groups: weight decay on matrices and embeddings, none on biases and norm gains; the parameters
        `without` (another optimizer's) left out."""
        others = {id(p) for p in without}
        params = [p for p in self.parameters() if p.requires_grad and id(p) not in others]
        return [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]

    def flops_per_token(self) -> int:
        """Training FLOPs per token (forward + backward), as in the PaLM paper's appendix B."""
        cfg = self.config
        return 6 * self.num_params() + 12 * cfg.n_layer * cfg.n_embd * cfg.block_size
