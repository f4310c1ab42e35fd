"""encode: pieces of documents in, token ids out, by a pool of worker processes that keeps the input's order.

    encoder = Encoder(tokenizer, np.dtype("<u2"), delimiter=50256)
    for batch in encode_pieces(corpus.pieces(piece_cuts(tokenizer)), encoder, workers=4):
        batch.starts, batch.ids, batch.lengths  # per piece: begins a document?; all ids; ids per piece

How it works
------------
1. Pieces are grouped into batches of about BATCH_CHARS characters (at most
   BATCH_PIECES pieces, for corpora of many short documents; `minbpe.text.size_batches`),
   so a worker's task is big enough to be worth sending and small enough to bound memory.
2. With one worker, batches are encoded inline. Otherwise `workers` processes
   encode them, with at most 2 x workers batches in flight (memory does not grow
   with the corpus), and results are taken in submission order: the output never
   depends on the number of workers.
3. Each document is preceded by the delimiter id. Texts are encoded with
   `encode_ordinary`: a special token's string inside a document is ordinary
   text, so the delimiter id only ever marks a document boundary.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing import get_context
from typing import NamedTuple

import numpy as np
import tiktoken

from gptkit_base.signals import forking, in_worker
from minbpe import CharTokenizer, Tokenizer, TokenizerError
from minbpe.text import AFTER_ANY_LINE, proven_cuts, size_batches

BATCH_CHARS = 1 << 20  # text per batch handed to a worker
BATCH_PIECES = 4096  # and at most this many pieces (many short documents)


class EncodedBatch(NamedTuple):
    """One batch of pieces, encoded: `ids` holds every piece's ids in order, `lengths[i]` of them piece i's."""

    starts: list[bool]  # piece i begins a document (its ids begin with the delimiter)
    ids: np.ndarray
    lengths: np.ndarray


class Encoder:
    """Encodes a batch of pieces into one array of ids, with the delimiter before each document.

    When the tokenizer's ids are tiktoken's (tokenizer.to_tiktoken() succeeds, so
    encode_ordinary itself runs tiktoken), the ids come straight from tiktoken into
    a numpy buffer, skipping a Python list of every id (about 15% of the work).
    """

    def __init__(self, tokenizer: Tokenizer, dtype: np.dtype, delimiter: int | None) -> None:
        self.tokenizer, self.dtype, self.delimiter = tokenizer, dtype, delimiter
        self._tiktoken: tiktoken.Encoding | None | bool = False  # False: not looked up yet (in this process)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_tiktoken": False}

    def _encode(self, text: str) -> np.ndarray:
        if self._tiktoken is False:
            try:
                self._tiktoken = self.tokenizer.to_tiktoken()
            except TokenizerError:
                self._tiktoken = None
        if self._tiktoken is not None:
            try:
                return self._tiktoken.encode_to_numpy(text, disallowed_special=())
            except UnicodeEncodeError:  # lone surrogates: encode_ordinary replaces them, as tiktoken's encode does
                pass
        return np.array(self.tokenizer.encode_ordinary(text), dtype=np.int64)

    def __call__(self, pieces: list[tuple[str, bool]]) -> EncodedBatch:
        parts: list[np.ndarray] = []
        lengths = np.empty(len(pieces), dtype=np.int64)
        delimiter = np.array([] if self.delimiter is None else [self.delimiter], dtype=self.dtype)
        for i, (text, start) in enumerate(pieces):
            ids = self._encode(text)
            if start:
                parts.append(delimiter)
            parts.append(ids)
            lengths[i] = len(ids) + (len(delimiter) if start else 0)
        starts = [start for _, start in pieces]
        return EncodedBatch(starts, np.concatenate(parts).astype(self.dtype, copy=False), lengths)


def piece_cuts(tokenizer: Tokenizer) -> str | None:
    """Where a document may be cut into pieces that, encoded one by one, give the ids of the whole (a cut rule
    of minbpe.text), or None: encode each document whole.

    Characters: after any line break. The GPT-2 / GPT-4 split patterns (and minbpe's GPT-4): their own
    cuts, which no chunk crosses (minbpe's tests prove them). A custom pattern might cross any cut, and
    without a pattern a document is one chunk, so those documents are encoded whole.
    """
    return AFTER_ANY_LINE if isinstance(tokenizer, CharTokenizer) else proven_cuts(tokenizer.pattern)


def encode_pieces(pieces: Iterable[tuple[str, bool]], encoder: Encoder, workers: int) -> Iterator[EncodedBatch]:
    """(text, starts_a_document) pieces, encoded batch by batch, in input order, by `workers` processes."""
    batches = size_batches(pieces, BATCH_CHARS, lambda piece: len(piece[0]), BATCH_PIECES)
    if workers <= 1:
        yield from map(encoder, batches)
        return
    with forking() as mask:  # (gptkit_base.signals: a worker must end on the SIGTERM that leaving the pool sends)
        pool = get_context().Pool(workers, in_worker, (mask, _set_worker_encoder, encoder))
    with pool:  # leaving it terminates the workers
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.apply_async(_encode_in_worker, (batch,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


# --- in the worker processes -------------------------------------------------

_worker_encoder: Encoder | None = None


def _set_worker_encoder(encoder: Encoder) -> None:
    global _worker_encoder
    _worker_encoder = encoder


def _encode_in_worker(pieces: list[tuple[str, bool]]) -> EncodedBatch:
    assert _worker_encoder is not None
    return _worker_encoder(pieces)
