"""The oracle: minbpe's training loop, slow and obviously right.

One rule added: ties between pairs with equal counts go to the smallest (id0, id1)
(minbpe takes the pair seen first). The fast trainer in minbpe/trainer.py must
give exactly these merges.
"""

from __future__ import annotations

import regex


def get_stats(ids: list[int], counts: dict[tuple[int, int], int]) -> None:
    for pair in zip(ids, ids[1:], strict=False):
        counts[pair] = counts.get(pair, 0) + 1


def merge(ids: list[int], pair: tuple[int, int], idx: int) -> list[int]:
    out, i = [], 0
    while i < len(ids):
        if i < len(ids) - 1 and (ids[i], ids[i + 1]) == pair:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def naive_chunks(text: str, pattern: str, special: list[str] = ()) -> list[str]:
    """The chunks of a whole text: split out specials, then the pattern ("" = no split)."""
    parts = regex.split("|".join(regex.escape(s) for s in special), text) if special else [text]
    if not pattern:
        return [p for p in parts if p]
    return [c for p in parts for c in regex.findall(pattern, p)]


def naive_train(chunks: list[str], num_merges: int) -> list[tuple[int, int]]:
    ids = [list(c.encode("utf-8")) for c in chunks]
    merges: list[tuple[int, int]] = []
    for idx in range(256, 256 + num_merges):
        stats: dict[tuple[int, int], int] = {}
        for chunk in ids:
            get_stats(chunk, stats)
        if not stats:
            break
        pair = min(stats, key=lambda p: (-stats[p], p))
        ids = [merge(chunk, pair, idx) for chunk in ids]
        merges.append(pair)
    return merges


def naive_encode_chunk(ids: list[int], merges: dict[tuple[int, int], int]) -> list[int]:
    """minbpe's encode loop for one chunk: merge the lowest-ranked pair until none is left."""
    while len(ids) >= 2:
        stats: dict[tuple[int, int], int] = {}
        get_stats(ids, stats)
        pair = min(stats, key=lambda p: merges.get(p, float("inf")))
        if pair not in merges:
            break
        ids = merge(ids, pair, merges[pair])
    return ids
