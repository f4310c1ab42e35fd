"""Compare one of our tokenizers with a tiktoken Encoding on texts: ids, counts, speed, and a report.

Both sides get the same special-token policy (tiktoken's allowed_special / disallowed_special arguments
are derived from ours), and each side's encode is timed on its own. The CLI's `compare` command prints
`comparison_table` (one row per text and a total) and a `mismatch_report` for each text whose ids
differ: the first differing token, the text around it, and both sides' tokens there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import tiktoken

from .base import Tokenizer
from .core import AllowedSpecial, Backend, show_piece

CONTEXT_BYTES = 40  # text shown on each side of a mismatch
TOKENS_BEFORE, TOKENS_AFTER = 2, 4  # tokens shown around it


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
    context: tuple[str, str] | None = None  # the text just before and from the mismatch

    @property
    def same(self) -> bool:
        return self.mismatch is None


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
    data = text.encode("utf-8", "replace")
    i = first_mismatch(ours, theirs)
    offset = context = None
    if i is not None:
        # the ids before i are equal, so they cover the same bytes on both sides
        offset = len(tokenizer.decode_bytes(ours[:i]))
        context = (
            data[max(0, offset - CONTEXT_BYTES) : offset].decode("utf-8", "replace"),
            data[offset : offset + CONTEXT_BYTES].decode("utf-8", "replace"),
        )
    return Comparison(ours, theirs, middle - start, end - middle, len(data), i, offset, context)


def comparison_table(results: Sequence[tuple[str, Comparison]], ours_name: str, theirs_name: str) -> list[str]:
    """The table's lines: per text (labelled) whether the ids agree, both token counts, bytes per token
    and MB/s of each side; a total row when there are two texts or more. Columns are padded to line up."""

    def row(label: str, same: bool, ours: int, theirs: int, n_bytes: int, s_ours: float, s_theirs: float) -> list:
        return [
            label,
            "yes" if same else "NO",
            f"{ours:,}",
            f"{theirs:,}",
            f"{n_bytes / max(ours, 1):.3f}",
            f"{n_bytes / max(theirs, 1):.3f}",
            f"{n_bytes / 1e6 / max(s_ours, 1e-9):.2f}",
            f"{n_bytes / 1e6 / max(s_theirs, 1e-9):.2f}",
        ]

    table = [
        [
            "file",
            "same",
            f"tokens {ours_name}",
            f"tokens {theirs_name}",
            "bytes/token ours",
            "theirs",
            "MB/s ours",
            "theirs",
        ]
    ]
    table += [
        row(label, r.same, len(r.ours), len(r.theirs), r.n_bytes, r.ours_seconds, r.theirs_seconds)
        for label, r in results
    ]
    if len(results) > 1:
        sums = [(len(r.ours), len(r.theirs), r.n_bytes, r.ours_seconds, r.theirs_seconds) for _, r in results]
        totals = (sum(column) for column in zip(*sums, strict=True))
        table.append(row("total", all(r.same for _, r in results), *totals))
    widths = [max(len(cells[i]) for cells in table) for i in range(len(table[0]))]
    return [
        "  ".join([cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])
        for cells in table
    ]


def mismatch_report(
    label: str, result: Comparison, tokenizer: Tokenizer, encoding: tiktoken.Encoding, ours_name: str
) -> list[str]:
    """Where a text's ids first differ: the token index and byte offset with the text on both sides,
    then each side's tokens from a little before it (id:'piece', pieces as show_piece writes them)."""
    i, at, context = result.mismatch, result.mismatch_byte, result.context
    if i is None or at is None or context is None:
        raise ValueError(f"{label}: the ids agree; there is no mismatch to report")
    lines = [f"{label}: first mismatch at token {i:,} (byte {at:,}): {context[0]!r} | {context[1]!r}"]
    lo = max(0, i - TOKENS_BEFORE)
    for name, ids, token_bytes in (
        (ours_name, result.ours, lambda t: tokenizer.decode_bytes([t])),
        (encoding.name, result.theirs, encoding.decode_single_token_bytes),
    ):
        shown = " ".join(f"{t}:{show_piece(token_bytes(t))!r}" for t in ids[lo : i + TOKENS_AFTER])
        lines.append(f"  {name}, tokens {lo:,}..: {shown}")
    return lines
