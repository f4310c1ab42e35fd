"""Tokenizer training's split-and-count stage on Ray: the counts of the local engine, from tasks on a cluster.

    counts = ray_count_files(paths, pattern, special, errors, address, progress=bar.update)   # the driver's side

Splitting the text into chunks and counting the distinct ones is the only step of training that reads the
corpus (trainer.py), and it is what grows with it. Here each unit of input, a range of about UNIT_BYTES of
one file, is a Ray task that reads its own bytes (the driver never reads the corpus), splits them with the
trainer's own code, and returns a Counter of its chunks. The Counters are added up by a tree of Ray tasks,
FAN_IN at a time, so the driver receives one Counter: its memory holds the distinct chunks, not the units'.
The merges are then learned on the driver, as for the local engine.

Where a unit begins and ends: the driver cuts each file at multiples of UNIT_BYTES without reading it, and
each task moves both of its ends forward to the first place where a block may end (text.cut_at_or_after:
after a line break, by the split pattern's rule), the same function for the end of one task and the start
of the next. No chunk spans such a place, so every chunk is counted once, by one task, and the total is the
local engine's, whatever the units, the cluster or the order the tasks finish in (addition does not
mind). The merges are therefore identical (learn_merges breaks ties by the pair, not by order).

`ray` is imported only inside ray_count_files (gptkit_base.ray_session): Ray is an extra.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence

from gptkit_base.ray_session import get_task, ray_session

from .core import TokenizerError
from .text import BLOCK_CHARS, cut_at_or_after, read_blocks, safe_cuts
from .trainer import chunk_splitter

UNIT_BYTES = 16 << 20  # a task's bytes: many tasks per CPU on a large corpus, each Counter still small
FAN_IN = 4  # Counters a reducing task adds up
RERUN = "nothing is kept: run train-tokenizer again"


def file_units(paths: Sequence[str], unit_bytes: int) -> list[tuple[str, int, int]]:
    """(path, start, end) for every unit: each file's bytes cut at multiples of unit_bytes (a task moves both
    ends to the first cut at or after them, see the module doc); an empty file has none."""
    units = []
    for path in paths:
        size = os.path.getsize(path)
        units += [(path, start, min(start + unit_bytes, size)) for start in range(0, size, unit_bytes)]
    return units


def count_unit(path: str, start: int, end: int, pattern: str, special: Sequence[str], errors: str) -> Counter[str]:
    """A Ray task: the chunk counts of a file's text from the first cut at or after byte `start` to the first at
    or after `end`, split as trainer.count_chunks splits."""
    cuts = safe_cuts(pattern)
    try:
        first, last = cut_at_or_after(path, start, cuts), cut_at_or_after(path, end, cuts)
        split = chunk_splitter(pattern, special)
        counts: Counter[str] = Counter()
        for block in read_blocks(path, errors, BLOCK_CHARS, cuts, first, last):
            counts.update(split(block))
    except OSError as e:  # (a node that does not see the file): one line that names it
        raise TokenizerError(f"{path}: {e.strerror or e}; with --ray-address every node must see the input files "
                             "at the same path") from None
    return counts


def add_counts(*parts: Counter[str]) -> Counter[str]:
    """A Ray task of the tree: the sum of a few Counters (the largest one is added to, not copied)."""
    parts_by_size = sorted(parts, key=len, reverse=True)
    total = parts_by_size[0]
    for part in parts_by_size[1:]:
        total.update(part)
    return total


def ray_count_files(
    paths: Sequence[str],
    pattern: str,
    special: Sequence[str],
    errors: str,
    address: str | None,
    progress: Callable[[int], None] | None = None,
) -> Counter[str]:
    """The distinct chunks of the files and their counts, counted by Ray tasks (see the module doc): equal to
    trainer.count_chunks over the files' blocks. Connects to `address`, or starts Ray on this machine's CPUs
    (gptkit_base.ray_session). `progress` gets the bytes of each unit counted."""
    if not pattern:
        raise TokenizerError("--engine ray splits the text by a pattern into units; a basic tokenizer (no pattern) "
                             "reads each file as one chunk: use --engine local")
    units = file_units(paths, UNIT_BYTES)
    if not units:
        return Counter()
    with ray_session(address) as ray:
        count, add = ray.remote(count_unit), ray.remote(add_counts)
        pending = {count.remote(*unit, pattern, list(special), errors): unit for unit in units}
        level = list(pending)
        while len(level) > 1:  # the tree: Ray starts each sum as soon as its parts exist
            level = [add.remote(*level[i : i + FAN_IN]) for i in range(0, len(level), FAN_IN)]
        try:
            while pending:  # (the driver lets go of each unit's Counter once it is done: the sums hold it)
                done, _ = ray.wait(list(pending), num_returns=1, fetch_local=False)
                path, start, end = pending.pop(done[0])
                if progress:
                    progress(end - start)
            # a unit's failure reaches the root of the tree as it is: its message names its file
            return get_task(ray, level[0], paths, TokenizerError, RERUN)
        finally:
            for ref in [*pending, *level]:
                ray.cancel(ref, force=True)
