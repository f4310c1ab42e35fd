"""Text in pieces: streamed UTF-8 reading, cuts that change no chunk, and size-bounded batches.

A corpus is never held whole. A file is read as blocks of about BLOCK_CHARS characters, cut only at a
line break with non-space characters on both sides ("x\\nY", `_SAFE_CUT`): no chunk of the GPT-2 or
GPT-4 split pattern spans such a break, so cutting there changes no chunk (the tests prove it). For a
custom pattern the same rule holds if none of its matches crosses such a line break. The trainer
splits blocks in worker processes; the pipeline's text sources use the same cuts.

Text is UTF-8. A byte that is not is an error naming the file and its byte offset (errors="strict"),
or becomes U+FFFD (errors="replace"); lone surrogates become U+FFFD as tiktoken does.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import regex

BLOCK_CHARS = 1 << 20
_SAFE_CUT = regex.compile(r"(?<=\S)\n(?=\S)")

T = TypeVar("T")


def fix_surrogates(text: str) -> str:
    """Replace lone surrogates by U+FFFD, exactly as tiktoken does before encoding."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def split_blocks(text: str, block_chars: int = BLOCK_CHARS) -> list[str]:
    """Cut one text into blocks of about block_chars at safe line breaks."""
    blocks, start = [], 0
    while len(text) - start > block_chars:
        m = _SAFE_CUT.search(text, start + block_chars)
        if m is None:
            break
        blocks.append(text[start : m.end()])
        start = m.end()
    blocks.append(text[start:])
    return blocks


def read_blocks(path: str, errors: str = "strict", block_bytes: int = BLOCK_CHARS) -> Iterator[str]:
    """Stream a UTF-8 file as text blocks cut at safe line breaks.

    errors="strict" raises UnicodeError naming the file and the byte offset of
    the first bad byte; errors="replace" turns bad bytes into U+FFFD.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors)
    offset = 0  # bytes read before this block
    carry = ""
    with open(path, "rb") as f:
        while True:
            raw = f.read(block_bytes)
            pending = len(decoder.getstate()[0])  # undecoded bytes left from the last block
            try:
                text = carry + decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as e:
                raise UnicodeError(
                    f"{path}: invalid UTF-8 at byte offset {offset - pending + e.start} "
                    f"({e.reason}); fix the file or use errors='replace' (CLI: --errors replace)"
                ) from None
            offset += len(raw)
            if not raw:
                if text:
                    yield text
                return
            # the last safe cut: the last "\n" that _SAFE_CUT accepts (a reverse regex search is slow).
            # Breaks before the carry's last character were already refused with both neighbours
            # known, so a long stretch without a safe cut is scanned once, not once per block.
            floor = max(len(carry) - 1, 0)
            cut = text.rfind("\n", floor)
            while cut > floor and not _SAFE_CUT.match(text, cut):
                cut = text.rfind("\n", floor, cut)
            if cut <= 0 or not _SAFE_CUT.match(text, cut):
                carry = text
                continue
            yield text[: cut + 1]
            carry = text[cut + 1 :]


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
