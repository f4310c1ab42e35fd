"""prepare's Ray engine: each unit of input is a Ray task; the driver commits their tokens in input order.

    batches = ray_batches(corpus, encoder, out, skip=0, counter=ReadCounter(), address=None)
    for batch in batches: ...   # the EncodedBatch stream the local engine's pool gives, piece for piece

A task runs the local engine's own code on one unit of input (`Corpus.pieces` of that unit, `encode.encode_pieces`
with the run's `Encoder`), and writes what it got under the output directory. A unit is a file, or a part of
about UNIT_BYTES of a large text file that begins where the whole file's pieces begin too (`Corpus.units`: at a
document's start, or where the tokenizer's pieces of one long document are cut), so the units' pieces, one after
the other, are the pieces the local engine reads:

    OUT/.ray-units/000003.ids       unit 3's token ids, in the run's dtype (little-endian)
    OUT/.ray-units/000003.pieces    per piece: its number of ids and 1 if it begins a document (int64 pairs)

each written under a temporary name and renamed when whole, the ids first: a unit whose .pieces file exists is
done. The driver waits for unit 0, then 1, ..., whatever order the tasks finish in, and hands each unit's pieces
to prepare in batches, which assigns documents to splits and writes shards exactly as for the local engine: the
same pieces in the same order give the same bytes.

A rerun skips the units already done (so a killed task or driver loses only the units in flight), and skips the
pieces prepare's saved state has already committed. prepare removes the directory once the manifest is written.
JSONL and Parquet files, text files split at a separator other than "line" or "blank-line", and text files whose
tokenizer has no cut rule (piece_cuts None) are one unit each, whatever their size.

`ray` is imported only here, inside the functions: the core commands never import it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gptkit_base.files import atomic_write
from gptkit_base.ray_session import EngineError, get_task, ray_session
from minbpe.text import size_batches

from .encode import BATCH_CHARS, BATCH_PIECES, EncodedBatch, Encoder, encode_pieces, piece_cuts
from .sources import Corpus, ReadCounter, SourceError, Unit

UNITS = ".ray-units"  # the units' directory in the output directory
PIECE_DTYPE = np.dtype("<i8")
RERUN = "the finished units are kept: run prepare again to resume"
UNIT_BYTES = 16 << 20  # a large text file's part per task (a multiple of read_blocks' block: see Corpus.units)


def ray_batches(corpus: Corpus, encoder: Encoder, out: Path, skip: int, counter: ReadCounter,
                address: str | None) -> Iterator[EncodedBatch]:
    """The corpus's pieces after the first `skip`, encoded by Ray tasks, in input order (see the module doc).

    Uses the Ray this process has already initialized; otherwise connects to `address`, or without one starts
    Ray on this machine's CPUs, and shuts it down again at the end. `counter` counts the input read.
    """
    with ray_session(address) as ray:
        units_dir = Path(os.path.abspath(out)) / UNITS  # as the tasks see it, whatever their working directory
        units = corpus.units(piece_cuts(encoder.tokenizer), UNIT_BYTES)
        refs: dict[int, ray.ObjectRef] = {}
        try:
            units_dir.mkdir(exist_ok=True)  # (temporaries of tasks killed mid-write go with it, at the end)
            todo = [i for i in range(len(units)) if _read_unit(units_dir, i, encoder.dtype) is None]
            if todo:
                # put once: each task gets references, and a worker process builds the encoder once per run
                shared = [ray.put(encoder), ray.put(corpus)]
                task = ray.remote(write_unit)
                refs = {i: task.remote(shared, units[i], i, str(units_dir)) for i in todo}
            for i, unit in enumerate(units):
                path = corpus.sources[unit.source].path
                if i in refs:
                    get_task(ray, refs.pop(i), [path], SourceError, RERUN)
                done = _read_unit(units_dir, i, encoder.dtype)
                if done is None:
                    raise EngineError(f"{units_dir / _name(i)}.*: the task for {path} finished, but its files are "
                                      "missing or damaged here; the output directory must be on a filesystem every "
                                      "node shares")
                table, ids = done
                counter.bytes += (os.path.getsize(path) if unit.end is None else unit.end) - unit.start  # (by its task)
                if skip >= len(table):  # committed by an earlier run
                    skip -= len(table)
                else:
                    yield from _unit_batches(table, ids, skip)
                    skip = 0
        finally:
            # stop the tasks still running, and wait for them: nothing may write under `out` once prepare goes on
            # (a failed fresh run removes the directory)
            pending = list(refs.values())
            for ref in pending:
                ray.cancel(ref, force=True)
            if pending:
                ray.wait(pending, num_returns=len(pending))


def write_unit(shared: list, unit: Unit, index: int, units: str) -> None:
    """A Ray task: encode `unit`, the run's unit `index`, into its files in the directory `units`.

    `shared` holds the references to the run's Encoder and Corpus (a list, so Ray passes them unresolved).
    """
    encoder, corpus = _shared(shared)
    lengths, starts = [np.zeros(0, dtype=PIECE_DTYPE)], [np.zeros(0, dtype=PIECE_DTYPE)]
    pieces = corpus.pieces(piece_cuts(encoder.tokenizer), unit=unit)
    ids_path, pieces_path = _paths(Path(units), index)
    with atomic_write(ids_path) as f:
        for batch in encode_pieces(pieces, encoder, workers=1):
            f.write(batch.ids.tobytes())
            lengths.append(batch.lengths.astype(PIECE_DTYPE))
            starts.append(np.asarray(batch.starts, dtype=PIECE_DTYPE))
    table = np.stack([np.concatenate(lengths), np.concatenate(starts)], axis=1)
    with atomic_write(pieces_path) as f:  # last: the unit is done
        f.write(table.tobytes())


_cached: tuple[str, Encoder, Corpus] | None = None  # in a worker process: the last run's encoder and corpus


def _shared(shared: list) -> tuple[Encoder, Corpus]:
    """The run's encoder and corpus, fetched once per worker process (the encoder's tiktoken is built on first
    use: once per process, not once per file)."""
    import ray

    global _cached
    key = shared[0].hex()
    if _cached is None or _cached[0] != key:
        _cached = (key, *ray.get(shared))
    return _cached[1], _cached[2]


def _name(index: int) -> str:
    return f"{index:06d}"


def _paths(units: Path, index: int) -> tuple[Path, Path]:
    return units / f"{_name(index)}.ids", units / f"{_name(index)}.pieces"


def _read_unit(units: Path, index: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray] | None:
    """A done unit's (piece table, ids memory-mapped), or None when it is not done or its files do not agree.

    The table's rows: ids in the piece, 1 if it begins a document. Sizes are checked against the files before
    anything is read."""
    ids_path, pieces_path = _paths(units, index)
    try:
        size, table_size = ids_path.stat().st_size, pieces_path.stat().st_size
        if table_size % (2 * PIECE_DTYPE.itemsize):
            return None
        table = np.fromfile(pieces_path, dtype=PIECE_DTYPE).reshape(-1, 2)
    except OSError:
        return None
    lengths, starts = table[:, 0], table[:, 1]
    if (lengths < 0).any() or ((starts != 0) & (starts != 1)).any() or size != int(lengths.sum()) * dtype.itemsize:
        return None
    ids = np.memmap(ids_path, dtype=dtype, mode="r") if size else np.zeros(0, dtype=dtype)
    return table, ids


def _unit_batches(table: np.ndarray, ids: np.ndarray, first: int) -> Iterator[EncodedBatch]:
    """A unit's pieces from piece `first` on, in batches of the local engine's size (prepare saves its state
    between batches, and a batch's memory stays small)."""
    lengths, starts = table[:, 0], table[:, 1]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    for group in size_batches(range(first, len(table)), BATCH_CHARS, lambda k: int(lengths[k]), BATCH_PIECES):
        a, b = group[0], group[-1] + 1
        yield EncodedBatch(starts[a:b].astype(bool).tolist(), ids[bounds[a] : bounds[b]], lengths[a:b])
