"""Byte-level BPE training: one trainer behind every tokenizer class.

minbpe's loop is the definition this module implements, with a deterministic
tie-break:

    repeat n_merges times:
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
   Occurrences of a pair (a, b) with a != b never overlap, so when there are many
   they are merged all at once with numpy (`_Chunks._merge_all`); the tests run
   every case both ways against the oracle.

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

import heapq
import os
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from multiprocessing import get_context
from multiprocessing.queues import Queue

import numpy as np
import regex
from tqdm.auto import tqdm

from gptkit_base.signals import forking, in_worker

from .core import counted
from .text import BLOCK_CHARS, fix_surrogates, size_batches

# text per worker task: blocks of files (text.py cuts them where no chunk changes) or whole documents
BATCH_CHARS = BLOCK_CHARS
VECTOR_MIN = 64  # a merge with at least this many positions runs vectorized (numpy)


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
    def seconds(self) -> float:
        return self.seconds_counting + self.seconds_merging

    @property
    def bytes_per_token(self) -> float:
        return self.input_bytes / self.tokens if self.tokens else 0.0

    def summary(self) -> str:
        """One line for a person: the merges learned, how fast, from how much, and the compression reached."""
        return (f"learned {counted(self.merges, 'merge')} in {self.seconds:.2f} s "
                f"({self.merges / max(self.seconds, 1e-9):,.0f} merges/s) from {self.distinct_chunks:,} distinct "
                f"chunks of {self.input_bytes:,} bytes; {self.bytes_per_token:.3f} bytes/token on the input")


# ---------------------------------------------------------------------------
# step 1: split the corpus into chunks and count the distinct ones


def chunk_splitter(pattern: str, special: Sequence[str]) -> Callable[[str], list[str]]:
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


def _count_worker(pattern: str, special: Sequence[str], tasks: Queue, results: Queue) -> None:
    """A worker process: count the chunks of every batch it takes, then send its total."""
    try:
        split = chunk_splitter(pattern, special)
        counts: Counter[str] = Counter()
        while (batch := tasks.get()) is not None:
            for block in batch:
                counts.update(split(block))
        results.put(counts)
    except BaseException as e:  # the parent re-raises it
        results.put(e)


def count_chunks(
    blocks: Iterable[str],
    pattern: str,
    special: Sequence[str] = (),
    workers: int | None = 1,
    progress: Callable[[int], None] | None = None,
) -> Counter[str]:
    """Count the distinct chunks of a stream of text blocks (documents or file blocks).

    Each block is split on its own: no chunk spans two blocks. With workers > 1,
    that many processes take batches of blocks from a bounded queue (so memory
    holds the counts, not the corpus), count them, and send back one total each.
    The result does not depend on `workers` (None: all cores). `progress` gets the characters read.
    """
    workers = (os.cpu_count() or 1) if workers is None else workers
    batches = size_batches(blocks, BATCH_CHARS)
    head = list(islice(batches, 2))
    batches = chain(head, batches)
    if workers <= 1 or len(head) < 2:  # one batch: processes would only cost time
        split = chunk_splitter(pattern, special)
        total: Counter[str] = Counter()
        for batch in batches:
            for block in batch:
                total.update(split(block))
            if progress:
                progress(sum(map(len, batch)))
        return total
    ctx = get_context()
    tasks, results = ctx.Queue(maxsize=2 * workers), ctx.Queue()
    with forking() as mask:  # (gptkit_base.signals: a worker must end on the SIGTERM that terminate() sends)
        procs = [ctx.Process(target=in_worker, args=(mask, _count_worker, pattern, special, tasks, results))
                 for _ in range(workers)]
        for p in procs:
            p.start()
    try:
        for batch in batches:
            tasks.put(batch)
            if progress:
                progress(sum(map(len, batch)))
        for _ in procs:
            tasks.put(None)
        total = Counter()
        for _ in procs:
            got = results.get()
            if isinstance(got, BaseException):
                raise got
            total.update(got)
    except BaseException:
        for p in procs:
            p.terminate()
        raise
    finally:
        for p in procs:
            p.join()
    return total


# ---------------------------------------------------------------------------
# step 2: learn the merges from the distinct chunks


class _Chunks:
    """Every distinct chunk in one doubly linked list of ids, with pair counts and positions.

    tok[i] is the id at position i (-1 once merged away), nxt/prv link the live
    positions of a chunk (-1 at its ends), freq[i] is the count of i's chunk.
    counts[pair] is the weighted number of adjacent occurrences of the pair;
    where[pair] holds positions where it started (some may be stale).
    A pair (a, b) is the int a << shift | b: cheap to hash, and it orders like (a, b).
    """

    def __init__(self, words: list[tuple[bytes, int]], shift: int) -> None:
        n = sum(len(w) for w, _ in words)
        self.shift = shift
        tok = np.frombuffer(b"".join(w for w, _ in words), dtype=np.uint8).astype(np.int32)
        lengths = np.fromiter((len(w) for w, _ in words), dtype=np.int64, count=len(words))
        starts = np.cumsum(lengths) - lengths
        freq = np.repeat(np.fromiter((c for _, c in words), dtype=np.int64, count=len(words)), lengths)
        nxt = np.arange(1, n + 1, dtype=np.int32)
        nxt[starts + lengths - 1] = -1
        prv = np.arange(-1, n - 1, dtype=np.int32)
        prv[starts] = -1
        pos = np.flatnonzero(nxt[: max(n - 1, 0)] >= 0).astype(np.int32)
        keys = (tok[pos].astype(np.int64) << shift) | tok[pos + 1]
        self.counts, self.where = self._group(keys, pos, freq[pos])
        # arrays for the per-occurrence loop (compact, and quick to index from Python),
        # with numpy views of the same memory for the vectorized merge
        self.tok, self.nxt, self.prv = (array("i", a.tobytes()) for a in (tok, nxt, prv))
        self.freq = array("q", freq.tobytes())
        self.np_tok, self.np_nxt, self.np_prv = (
            np.frombuffer(a, dtype=np.int32) for a in (self.tok, self.nxt, self.prv)
        )
        self.np_freq = np.frombuffer(self.freq, dtype=np.int64)
        self.created: set[int] = set()  # pairs first seen in the current merge

    @staticmethod
    def _group(keys: np.ndarray, pos: np.ndarray, weights: np.ndarray) -> tuple[dict[int, int], dict[int, array]]:
        """Sum weights per key, and list each key's positions in ascending order."""
        order = np.lexsort((pos, keys))
        keys, pos, weights = keys[order], pos[order], weights[order]
        uniq, first = np.unique(keys, return_index=True)
        sums = np.add.reduceat(weights, first) if len(keys) else np.zeros(0, dtype=np.int64)
        bounds = first.tolist() + [len(keys)]
        uniq = uniq.tolist()
        where = {k: array("i", pos[bounds[i] : bounds[i + 1]].tobytes()) for i, k in enumerate(uniq)}
        return dict(zip(uniq, sums.tolist(), strict=True)), where

    def merge(self, a: int, b: int, new: int) -> int:
        """Replace every occurrence of (a, b) by `new`; return the weight merged away."""
        positions = self.where.pop((a << self.shift) | b)
        # Occurrences of a pair with a != b never overlap, so they can all be merged at
        # once; "aaa" must go left to right, and small merges are quicker one by one.
        if a != b and len(positions) >= VECTOR_MIN:
            merged = self._merge_all(positions, a, b, new)
        else:
            merged = self._merge_each(positions, a, b, new)
        del self.counts[(a << self.shift) | b]
        return merged

    def _merge_each(self, positions: array, a: int, b: int, new: int) -> int:
        """minbpe's merge, occurrence by occurrence, left to right."""
        tok, nxt, prv, freq, counts, where = self.tok, self.nxt, self.prv, self.freq, self.counts, self.where
        shift, created, key = self.shift, self.created, (a << self.shift) | b
        left, right = new, new << shift  # key parts of the pairs (x, new) and (new, y)
        merged = 0
        # A pair's positions are distinct and ascending: they come sorted from _group,
        # and a new pair only gains positions in the merge that creates it, which walks
        # its occurrences left to right.
        for i in positions:
            # an occurrence is stale if an earlier merge consumed either side
            if tok[i] != a:
                continue
            j = nxt[i]
            if j < 0 or tok[j] != b:
                continue
            f = freq[i]
            p, k = prv[i], nxt[j]
            # the pairs (x, a) and (b, y) around the occurrence lose f; (x, new) and
            # (new, y) gain it. A pair's count reaching 0 means every position
            # remembered for it is stale, so both are dropped. (The two sides are
            # written out, not a helper: a call per occurrence costs ~20% here.)
            if p >= 0:
                x = tok[p] << shift
                old = x | a
                c = counts[old] - f
                if c:
                    counts[old] = c
                else:
                    del counts[old], where[old]
                nk = x | left
                if nk in counts:
                    counts[nk] += f
                    where[nk].append(p)
                else:
                    counts[nk] = f
                    where[nk] = array("i", (p,))
                    created.add(nk)
            if k >= 0:
                y = tok[k]
                old = (b << shift) | y
                c = counts[old] - f
                if c:
                    counts[old] = c
                elif old != key:  # "aaa": (a, a) itself, dropped by merge()
                    del counts[old], where[old]
                nk = right | y
                if nk in counts:
                    counts[nk] += f
                    where[nk].append(i)
                else:
                    counts[nk] = f
                    where[nk] = array("i", (i,))
                    created.add(nk)
                prv[k] = i
            tok[i] = new
            tok[j] = -1
            nxt[i] = k
            merged += f
        return merged

    def _merge_all(self, positions: array, a: int, b: int, new: int) -> int:
        """The same merge for all occurrences at once, with numpy (a != b).

        Two occurrences can be chained ("abab": the b of one is followed by the a
        of the next). _merge_each would first give the pair between them as (new, a),
        then take it back and give (new, new); here it goes straight to (new, new).
        """
        tok, nxt, prv, freq, shift = self.np_tok, self.np_nxt, self.np_prv, self.np_freq, self.shift
        pos = np.frombuffer(positions, dtype=np.int32)
        nj = nxt[pos]
        ok = (tok[pos] == a) & (nj >= 0) & (tok[nj] == b)  # live occurrences
        i, j = pos[ok], nj[ok]
        f, p, k = freq[i], prv[i], nxt[j]
        chained = np.zeros(len(i), dtype=bool)  # the occurrence's left neighbour is the previous one's b
        chained[1:] = p[1:] == j[:-1]
        chained_next = np.append(chained[1:], False)
        lo = (p >= 0) & ~chained  # a left neighbour x outside the occurrences
        ro = (k >= 0) & ~chained_next  # a right neighbour y outside the occurrences
        x, y = tok[p[lo]].astype(np.int64), tok[k[ro]].astype(np.int64)
        lost = np.concatenate([(x << shift) | a, (b << shift) | y, np.full(chained.sum(), (b << shift) | a)])
        lost_f = np.concatenate([f[lo], f[ro], f[chained]])
        gained = np.concatenate([(x << shift) | new, (new << shift) | y, np.full(chained.sum(), (new << shift) | new)])
        gained_at = np.concatenate([p[lo], i[ro], i[np.flatnonzero(chained) - 1]])
        gained_f = np.concatenate([f[lo], f[ro], f[chained]])
        counts, where = self.counts, self.where
        lost, inverse = np.unique(lost, return_inverse=True)
        for old, c in zip(lost.tolist(), np.bincount(inverse, lost_f).astype(np.int64).tolist(), strict=True):
            c = counts[old] - c
            if c:
                counts[old] = c
            else:
                del counts[old], where[old]
        gained_counts, gained_where = self._group(gained, gained_at, gained_f)
        counts.update(gained_counts)
        where.update(gained_where)
        self.created.update(gained_counts)
        tok[i] = new
        tok[j] = -1
        nxt[i] = k
        prv[k[k >= 0]] = i[k >= 0]
        return int(f.sum())


