r"""Text in pieces: streamed UTF-8 reading, cuts that change no chunk, and size-bounded batches.

A corpus is never held whole. A file is read as blocks of about BLOCK_CHARS bytes, placed by their
byte offsets (so a reader of one part of a file gets the blocks of the whole there), ended only
where ending a block changes no chunk of the split pattern: a position that no chunk spans, where
the chunks before it come out the same when the text ends there, and the chunks after it the same
when the text starts there. Which positions those are depends on the pattern (`safe_cuts`):

- any pattern of the GPT-2 / GPT-4 kind (ANY_PATTERN_CUTS): after a line break that has non-space
  characters on both sides, "x\n|Y". The one whitespace character between them is a chunk of its own
  in both patterns, whatever follows.
- GPT-4's (and minbpe's GPT-4) pattern: after any line break that is followed by a non-space,
  "x.\n\n|Y". No alternative of the pattern matches a line break followed by a non-space (the
  whitespace ones end at a break or are all whitespace; `[\r\n]*` ends the punctuation one), and
  the whitespace run that ends at the break is matched up to its last break whatever follows.
- GPT-2's pattern: also before the last character of a whitespace run of two or more that is
  followed by a non-space, "x.\n|\nY". `\s+(?!\S)` takes the run but its last character, which
  is what it takes at the end of the text too, and the last character then starts the next chunk.

The two patterns disagree on a blank line ("x.\n\nY"), which is why the rule follows the pattern
(the tests check each rule on random texts). For a custom pattern ANY_PATTERN_CUTS holds if none of
its matches crosses "x\n|Y". Where any cut will do (characters, a stream split at separators
afterwards), AFTER_ANY_LINE cuts after any line break. The trainer splits blocks in worker
processes; the pipeline's text sources use the same cuts.

Text is UTF-8. A byte that is not is an error naming the file and its byte offset (errors="strict"),
or becomes U+FFFD (errors="replace"); lone surrogates become U+FFFD as tiktoken does.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, TypeVar

import regex

from gptkit_base.errors import NotUTF8Error

from .patterns import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, MINBPE_GPT4_SPLIT_PATTERN

BLOCK_CHARS = 1 << 20
# zero-width positions where a block may end (the module doc says why each is safe)
ANY_PATTERN_CUTS = r"(?<=\S\n)(?=\S)"
AFTER_ANY_LINE = r"(?<=\n)"
_PATTERN_CUTS = {
    GPT2_SPLIT_PATTERN: ANY_PATTERN_CUTS + r"|(?<=\s)(?=\s\S)",
    GPT4_SPLIT_PATTERN: r"(?<=\n)(?=\S)",
    MINBPE_GPT4_SPLIT_PATTERN: r"(?<=\n)(?=\S)",
}
_LOOKBEHIND = 2  # the most characters any rule looks back (or ahead: "\s\S")
_BEHIND_BYTES = _AHEAD_BYTES = 4 * _LOOKBEHIND  # bytes that hold that many UTF-8 characters
CUT_WINDOW = 1 << 16

T = TypeVar("T")


def proven_cuts(pattern: str) -> str | None:
    """The cut rule proven for this split pattern (GPT-2's, GPT-4's, minbpe's GPT-4), else None."""
    return _PATTERN_CUTS.get(pattern)


def safe_cuts(pattern: str) -> str:
    """The cut rule for a split pattern: its own where proven, else ANY_PATTERN_CUTS (which a custom
    pattern must not cross)."""
    return proven_cuts(pattern) or ANY_PATTERN_CUTS


@functools.cache
def _compiled(cuts: str) -> regex.Pattern:
    return regex.compile(cuts)


def fix_surrogates(text: str) -> str:
    """Replace lone surrogates by U+FFFD, exactly as tiktoken does before encoding."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def split_blocks(text: str, block_chars: int = BLOCK_CHARS, cuts: str = ANY_PATTERN_CUTS) -> list[str]:
    """Cut one text into blocks of about block_chars where the rule `cuts` allows."""
    rule = _compiled(cuts)
    blocks, start = [], 0
    while len(text) - start > block_chars:
        m = rule.search(text, start + block_chars)
        if m is None:
            break
        blocks.append(text[start : m.start()])
        start = m.start()
    blocks.append(text[start:])
    return blocks


def read_blocks(path: str, errors: str = "strict", block_bytes: int = BLOCK_CHARS,
                cuts: str = ANY_PATTERN_CUTS, start: int = 0, end: int | None = None) -> Iterator[str]:
    """Stream a UTF-8 file, or its bytes [start, end), as text blocks ended where the rule `cuts` allows.

    The blocks are where their bytes are, not where reading began: block k runs from the first cut at or after
    byte k x block_bytes to the first at or after (k + 1) x block_bytes (`cut_at_or_after`; a stretch with no
    cut makes one longer block). So whoever reads a range that begins and ends at such places (a Ray task
    given a unit of the file) gets the very blocks that reading the whole file gives there.

    errors="strict" raises UnicodeError naming the file and the byte offset of the first bad byte;
    errors="replace" turns bad bytes into U+FFFD. (A block begins after a line break, never inside a
    character, so decoding it alone is decoding the file.)
    """
    rule = _compiled(cuts)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        end = size if end is None else min(end, size)
        pos = start
        while pos < end:
            # the next block's start: a cut at or after the next multiple of block_bytes (all multiples up
            # to a cut found further on give that same cut, so a stretch without one is scanned once)
            stop = min(_next_cut(f, size, (pos // block_bytes + 1) * block_bytes, rule), end)
            f.seek(pos)
            raw = f.read(stop - pos)
            try:
                text = raw.decode("utf-8", errors)
            except UnicodeDecodeError as e:
                raise NotUTF8Error(
                    f"{path}: invalid UTF-8 at byte offset {pos + e.start} "
                    f"({e.reason}); fix the file or use errors='replace' (CLI: --errors replace)"
                ) from None
            if text:
                yield text
            pos = stop


def cut_at_or_after(path: str, offset: int, cuts: str = ANY_PATTERN_CUTS) -> int:
    """The first byte offset at or after `offset` where a block of the file may end by the rule `cuts`, looking
    only after line breaks (the file's size if there is none; 0 for offset 0): where read_blocks' blocks
    begin, so a task that reads a file from an offset on and the task before it agree on their border without
    reading each other's bytes.
    """
    with open(path, "rb") as f:
        return _next_cut(f, os.fstat(f.fileno()).st_size, offset, _compiled(cuts))


def _next_cut(f: BinaryIO, size: int, offset: int, rule: regex.Pattern) -> int:
    """cut_at_or_after in an open file of `size` bytes.

    A line break is the byte 0x0A, never part of a longer UTF-8 character, so the text after it starts a
    character; the rule is tried on the characters around it (bytes that are not UTF-8 read as U+FFFD: whoever
    reads them reports them).
    """
    if offset <= 0:
        return 0
    # windows of CUT_WINDOW bytes from the break at offset - 1 (a cut at offset itself), each read with the
    # bytes after it that its last break's rule looks at
    for pos in range(offset - 1, size, CUT_WINDOW):
        f.seek(pos)
        window = f.read(CUT_WINDOW + _AHEAD_BYTES)
        for i in (m.start() for m in re.finditer(b"\n", window[:CUT_WINDOW])):
            f.seek(max(pos + i - _BEHIND_BYTES, 0))
            before = f.read(min(pos + i, _BEHIND_BYTES)).decode("utf-8", "replace")[-_LOOKBEHIND:]
            after = window[i + 1 : i + 1 + _AHEAD_BYTES].decode("utf-8", "replace")[:2]
            if rule.match(before + "\n" + after, len(before) + 1):
                return pos + i + 1
    return size


def read_text(path: str, errors: str = "strict") -> str:
    """A whole UTF-8 file, with read_blocks' error policy."""
    return "".join(read_blocks(path, errors))


def size_batches(
    items: Iterable[T], batch_size: int, size: Callable[[T], int] = len, max_items: int | None = None
) -> Iterator[list[T]]:
    """Group items into lists for workers: a list is closed once its items' total `size` reaches
    batch_size (so it can pass it by one item) or it holds max_items items; the last may be smaller.

    Many small documents then make one task instead of one each, and memory holds a few batches,
    not the stream.
    """
    batch: list[T] = []
    total = 0
    for item in items:
        batch.append(item)
        total += size(item)
        if total >= batch_size or (max_items is not None and len(batch) >= max_items):
            yield batch
            batch, total = [], 0
    if batch:
        yield batch
