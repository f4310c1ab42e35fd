"""Byte-level BPE training: one trainer behind every tokenizer class.

minbpe's loop is the definition this module implements, with a deterministic
tie-break:

    repeat num_merges times:
        count every adjacent pair of ids inside every chunk
        take the pair with the highest count (ties: the smallest (id0, id1))
        give it the next id and replace its occurrences, left to right

That loop costs O(corpus) per merge. Two observations make it fast without
changing a single merge:

1. Chunks repeat. The text is split (by the regex pattern) into chunks, and each
   *distinct* chunk is stored once with its frequency. Pair counts are weighted by
   that frequency. Splitting and counting is the only step that reads the corpus,
   and it runs in several processes over blocks of text (see `count_chunks`).

2. A merge only changes the pairs next to its occurrences. All distinct chunks
   live in one doubly linked list of ids (`tok`, `nxt`, `prv`, with `freq` the
   weight of the chunk each position belongs to). For every pair we remember
   the positions where it started (`where`), so a merge visits only its own
   occurrences and adjusts the counts of the neighbouring pairs. A single long
   chunk (BasicTokenizer over a whole file) is therefore never rescanned.

The best pair comes from a max-heap with lazy deletion. After the merge that
creates token E, only pairs containing E ever gain count; every other pair can
only lose count. So each heap entry holds an upper bound of its pair's count:
when the top entry is out of date it is pushed back with the true count, and
when it is exact it is the true maximum (ties broken by the pair, as the heap
orders (-count, pair)). New pairs are pushed once, with their final count,
at the end of the merge that created them.

Duplicate byte strings. Two different pairs could in principle spell the same
bytes, e.g. ("ab", "c") and ("a", "bc"), which would mint two tokens for one
string and make the vocabulary impossible to express as tiktoken's bytes -> rank
table. We know of no input on which greedy training does it, and the tests look
hard for one: every vocabulary trained in the tests must have distinct bytes
(random corpora, all a/b strings up to length 12; the 49 MB benchmark corpus at
32,768 merges also gave none). A .model file from elsewhere may hold such merges;
it loads, as in minbpe, and `Tokenizer.duplicate_tokens()` lists them.
"""

from __future__ import annotations

import codecs
import heapq
import os
import time
import warnings
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from multiprocessing import get_context

import numpy as np
import regex
from tqdm.auto import tqdm

# A block of text handed to one worker. Blocks are cut only at a line break
# with non-space characters on both sides ("x\nY"): no chunk of the GPT-2 or
# GPT-4 pattern spans such a break, so cutting there changes no chunk (the tests
# prove it). For a custom pattern the same rule holds if none of its matches
# crosses such a line break.
BLOCK_CHARS = 1 << 20
BATCH_CHARS = 4 * BLOCK_CHARS  # text per worker task
_SAFE_CUT = regex.compile(r"(?<=\S)\n(?=\S)")
_LAST_SAFE_CUT = regex.compile(r"(?r)(?<=\S)\n(?=\S)")


@dataclass
class TrainStats:
    """What a training run did, for reports and progress summaries."""

    requested_merges: int
    merges: int
    distinct_chunks: int
    input_bytes: int
    tokens: int  # tokens the training input encodes to with the learned merges
    seconds_counting: float
    seconds_merging: float

    @property
    def stopped_early(self) -> bool:
        return self.merges < self.requested_merges

    @property
    def bytes_per_token(self) -> float:
        return self.input_bytes / self.tokens if self.tokens else 0.0


# ---------------------------------------------------------------------------
# step 1: split the corpus into chunks and count the distinct ones


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


def _split_special(pattern: str, special: Sequence[str]) -> Callable[[str], list[str]]:
    """A function that turns a block of text into its chunks.

    pattern "" means no splitting (BasicTokenizer): the whole text is one chunk.
    Special tokens are cut out of the text first: they are never learned from.
    """
    compiled = regex.compile(pattern) if pattern else None
    special_re = (
        regex.compile("|".join(regex.escape(s) for s in sorted(special, key=len, reverse=True)))
        if special
        else None
    )

    def chunks(block: str) -> list[str]:
        try:
            block.encode("utf-8")
        except UnicodeEncodeError:
            block = fix_surrogates(block)
        parts = special_re.split(block) if special_re else [block]
        if compiled is None:
            return [p for p in parts if p]
        out: list[str] = []
        for p in parts:
            out.extend(compiled.findall(p))
        return out

    return chunks