def learn_merges(
    chunk_counts: Mapping[str, int] | Mapping[bytes, int],
    n_merges: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[tuple[int, int]], int, int]:
    """Learn up to n_merges merges from distinct chunks and their counts.

    Returns (merges in order, input bytes, tokens after merging). Merge i makes
    token 256 + i. Fewer merges come back when no pair is left to merge.
    """
    words = [(w.encode("utf-8") if isinstance(w, str) else w, c) for w, c in chunk_counts.items()]
    words = [(w, c) for w, c in words if w]
    input_bytes = tokens = sum(len(w) * c for w, c in words)
    shift = max(256 + n_merges, 256).bit_length()
    mask = (1 << shift) - 1
    chunks = _Chunks(words, shift)
    counts, created = chunks.counts, chunks.created
    # heap entries are the ints -count << 2*shift | pair: they order like (-count, pair),
    # and compare much faster than tuples
    pair_bits = 2 * shift
    pair_mask = (1 << pair_bits) - 1
    heap = [(-c << pair_bits) | k for k, c in counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []
    while len(merges) < n_merges and heap:
        entry = heapq.heappop(heap)
        key = entry & pair_mask
        c = counts.get(key, 0)
        if c != -(entry >> pair_bits):  # out of date: its count dropped since it was pushed
            if c > 0:
                heapq.heappush(heap, (-c << pair_bits) | key)
            continue
        a, b = key >> shift, key & mask
        tokens -= chunks.merge(a, b, 256 + len(merges))
        merges.append((a, b))
        for nk in created:  # pushed once, with the count they can only lose from now on
            if nk in counts:
                heapq.heappush(heap, (-counts[nk] << pair_bits) | nk)
        created.clear()
        if progress:
            progress(1)
    return merges, input_bytes, tokens


# ---------------------------------------------------------------------------
# the whole run


def train_bpe(
    count: Callable[[Callable[[int], None]], Counter[str]],
    n_merges: int,
    verbose: bool = False,
    unit: str = "char",
) -> tuple[list[tuple[int, int]], TrainStats]:
    """Count, then merge: up to n_merges merges (fewer when the corpus runs out of pairs; the stats say so).

    `count(progress)` splits the corpus and returns its distinct chunks with their counts, calling progress
    with the `unit`s it has read: count_chunks over blocks (the local engine) or ray_count.ray_count_files.
    """
    t0 = time.perf_counter()
    with tqdm(desc="counting chunks", unit=unit, unit_scale=True, disable=not verbose) as bar:
        counts = count(bar.update)
    t1 = time.perf_counter()
    with tqdm(total=n_merges, desc="merging", unit="merge", disable=not verbose) as bar:
        bar.set_postfix(chunks=len(counts))
        merges, input_bytes, tokens = learn_merges(counts, n_merges, bar.update)
    stats = TrainStats(
        requested_merges=n_merges,
        merges=len(merges),
        distinct_chunks=len(counts),
        input_bytes=input_bytes,
        tokens=tokens,
        seconds_counting=t1 - t0,
        seconds_merging=time.perf_counter() - t1,
    )
    return merges, stats
