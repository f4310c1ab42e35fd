"""Causal attention over the positions a KV cache holds: the step both architectures' attention shares.

The GPT-2 block (gpt.model) and the modern one (gpt.modern) make their queries, keys and
values differently, then hand them here: the new positions' keys and values join the cache,
and torch.nn.functional.scaled_dot_product_attention (flash / memory-efficient kernels on a
GPU) attends with the mask the case needs. Keys and values may have fewer heads than the
queries (grouped-query attention): each group of n_head / n_kv_head query heads shares one.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F


class Cache(Protocol):
    """What attention needs of a KV cache (gpt.model.KVCache): the positions it holds, and a way to add more."""

    length: int

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layer: int, cache: Cache | None,
           mask: torch.Tensor | None, dropout: float) -> torch.Tensor:
    """Causal attention of the new positions' queries q (B, n_head, T, hs) over every position seen: the cached ones
    and the new k, v (B, n_kv_head, T, hs), which join the cache first. mask (B, 1, T, T), True where a query may see
    a key, replaces causality (packed documents). The output is shaped as q."""
    past = 0 if cache is None else cache.length
    if cache is not None:
        k, v = cache.update(layer, k, v)
    gqa = k.size(1) != q.size(1)
    T = q.size(2)
    if mask is not None:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, enable_gqa=gqa)
    if past == 0:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True, enable_gqa=gqa)
    if T == 1:  # one new token sees every cached position: no mask needed
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, enable_gqa=gqa)
    # new query i sits at position past + i and may see keys 0 .. past + i
    causal = torch.ones(T, past + T, dtype=torch.bool, device=q.device).tril(diagonal=past)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=causal, dropout_p=dropout, enable_gqa=gqa)
