"""The modern decoder block (GPTConfig(arch="modern")): Qwen3's architecture, layer for layer.

Beside GPT-2's block (gpt.model) it changes what the last years of small-GPT training found to
matter, and nothing Qwen3 cannot express:

- Positions are rotary (RoPE): no position table; each layer turns its queries and keys by an
  angle that grows with the position, so attention scores depend on how far apart two tokens
  are. Qwen3's convention, rotate_half: dimension i pairs with i + head_size/2, the frequencies
  theta^(-2i/head_size).
- Pre-norm RMSNorm (a gain, no bias, no mean subtracted) before attention, before the MLP and
  at the end; and QK-norm: a per-head RMSNorm of the queries and keys, before the rotation,
  which keeps attention logits bounded however large the weights grow.
- A SwiGLU MLP: down(silu(gate(x)) * up(x)).
- No biases anywhere; grouped-query attention (n_kv_head key/value heads, shared by groups of
  query heads); the output projections (attention's o_proj and the MLP's down_proj) start at
  zero, so every block starts as the identity (the GPT class initialises them).

Parameter names are Qwen3's inside a block, so a Hugging Face Qwen3ForCausalLM is a renaming of
three prefixes (and nothing else; no transposes):

    ours                                  Qwen3ForCausalLM
    transformer.wte.weight                model.embed_tokens.weight
    transformer.h.{i}.<name>              model.layers.{i}.<name>   (input_layernorm, self_attn.q_proj,
                                          self_attn.k_proj, self_attn.v_proj, self_attn.o_proj,
                                          self_attn.q_norm, self_attn.k_norm, post_attention_layernorm,
                                          mlp.gate_proj, mlp.up_proj, mlp.down_proj)
    transformer.ln_f.weight               model.norm.weight
    lm_head.weight                        lm_head.weight

with Qwen3Config's hidden_size = n_embd, num_attention_heads = n_head, num_key_value_heads =
n_kv_head, head_dim = n_embd // n_head, intermediate_size, rms_norm_eps, rope_theta,
max_position_embeddings = block_size, tie_word_embeddings = tie_weights, hidden_act "silu"
(gpt.hf_configs holds the whole table, both ways).

Llama (LlamaForCausalLM) is the same model without QK-norm, under the same names:
GPTConfig(qk_norm=False) builds it (no q_norm / k_norm weights). gptkit never trains one from
scratch; it is what `--init-from` a Llama directory makes, and exports back as Llama.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import Cache, attend


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) times a learned gain, computed in float32 whatever x's dtype (as Qwen3's)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.rms_norm(x.float(), (x.size(-1),), eps=self.eps).type_as(x)
        return normed * self.weight.type_as(x)


class Rotary(nn.Module):
    """The rotation angles' cosines and sines: calling it with positions gives the (cos, sin) that rotate() takes
    for them, computed in float32 for the positions asked, as Qwen3's are. It holds no tensor at all: a table of
    block_size rows (a number in a config, which no tensor of the file bounds) would let a crafted checkpoint ask
    for any amount of memory, and every tensor a model allocates must be one its file holds (check_weights).
    Computed per call, the memory follows the tokens."""

    def __init__(self, head_size: int, theta: float) -> None:
        super().__init__()
        self.head_size, self.theta = head_size, theta

    def forward(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pos: (T,) or, for packed documents, (B, T); the tables for them, shaped to broadcast over heads."""
        pairs = torch.arange(0, self.head_size, 2, dtype=torch.float32, device=pos.device)
        inv_freq = 1.0 / (self.theta ** (pairs / self.head_size))
        angles = pos.to(torch.float32).unsqueeze(-1) * inv_freq
        angles = torch.cat((angles, angles), dim=-1)  # dimension i and i + head_size/2 turn by the same angle
        return angles.cos().unsqueeze(-3), angles.sin().unsqueeze(-3)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (..., T, head_size) turned by the angles of its positions: each pair (x_i, x_{i+head_size/2}) as a
    complex number multiplied by e^(i angle)."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos.to(x.dtype) + torch.cat((-x2, x1), dim=-1) * sin.to(x.dtype)


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with QK-norm (Qwen3's; without it, Llama's) and rotary positions; n_kv_head key/value
    heads (n_head: plain multi-head attention)."""

    def __init__(self, n_embd: int, n_head: int, n_kv_head: int, eps: float, dropout: float, layer: int,
                 qk_norm: bool = True) -> None:
        super().__init__()
        self.n_head, self.n_kv_head, self.head_size = n_head, n_kv_head, n_embd // n_head
        self.q_proj = nn.Linear(n_embd, n_head * self.head_size, bias=False)
        self.k_proj = nn.Linear(n_embd, n_kv_head * self.head_size, bias=False)
        self.v_proj = nn.Linear(n_embd, n_kv_head * self.head_size, bias=False)
        self.o_proj = nn.Linear(n_head * self.head_size, n_embd, bias=False)
        # Identity holds no weights: a model without QK-norm has no q_norm / k_norm in its state dict, as Llama's
        self.q_norm = RMSNorm(self.head_size, eps) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_size, eps) if qk_norm else nn.Identity()
        self.resid_dropout = nn.Dropout(dropout)
        self.dropout, self.layer = dropout, layer

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], cache: Cache | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.size()
        q = self.q_norm(self.q_proj(x).view(B, T, self.n_head, self.head_size)).transpose(1, 2)
        k = self.k_norm(self.k_proj(x).view(B, T, self.n_kv_head, self.head_size)).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_size).transpose(1, 2)
        q, k = rotate(q, *rope), rotate(k, *rope)  # cached keys keep their own positions' rotation
        y = attend(q, k, v, self.layer, cache, mask, self.dropout if self.training else 0.0)
        return self.resid_dropout(self.o_proj(y.transpose(1, 2).contiguous().view(B, T, C)))


class SwiGLU(nn.Module):
    """The feed-forward network: down(silu(gate(x)) * up(x)), `hidden` wide."""

    def __init__(self, n_embd: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(n_embd, hidden, bias=False)
        self.up_proj = nn.Linear(n_embd, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, n_embd, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x)))


class ModernBlock(nn.Module):
    """Qwen3's decoder layer (Llama's without QK-norm): x + attention(norm(x)), then + MLP(norm(x))."""

    def __init__(self, n_embd: int, n_head: int, n_kv_head: int, hidden: int, eps: float, dropout: float,
                 layer: int, qk_norm: bool = True) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(n_embd, eps)
        self.self_attn = GroupedQueryAttention(n_embd, n_head, n_kv_head, eps, dropout, layer, qk_norm)
        self.post_attention_layernorm = RMSNorm(n_embd, eps)
        self.mlp = SwiGLU(n_embd, hidden, dropout)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], cache: Cache | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope, cache, mask)
        return x + self.mlp(self.post_attention_layernorm(x))
