"""Compare one of our tokenizers with a tiktoken Encoding on a text: ids, counts, speed.

The CLI's `compare` command prints what this returns. Both sides get the same
special-token policy (tiktoken's allowed_special / disallowed_special arguments
are derived from ours), and each side's encode is timed on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import tiktoken

from .base import AllowedSpecial, Backend, Tokenizer


def tiktoken_special_args(allowed_special: AllowedSpecial) -> dict:
    """tiktoken's encode() keyword arguments for one of our special-token policies."""
    if allowed_special == "all":
        return {"allowed_special": "all"}
    if allowed_special == "none":
        return {"allowed_special": set(), "disallowed_special": ()}
    if allowed_special == "none_raise":
        return {"allowed_special": set(), "disallowed_special": "all"}
    return {"allowed_special": set(allowed_special), "disallowed_special": "all"}


@dataclass
class Comparison:
    """Both id sequences of one text, the seconds each side took, and where they first differ."""

    ours: list[int]
    theirs: list[int]
    ours_seconds: float
    theirs_seconds: float
    n_bytes: int
    mismatch: int | None  # index of the first differing id (or where one side ends early)
    mismatch_byte: int | None  # its offset in the text's UTF-8 bytes


def first_mismatch(a: list[int], b: list[int]) -> int | None:
    """The first index where two id sequences differ (or one ends early); None if identical."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def compare(
    tokenizer: Tokenizer,
    encoding: tiktoken.Encoding,
    text: str,
    allowed_special: AllowedSpecial = "none_raise",
    backend: Backend = "auto",
) -> Comparison:
    """Encode text with both and find where the ids first differ."""
    tokenizer.encode("", "none", backend)  # build lazy tables (merges, the tiktoken check) before timing
    start = time.perf_counter()
    ours = tokenizer.encode(text, allowed_special, backend)
    middle = time.perf_counter()
    theirs = encoding.encode(text, **tiktoken_special_args(allowed_special))
    end = time.perf_counter()
    i = first_mismatch(ours, theirs)
    # the ids before i are equal, so they cover the same bytes on both sides
    offset = None if i is None else len(tokenizer.decode_bytes(ours[:i]))
    return Comparison(ours, theirs, middle - start, end - middle, len(text.encode("utf-8", "replace")), i, offset)
