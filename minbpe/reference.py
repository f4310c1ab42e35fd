"""minbpe's original loops, slow and obviously right: the reference every fast path is proven equal to.

Like tiktoken's _educational module, this is not what gptkit runs: the trainer (trainer.py), the
merge loop with its cache (core.py) and tiktoken's encoder are. The tests compare those with these
loops on every kind of text, and the benchmarks time them against these loops as minbpe's anchor.

One rule is added to minbpe's training loop: ties between pairs with equal counts go to the
smallest (id0, id1) (minbpe takes the pair seen first), so the merges are well defined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import regex


def get_stats(ids: list[int], counts: dict[tuple[int, int], int], weight: int = 1) -> None:
    """Add the count of each adjacent pair of `ids` (times `weight`, the times `ids` occurs) to `counts`."""
    for pair in zip(ids, ids[1:], strict=False):
        counts[pair] = counts.get(pair, 0) + weight


def merge(ids: list[int], pair: tuple[int, int], idx: int) -> list[int]:
    """`ids` with every occurrence of `pair` (left to right, not overlapping) replaced by `idx`."""
    out, i = [], 0
    while i < len(ids):
        if i < len(ids) - 1 and (ids[i], ids[i + 1]) == pair:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def chunks(text: str, pattern: str, special: Sequence[str] = ()) -> list[str]:
    """The chunks of a whole text: split out the special tokens, then apply the pattern ("" = no split)."""
    parts = regex.split("|".join(regex.escape(s) for s in special), text) if special else [text]
    if not pattern:
        return [p for p in parts if p]
    return [c for p in parts for c in regex.findall(pattern, p)]


def train(chunk_list: Sequence[str] | Mapping[str, int], n_merges: int) -> list[tuple[int, int]]:
    """minbpe's training loop: count every pair, merge the most frequent, repeat; the merges in order.

    chunk_list holds every chunk as often as it occurs (minbpe's input), or maps each distinct chunk
    to its count, whose pairs then count that many times: the merges of the chunk repeated, without
    the copies.
    """
    weighted = list(chunk_list.items()) if isinstance(chunk_list, Mapping) else [(c, 1) for c in chunk_list]
    ids = [list(c.encode("utf-8")) for c, _ in weighted]
    weights = [n for _, n in weighted]
    merges: list[tuple[int, int]] = []
    for idx in range(256, 256 + n_merges):
        stats: dict[tuple[int, int], int] = {}
        for chunk, weight in zip(ids, weights, strict=True):
            get_stats(chunk, stats, weight)
        if not stats:
            break
        pair = min(stats, key=lambda p: (-stats[p], p))
        ids = [merge(chunk, pair, idx) for chunk in ids]
        merges.append(pair)
    return merges


def encode_chunk(ids: list[int], merges: dict[tuple[int, int], int]) -> list[int]:
    """minbpe's encode loop for one chunk: merge the lowest-ranked pair until none is left."""
    while len(ids) >= 2:
        stats: dict[tuple[int, int], int] = {}
        get_stats(ids, stats)
        pair = min(stats, key=lambda p: merges.get(p, float("inf")))
        if pair not in merges:
            break
        ids = merge(ids, pair, merges[pair])
    return ids


def encode(text: str, pattern: str, merges: dict[tuple[int, int], int]) -> list[int]:
    """A whole text, chunk by chunk, with no cache (special tokens are ordinary text here)."""
    return [i for chunk in chunks(text, pattern) for i in encode_chunk(list(chunk.encode("utf-8")), merges)]