_worker_split: Callable[[str], list[str]] | None = None


def _worker_init(pattern: str, special: Sequence[str]) -> None:
    global _worker_split
    _worker_split = _split_special(pattern, special)


def _worker_count(blocks: list[str]) -> Counter[str]:
    assert _worker_split is not None
    counts: Counter[str] = Counter()
    for block in blocks:
        counts.update(_worker_split(block))
    return counts


def _batches(blocks: Iterable[str], batch_chars: int) -> Iterator[list[str]]:
    """Group small documents so a worker gets about batch_chars of text per task."""
    batch: list[str] = []
    size = 0
    for b in blocks:
        batch.append(b)
        size += len(b)
        if size >= batch_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def count_chunks(
    blocks: Iterable[str],
    pattern: str,
    special: Sequence[str] = (),
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Counter[str]:
    """Count the distinct chunks of a stream of text blocks (documents or file blocks).

    Each block is split on its own: no chunk spans two blocks. With workers > 1
    the blocks are split in that many processes; at most two batches per worker
    are in flight, so memory holds the counts, not the corpus. The result does
    not depend on `workers`. `progress` is called with the characters done.
    """
    total: Counter[str] = Counter()
    batches = _batches(blocks, BATCH_CHARS)
    head = list(islice(batches, 2))
    batches = chain(head, batches)
    if workers <= 1 or len(head) < 2:  # one batch: a process pool would only cost time
        _worker_init(pattern, special)
        for batch in batches:
            total.update(_worker_count(batch))
            if progress:
                progress(sum(map(len, batch)))
        return total
    with get_context().Pool(workers, _worker_init, (pattern, special)) as pool:
        pending = []
        for batch in batches:
            pending.append((pool.apply_async(_worker_count, (batch,)), sum(map(len, batch))))
            while len(pending) >= 2 * workers:
                _collect(pending.pop(0), total, progress)
        for item in pending:
            _collect(item, total, progress)
    return total


def _collect(item, total: Counter[str], progress: Callable[[int], None] | None) -> None:
    result, chars = item
    total.update(result.get())
    if progress:
        progress(chars)


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
            m = _LAST_SAFE_CUT.search(text)
            if m is None:
                carry = text
                continue
            yield text[: m.end()]
            carry = text[m.end() :]


def read_text(path: str, errors: str = "strict") -> str:
    """A whole UTF-8 file, with read_blocks' error policy."""
    return "".join(read_blocks(path, errors))


# ---------------------------------------------------------------------------
# step 2: learn the merges from the distinct chunks


def learn_merges(
    chunk_counts: Mapping[str, int] | Mapping[bytes, int],
    num_merges: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[tuple[int, int]], int, int]:
    """Learn up to num_merges merges from distinct chunks and their counts.

    Returns (merges in order, input bytes, tokens after merging). Merge i makes
    token 256 + i. Fewer merges come back when no pair is left to merge.
    """
    words = [(w.encode("utf-8") if isinstance(w, str) else w, c) for w, c in chunk_counts.items()]
    words = [(w, c) for w, c in words if w]
    n = sum(len(w) for w, _ in words)
    input_bytes = sum(len(w) * c for w, c in words)
    # pair (a, b) is the int a << shift | b: cheap to hash, and it orders like (a, b)
    shift = max(256 + num_merges, 256).bit_length()
    mask = (1 << shift) - 1

    # the linked list of all chunks, built with numpy
    tok_np = np.frombuffer(b"".join(w for w, _ in words), dtype=np.uint8).astype(np.int32)
    lengths = np.fromiter((len(w) for w, _ in words), dtype=np.int64, count=len(words))
    starts = np.cumsum(lengths) - lengths
    freq_np = np.repeat(np.fromiter((c for _, c in words), dtype=np.int64, count=len(words)), lengths)
    nxt_np = np.arange(1, n + 1, dtype=np.int32)
    nxt_np[starts + lengths - 1] = -1
    prv_np = np.arange(-1, n - 1, dtype=np.int32)
    prv_np[starts] = -1

    # initial pair counts and positions
    pos = np.flatnonzero(nxt_np[: max(n - 1, 0)] >= 0).astype(np.int32)
    keys = (tok_np[pos].astype(np.int64) << shift) | tok_np[pos + 1]
    order = np.argsort(keys, kind="stable")
    keys, pos, weights = keys[order], pos[order], freq_np[pos[order]]
    uniq, first = np.unique(keys, return_index=True)
    sums = np.add.reduceat(weights, first) if len(keys) else np.zeros(0, dtype=np.int64)
    counts: dict[int, int] = dict(zip(uniq.tolist(), sums.tolist(), strict=True))
    bounds = list(first.tolist()) + [len(keys)]
    where: dict[int, array] = {
        k: array("i", pos[bounds[i] : bounds[i + 1]].tobytes()) for i, k in enumerate(uniq.tolist())
    }
    tok, nxt, prv = (array("i", a.tobytes()) for a in (tok_np, nxt_np, prv_np))
    freq = array("q", freq_np.tobytes())
    tokens = int(freq_np.sum())
    del tok_np, nxt_np, prv_np, freq_np, pos, keys, weights, order

    heap = [(-c, k) for k, c in counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []

    created: set[int] = set()  # pairs made by the current merge

    def add(key: int, f: int, at: int) -> None:
        """A pair containing the new token gains weight f at position `at`."""
        counts[key] = counts.get(key, 0) + f
        positions = where.get(key)
        if positions is None:
            where[key] = positions = array("i")
            created.add(key)
        positions.append(at)

    def drop(key: int, f: int) -> None:
        c = counts.get(key, 0) - f
        if c > 0:
            counts[key] = c
        else:  # gone everywhere: every remembered position is stale
            counts.pop(key, None)
            where.pop(key, None)

    while len(merges) < num_merges and heap:
        negc, key = heapq.heappop(heap)
        c = counts.get(key, 0)
        if c != -negc:  # out of date: its count dropped since it was pushed
            if c > 0:
                heapq.heappush(heap, (-c, key))
            continue
        a, b = key >> shift, key & mask
        del counts[key]
        positions = where.pop(key)
        new = 256 + len(merges)
        merges.append((a, b))
        left, right = new, new << shift  # key parts of the pairs (x, new) and (new, y)
        for i in sorted(set(positions)):
            # an occurrence is stale if an earlier merge consumed either side
            if tok[i] != a:
                continue
            j = nxt[i]
            if j < 0 or tok[j] != b:
                continue
            f = freq[i]
            p, k = prv[i], nxt[j]
            if p >= 0:
                x = tok[p] << shift
                drop(x | a, f)
                add(x | left, f, p)
            if k >= 0:
                y = tok[k]
                drop((b << shift) | y, f)
                add(right | y, f, i)
                prv[k] = i
            tok[i] = new
            tok[j] = -1
            nxt[i] = k
            tokens -= f
        for nk in created:  # pushed once, with the count they will only lose from now on
            if nk in counts:
                heapq.heappush(heap, (-counts[nk], nk))
        created.clear()
        if progress:
            progress(1)
    return merges, input_bytes, tokens


# ---------------------------------------------------------------------------
# the whole run


def train_bpe(
    blocks: Iterable[str],
    vocab_size: int,
    pattern: str,
    special: Sequence[str] = (),
    workers: int | None = None,
    verbose: bool = False,
) -> tuple[list[tuple[int, int]], TrainStats]:
    """Split, count and merge: the merges for a vocabulary of vocab_size tokens.

    vocab_size counts the 256 byte tokens and the merges (minbpe's meaning);
    special tokens are not part of it. Warns when the corpus runs out of pairs.
    """
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (the byte tokens), got {vocab_size}")
    num_merges = vocab_size - 256
    workers = (os.cpu_count() or 1) if workers is None else workers
    t0 = time.perf_counter()
    with tqdm(desc="counting chunks", unit="char", unit_scale=True, disable=not verbose) as bar:
        counts = count_chunks(blocks, pattern, special, workers, bar.update)
    t1 = time.perf_counter()
    with tqdm(total=num_merges, desc="merging", unit="merge", disable=not verbose) as bar:
        bar.set_postfix(chunks=len(counts))
        merges, input_bytes, tokens = learn_merges(counts, num_merges, bar.update)
    stats = TrainStats(
        requested_merges=num_merges,
        merges=len(merges),
        distinct_chunks=len(counts),
        input_bytes=input_bytes,
        tokens=tokens,
        seconds_counting=t1 - t0,
        seconds_merging=time.perf_counter() - t1,
    )
    if stats.stopped_early:
        warnings.warn(
            f"the training text ran out of pairs to merge after {stats.merges} of "
            f"{num_merges} merges: the vocabulary has {256 + stats.merges} tokens, "
            f"not {vocab_size}",
            stacklevel=4,  # the caller of train() or train_from_files()
        )
    return merges, stats
