"""prepare: a corpus in, a directory of token shards and its manifest out, streamed and crash-safe.

    from pipeline.prepare import PrepareConfig, prepare
    result = prepare(PrepareConfig(inputs=["corpus/"], output="data/corpus", tokenizer="gpt2", workers=4))

How it runs
-----------
1. The corpus (`sources.Corpus`) is read as pieces of documents, in order, and
   grouped into batches of about 1 MB of text.
2. Batches are encoded by `workers` processes (at most 2 x workers batches in
   flight, so memory does not grow with the corpus) and come back in order, so
   the output does not depend on the number of workers. Each document is
   preceded by the delimiter token. Texts are encoded with `encode_ordinary`:
   a special token's string inside a document is ordinary text, so the
   delimiter id only ever marks a document boundary.
3. Each document goes to the train or the val split (below), and each split's
   tokens are appended to its shards (`shards.ShardWriter`).
4. After a batch that completed a shard, and otherwise every second, the open
   shards are flushed and the run's state is saved (`.prepare-state.json`): how
   many pieces are done and what each split holds.
   A run that is stopped (killed, Ctrl-C) carries on from there when started
   again with the same settings; completed shards are kept, not rewritten.
5. Last, the manifest is written and the state removed. A run that fails on bad
   input removes what it wrote (a resumed run keeps the earlier run's work).

The validation split is pinned. With val_fraction F, document i is in val when
a hash of (seed, i) falls below F: the choice of a document never depends on any
other document, so appending data to a corpus leaves its val documents where
they were. A corpus of one document (Tiny Shakespeare) is split by tokens
instead: the last F of its tokens are val, as nanoGPT's prepare does. With
val_first_shard the first shard_tokens tokens of the corpus are val (llm.c's
convention), whatever the documents.

A directory prepared with another tokenizer or other settings is refused, and
`--tokenizer char` first reads the corpus once to collect its characters, then
saves that CharTokenizer (with the delimiter as its special token) into the
directory, as it does with any .model file, so the shards can always be decoded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from itertools import islice
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import tiktoken

import minbpe
from minbpe import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, CharTokenizer, Tokenizer, TokenizerError
from minbpe.files import atomic_copy, atomic_write_text

from .manifest import MANIFEST, PRETRAINED, TOKENIZER_PREFIX, Manifest, SplitInfo, TokenizerInfo, tokenizer_info
from .shards import DTYPE_NAMES, VERSION_DTYPES, ResumeError, ShardWriter, version_for_vocab
from .sources import Corpus, ReadCounter

STATE = ".prepare-state.json"
BATCH_CHARS = 1 << 20  # text per batch handed to a worker
BATCH_PIECES = 4096  # and at most this many pieces (many short documents)
SAVE_SECONDS = 1.0  # the state is saved after a batch that completed a shard, else at most this often
SPLITS = ("train", "val")
_SHARD_NAME = r"(?:train|val)_\d{6}\.bin"
# every file a run writes, and the temporaries of atomic writes (NAME.tmp, NAME.xxxxxxxx.tmp)
_OURS = re.compile(
    rf"(?:{re.escape(MANIFEST)}|{re.escape(STATE)}|{TOKENIZER_PREFIX}\.(?:model|vocab)|{_SHARD_NAME})(?:(?:\.\w+)?\.tmp)?"
)


class PrepareError(ValueError):
    """A prepare run that cannot go on; the message says why and what to do."""


@dataclass
class PrepareConfig:
    inputs: list[str]
    output: str
    tokenizer: str = "gpt2"  # gpt2 | gpt4 | char | PATH.model
    workers: int = 1
    shard_tokens: int = 100_000_000
    val_fraction: float = 0.01
    val_first_shard: bool = False  # val = the first shard instead of a fraction of documents
    seed: int = 1337
    text_field: str = "text"
    doc_separator: str = "file"
    delimiter: str | None = "<|endoftext|>"  # a special token of the tokenizer; None: no delimiter
    errors: str = "strict"  # bytes that are not UTF-8: strict stops, replace reads U+FFFD
    command: str | None = None  # the command line, for the manifest


@dataclass
class Progress:
    """Where a run is, for progress bars. phase: "scan" (collecting characters for char) or "tokenize"."""

    phase: str
    documents: int
    tokens: int
    text_bytes: int  # UTF-8 bytes of text encoded
    read_bytes: int  # bytes of input read
    total_bytes: int | None  # the inputs' size, when known
    seconds: float


@dataclass
class PrepareResult:
    manifest: Manifest
    directory: Path
    seconds: float
    up_to_date: bool = False  # the directory was already complete with these settings: nothing was done
    resumed_shards: int = 0  # shards an interrupted run had completed, kept as they were
    started_over: str | None = None  # why an interrupted run's shards could not be used, if they could not


ProgressCallback = Callable[[Progress], None]


def val_documents(indices: np.ndarray, seed: int, fraction: float) -> np.ndarray:
    """Which documents are in the validation split: a hash of (seed, index) below `fraction`.

    The hash is SplitMix64's finalizer of index + seed * 2^64/phi: uniform 64-bit
    values, independent of every other document, vectorized.
    """
    x = np.asarray(indices, dtype=np.uint64) + np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x < np.uint64(min(int(fraction * 2**64), 2**64 - 1))


# ---------------------------------------------------------------------------
# encoding, in the worker processes (or inline for one worker)


class _Encoder:
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

    def __call__(self, texts: list[str], starts: list[bool]) -> tuple[np.ndarray, np.ndarray]:
        parts: list[np.ndarray] = []
        lengths = np.empty(len(texts), dtype=np.int64)
        delimiter = np.array([] if self.delimiter is None else [self.delimiter], dtype=self.dtype)
        for i, (text, start) in enumerate(zip(texts, starts, strict=True)):
            ids = self._encode(text)
            if start:
                parts.append(delimiter)
            parts.append(ids)
            lengths[i] = len(ids) + (len(delimiter) if start else 0)
        return np.concatenate(parts).astype(self.dtype, copy=False), lengths


_worker_encoder: _Encoder | None = None


def _init_worker(encoder: _Encoder) -> None:
    global _worker_encoder
    _worker_encoder = encoder
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers


def _encode_in_worker(texts: list[str], starts: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    assert _worker_encoder is not None
    return _worker_encoder(texts, starts)


def _batches(pieces: Iterable[tuple[str, bool]]) -> Iterator[tuple[list[str], list[bool]]]:
    texts: list[str] = []
    starts: list[bool] = []
    size = 0
    for text, start in pieces:
        texts.append(text)
        starts.append(start)
        size += len(text)
        if size >= BATCH_CHARS or len(texts) >= BATCH_PIECES:
            yield texts, starts
            texts, starts, size = [], [], 0
    if texts:
        yield texts, starts


def encode_batches(
    batches: Iterable[tuple[list[str], list[bool]]], encoder: _Encoder, workers: int
) -> Iterator[tuple[list[bool], np.ndarray, np.ndarray]]:
    """(starts, ids, lengths) per batch, in input order, encoded by `workers` processes."""
    if workers <= 1:
        for texts, starts in batches:
            yield starts, *encoder(texts, starts)
        return
    with get_context().Pool(workers, _init_worker, (encoder,)) as pool:  # leaving it terminates the workers
        pending: deque = deque()
        for texts, starts in batches:
            pending.append((starts, pool.apply_async(_encode_in_worker, (texts, starts))))
            if len(pending) >= 2 * workers:
                starts, result = pending.popleft()
                yield starts, *result.get()
        while pending:
            starts, result = pending.popleft()
            yield starts, *result.get()


# ---------------------------------------------------------------------------
# the run


def prepare(config: PrepareConfig, progress: ProgressCallback | None = None) -> PrepareResult:
    """Tokenize a corpus into train / val shards and a manifest in config.output (see the module doc)."""
    return _Run(config, progress).run()


class _Run:
    def __init__(self, config: PrepareConfig, progress: ProgressCallback | None) -> None:
        _check_config(config)
        self.config = config
        self.progress = progress or (lambda p: None)
        self.start = time.perf_counter()
        self.corpus = Corpus(list(config.inputs), config.text_field, config.doc_separator, config.errors)
        self.out = Path(config.output)
        for given in config.inputs:
            if os.path.isdir(given) and self.out.resolve().is_relative_to(Path(given).resolve()):
                raise PrepareError(f"--output {self.out} is inside the input directory {given}; put it elsewhere")
        self.sources = self.corpus.describe()
        self.settings = {
            "doc_separator": config.doc_separator,
            "text_field": config.text_field,
            "errors": config.errors,
            "delimiter": config.delimiter,
            "shard_tokens": config.shard_tokens,
            "val": self._val_method(),
        }
        self.fresh = True
        self.created_dir = False
        self.writers: dict[str, ShardWriter] = {}
        self.started_over: str | None = None

    def _val_method(self) -> dict:
        c = self.config
        if c.val_first_shard:
            return {"method": "first-shard", "tokens": c.shard_tokens}
        return {"method": "documents", "fraction": c.val_fraction, "seed": c.seed}

    # --- the directory and the tokenizer -------------------------------------

    def run(self) -> PrepareResult:
        state = self._existing()
        if isinstance(state, Manifest):
            return PrepareResult(state, self.out, time.perf_counter() - self.start, up_to_date=True)
        try:
            if state is None:
                self.tokenizer, self.info = self._new_tokenizer()
            result = self._tokenize(state)
        except KeyboardInterrupt:
            self._close()  # keep everything: the next run resumes
            raise
        except BaseException:
            self._close()
            if self.fresh:
                self._remove_outputs()
            raise
        return result

    def _existing(self) -> Manifest | dict | None:
        """The completed manifest or the saved state of an earlier run here (None: start afresh)."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise PrepareError(f"{out}: exists and is not a directory; give a directory for --output")
        if (out / MANIFEST).is_file():
            manifest = Manifest.load(out)
            self._check_same(manifest.tokenizer, {**manifest.settings, "sources": manifest.sources}, "was prepared")
            return manifest
        if (out / STATE).is_file():
            try:
                state = json.loads((out / STATE).read_text(encoding="utf-8"))
                info = TokenizerInfo(**state["tokenizer"])
                settings = {**state["settings"], "sources": state["sources"]}
            except (ValueError, KeyError, TypeError) as e:
                raise PrepareError(f"{out / STATE}: unreadable ({e!r}); delete {out} and prepare again") from None
            self._check_same(info, settings, "holds an interrupted run")
            self.fresh = False
            self.info = info
            return state
        if out.is_dir():
            strays = [p.name for p in out.iterdir() if not _is_ours(p.name)]
            if strays:
                raise PrepareError(
                    f"{out}: not empty and not a gptkit data directory (it holds {', '.join(sorted(strays)[:3])}); "
                    "give a new or empty --output"
                )
        return None

    def _check_same(self, info: TokenizerInfo, settings: dict, what: str) -> None:
        """Refuse to mix: the directory must have been made by this tokenizer with these settings."""
        spec = self.config.tokenizer
        if spec == "char":
            self.tokenizer = None if info.type != "char" else minbpe.load(self.out / info.file)
            mine = None if self.tokenizer is None else tokenizer_info(self.tokenizer, spec, self.out / info.file)
        else:
            self.tokenizer = minbpe.get_tokenizer(spec)
            mine = tokenizer_info(self.tokenizer, spec, None if spec in PRETRAINED else Path(spec))
        if mine is None or mine.identity() != info.identity():
            raise PrepareError(
                f"{self.out} {what} with tokenizer {info.describe()}, not {spec if mine is None else mine.describe()}: "
                f"tokens of two tokenizers cannot share a directory; use another --output or delete {self.out}"
            )
        wanted = {**self.settings, "sources": self.sources}
        if settings != wanted:
            changed = sorted(k for k in set(settings) | set(wanted) if settings.get(k) != wanted.get(k))
            raise PrepareError(
                f"{self.out} {what} with other settings ({', '.join(changed)} differ); "
                f"use another --output or delete {self.out} to prepare it again"
            )

    def _new_tokenizer(self) -> tuple[Tokenizer, TokenizerInfo]:
        spec = self.config.tokenizer
        tokenizer = CharTokenizer() if spec == "char" else minbpe.get_tokenizer(spec)
        self._mkdir()
        for p in self.out.iterdir():  # leftovers of a run that died before its first save
            p.unlink()
        if spec in PRETRAINED:
            return tokenizer, tokenizer_info(tokenizer, spec, None)
        model = self.out / f"{TOKENIZER_PREFIX}.model"
        if spec == "char":
            self._scan_characters(tokenizer)
            tokenizer.save(str(model.with_suffix("")))
        else:
            atomic_copy(spec, model)
        return tokenizer, tokenizer_info(tokenizer, spec, model)

    def _scan_characters(self, tokenizer: CharTokenizer) -> None:
        """The first pass for --tokenizer char: the corpus's characters, plus the delimiter."""
        counter = ReadCounter()
        docs = [0]

        def texts() -> Iterator[str]:
            for i, (text, start) in enumerate(self.corpus.pieces(counter=counter)):
                docs[0] += start
                if i % 256 == 0:
                    self._report("scan", docs[0], 0, counter.bytes, counter.bytes)
                yield text

        tokenizer.train(texts())
        if self.config.delimiter is not None:
            tokenizer.register_special_tokens({self.config.delimiter: len(tokenizer.chars)})

    def _mkdir(self) -> None:
        if not self.out.exists():
            self.out.mkdir(parents=True)
            self.created_dir = True

    # --- tokenizing ----------------------------------------------------------

    def _tokenize(self, state: dict | None) -> PrepareResult:
        c, tok = self.config, self.tokenizer
        delimiter = None
        if c.delimiter is not None:
            if c.delimiter not in tok.special_tokens:
                raise PrepareError(
                    f"the tokenizer has no special token {c.delimiter!r} to put before each document "
                    f"(it has {sorted(tok.special_tokens) or 'none'}); choose one with --delimiter, "
                    "or --delimiter none to let documents run together"
                )
            delimiter = tok.special_tokens[c.delimiter]
        version = version_for_vocab(tok.n_vocab)
        token_bytes = np.zeros(tok.n_vocab, dtype=np.int64)
        for idx, token in tok.vocab.items():
            token_bytes[idx] = len(token)
        if delimiter is not None:
            token_bytes[delimiter] = 0
        self.writers = {s: ShardWriter(self.out, s, version, c.shard_tokens, token_bytes) for s in SPLITS}
        self.pieces = self.documents = 0
        resumed = 0
        if state is not None:
            resumed = self._resume(state)
        else:
            self._save_state()
        counter = ReadCounter()
        pieces = islice(self.corpus.pieces(cut=pieces_can_be_cut(tok), counter=counter), self.pieces, None)
        encoder = _Encoder(tok, VERSION_DTYPES[version], delimiter)
        saved_at, saved_shards = time.perf_counter(), resumed
        with closing(encode_batches(_batches(pieces), encoder, c.workers)) as encoded:
            for starts, ids, lengths in encoded:
                self._route(starts, ids, lengths)
                self.pieces += len(starts)
                shards = sum(len(w.shards) for w in self.writers.values())
                if shards != saved_shards or time.perf_counter() - saved_at >= SAVE_SECONDS:
                    for w in self.writers.values():
                        w.flush()
                    self._save_state()
                    saved_at, saved_shards = time.perf_counter(), shards
                tokens = sum(w.tokens for w in self.writers.values())
                text_bytes = sum(w.bytes for w in self.writers.values())
                self._report("tokenize", self.documents, tokens, text_bytes, counter.bytes)
        return self._finish(delimiter, resumed)

    def _route(self, starts: list[bool], ids: np.ndarray, lengths: np.ndarray) -> None:
        """Send each piece's ids to its split's writer."""
        train, val = self.writers["train"], self.writers["val"]
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        doc_starts = bounds[:-1][np.asarray(starts, dtype=bool)]
        first_doc = self.documents
        self.documents += len(doc_starts)
        if self.config.val_first_shard:
            room = max(self.config.shard_tokens - val.tokens, 0)
            val.append(ids[:room], doc_starts[doc_starts < room])
            train.append(ids[room:], doc_starts[doc_starts >= room] - room)
            return
        # pieces of a document go where its first piece went; runs of pieces with one split go together
        doc_of_piece = first_doc - 1 + np.cumsum(starts)  # a batch may begin inside a document
        to_val = val_documents(doc_of_piece, self.config.seed, self.config.val_fraction)
        runs = np.concatenate([[0], np.flatnonzero(to_val[1:] != to_val[:-1]) + 1, [len(starts)]])
        for i, j in zip(runs[:-1], runs[1:], strict=True):
            lo, hi = bounds[i], bounds[j]
            run_starts = doc_starts[(doc_starts >= lo) & (doc_starts < hi)] - lo
            (val if to_val[i] else train).append(ids[lo:hi], run_starts)

    # --- resuming and finishing ----------------------------------------------

    def _save_state(self) -> None:
        state = {
            "settings": self.settings,
            "sources": self.sources,
            "tokenizer": asdict(self.info),
            "pieces": self.pieces,
            "documents": self.documents,
            "splits": {name: w.state() for name, w in self.writers.items()},
        }
        atomic_write_text(str(self.out / STATE), json.dumps(state) + "\n")

    def _resume(self, state: dict) -> int:
        """Carry on from a saved state; if the files do not match it, start the shards over."""
        try:
            for name, w in self.writers.items():
                w.resume(state["splits"][name])
            self.pieces, self.documents = state["pieces"], state["documents"]
        except (ResumeError, KeyError) as e:
            for w in self.writers.values():
                w.reset()
            for p in self.out.iterdir():
                if re.fullmatch(_SHARD_NAME + r"(?:\.tmp)?", p.name):
                    p.unlink()
            self.pieces = self.documents = 0
            self.started_over = f"the files did not match the interrupted run's state ({e}), so it started over"
        return sum(len(w.shards) for w in self.writers.values())

    def _finish(self, delimiter: int | None, resumed: int) -> PrepareResult:
        c = self.config
        train, val = self.writers["train"], self.writers["val"]
        if self.documents == 0:
            raise PrepareError(
                f"the input holds no documents ({', '.join(c.inputs)} "
                + ("is empty)" if len(c.inputs) == 1 else "are empty)")
            )
        train.finish()
        val.finish()
        val_info = self._val_method()
        if not c.val_first_shard and self.documents == 1 and c.val_fraction > 0:
            # one document: its last val_fraction of tokens are val
            if val.tokens:
                train.take_over(val)
            keep = int(train.tokens * (1 - c.val_fraction))
            train.cut(keep, into=val)
            val.finish()
            val_info = {"method": "last-tokens", "fraction": c.val_fraction}
        if train.tokens == 0:
            raise PrepareError(
                "no tokens are left for training: "
                + (
                    f"the corpus's {val.tokens:,} tokens fit in the first shard, which is the validation split; "
                    "give a smaller --shard-tokens or use --val-fraction"
                    if c.val_first_shard
                    else f"all {self.documents} documents went to the validation split; lower --val-fraction"
                )
            )
        manifest = Manifest(
            tokenizer=self.info,
            dtype=DTYPE_NAMES[train.version],
            delimiter=None if delimiter is None else {"token": c.delimiter, "id": delimiter},
            splits={name: SplitInfo.of(w.shards) for name, w in self.writers.items()},
            val=val_info,
            settings=self.settings,
            sources=self.sources,
            command=c.command,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        manifest.save(self.out)
        (self.out / STATE).unlink()
        return PrepareResult(manifest, self.out, time.perf_counter() - self.start, resumed_shards=resumed,
                             started_over=self.started_over)

    def _report(self, phase: str, documents: int, tokens: int, text_bytes: int, read_bytes: int) -> None:
        self.progress(Progress(phase, documents, tokens, text_bytes, read_bytes, self.corpus.total_bytes,
                               time.perf_counter() - self.start))

    def _close(self) -> None:
        for w in self.writers.values():
            w.close()

    def _remove_outputs(self) -> None:
        if not self.out.is_dir():
            return
        for p in self.out.iterdir():
            if _is_ours(p.name):
                p.unlink()
        if self.created_dir and not any(self.out.iterdir()):
            self.out.rmdir()


def _is_ours(name: str) -> bool:
    """A file a prepare run writes (shards, temporaries, state, tokenizer, manifest)."""
    return _OURS.fullmatch(name) is not None



def _check_config(c: PrepareConfig) -> None:
    if c.workers < 1:
        raise PrepareError(f"workers must be at least 1, got {c.workers}")
    if c.shard_tokens < 1:
        raise PrepareError(f"shard size must be at least 1 token, got {c.shard_tokens}")
    if not 0 <= c.val_fraction < 1:
        raise PrepareError(f"the validation fraction must be in [0, 1), got {c.val_fraction}")


def pieces_can_be_cut(tokenizer: Tokenizer) -> bool:
    """Whether encoding a document in pieces cut at safe line breaks gives the ids of the whole.

    True for characters, and for the GPT-2 / GPT-4 split patterns, which never
    match across a line break with non-space characters on both sides (minbpe's
    tests prove it). A custom pattern might, and without a pattern a document is
    one chunk, so those documents are encoded whole.
    """
    return isinstance(tokenizer, CharTokenizer) or tokenizer.pattern in (GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN)
