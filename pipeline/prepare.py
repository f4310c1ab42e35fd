"""prepare: a corpus in, a directory of token shards and its manifest out, streamed and crash-safe.

    from pipeline.prepare import PrepareConfig, prepare
    config = PrepareConfig(inputs=["corpus/"], output="data/corpus", tokenizer="gpt2", workers=4)
    result = prepare(config)            # or prepare(config, PrepareBars()): progress bars on stderr
    print("\\n".join(result.summary()))

How it runs (`prepare`, top to bottom)
--------------------------------------
1. What an earlier run left in the output directory decides what to do: a
   manifest means it is done (with these settings: nothing to do), a saved state
   means an interrupted run to resume; a directory prepared with another
   tokenizer or other settings is refused.
2. A fresh run sets up its tokenizer: gpt2 / gpt4 by name, a .model file copied
   into the directory, or for `char` a first pass over the corpus collects its
   characters and that CharTokenizer (with the delimiter as its special token) is
   saved there; so the shards can always be decoded.
3. The corpus (`sources.Corpus`) is read as pieces of documents, in order, and
   encoded by a pool of workers that keeps that order (`encode.encode_pieces`),
   each document preceded by the delimiter token. With engine="ray" each input
   file is a Ray task that runs that same code and writes its tokens under the
   output directory, and the batches come from those files, in input order
   (`ray_engine`): the steps below are the same, so are the bytes.
4. Each document goes to the train or the val split (below), and each split's
   tokens are appended to its shards (`shards.ShardWriter`).
5. After a batch that completed a shard, and otherwise every second, the open
   shards are flushed and the run's state is saved (`.prepare-state.json`): how
   many pieces are done and what each split holds.
   A run that is stopped (killed, Ctrl-C) carries on from there when started
   again with the same settings; completed shards are kept, not rewritten.
6. Last, the manifest is written and the state (and the Ray engine's units)
   removed. A run that fails on bad input removes what it wrote (a resumed run
   keeps the earlier run's work).

The validation split is pinned. With val_fraction F, document i is in val when
a hash of (seed, i) falls below F: the choice of a document never depends on any
other document, so appending data to a corpus leaves its val documents where
they were. A corpus of one document (Tiny Shakespeare) is split by tokens
instead: the last F of its tokens are val, as nanoGPT's prepare does. With
val_first_shard the first shard_tokens tokens of the corpus are val (llm.c's
convention), whatever the documents.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

import minbpe
from gptkit_base.errors import GptkitError
from gptkit_base.files import LOCK_FILE, atomic_copy, atomic_write_text, exclusive_directory
from gptkit_base.ray_session import NEEDS_RAY, has_ray
from minbpe import ENDOFTEXT, PRETRAINED, CharTokenizer, Tokenizer
from minbpe.core import counted
from minbpe.text import AFTER_ANY_LINE

from .encode import EncodedBatch, Encoder, encode_pieces, piece_cuts
from .manifest import MANIFEST, TOKENIZER_PREFIX, Manifest, SplitInfo, TokenizerInfo, tokenizer_info
from .ray_engine import UNITS, ray_batches  # (which imports Ray only when it runs: Ray is an extra)
from .shards import DTYPE_NAMES, VERSION_DTYPES, ResumeError, ShardWriter, version_for_vocab
from .sources import Corpus, ReadCounter

STATE = ".prepare-state.json"
# how documents are cut into pieces (minbpe.text's rules); a saved state counts pieces, so a run that cut them
# otherwise is not resumed from its count (2: the cut rules follow the split pattern; 3: a file's blocks are
# placed by their byte offsets, so a Ray task reading a part of a file gets the same pieces)
PIECE_LAYOUT = 3
SAVE_SECONDS = 1.0  # the state is saved after a batch that completed a shard, else at most this often
SPLITS = ("train", "val")
ENGINES = ("local", "ray")
_SHARD_NAME = r"(?:train|val)_\d{6}\.bin"
# every file a run writes, and the temporaries of atomic writes (NAME.tmp, NAME.xxxxxxxx.tmp)
_OURS = re.compile(
    rf"(?:{re.escape(MANIFEST)}|{re.escape(STATE)}|{TOKENIZER_PREFIX}\.(?:model|vocab)|{_SHARD_NAME})(?:(?:\.\w+)?\.tmp)?"
    rf"|{re.escape(UNITS)}"
)


class PrepareError(GptkitError, ValueError):
    """A prepare run that cannot go on; the message says why and what to do."""


@dataclass
class PrepareConfig:
    inputs: list[str]
    output: str
    tokenizer: str = "gpt2"  # gpt2 | gpt4 | char | PATH.model
    workers: int = 1
    # the settings with a help text (metadata "help") are prepare's options of the same names
    shard_tokens: int = field(default=100_000_000, metadata={"help": "Tokens per shard."})
    val_fraction: float = field(default=0.01, metadata={
        "help": "Fraction of documents (chosen by --seed) for validation; one document: its last tokens."})
    val_first_shard: bool = field(default=False, metadata={
        "help": "Validate on the first shard instead (llm.c's convention)."})
    seed: int = field(default=1337, metadata={"help": "Picks the validation documents."})
    text_field: str = field(default="text", metadata={
        "help": "The field or column that holds the text in JSONL, Parquet and datasets inputs."})
    doc_separator: str = field(default="file", metadata={
        "help": "Text files: 'file' (a document each), 'line', 'blank-line', or a string such as '\\n\\n'."})
    # a special token of the tokenizer; None (on the command line 'none'): no delimiter
    delimiter: str | None = field(default=ENDOFTEXT, metadata={
        "help": "The special token put before each document; 'none' to put none."})
    errors: str = "strict"  # bytes that are not UTF-8: strict stops, replace reads U+FFFD
    engine: str = field(default="local", metadata={
        "help": "local: a pool of --workers processes; ray: a Ray task per file or 16 MiB of text (needs .[ray])."})
    ray_address: str | None = field(default=None, metadata={
        "help": "The Ray cluster to run on (default: start Ray on this machine); --output must be on a "
                "filesystem every node shares."})
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


ProgressCallback = Callable[[Progress], None]


class PrepareBars:
    """A ProgressCallback that shows tqdm bars on stderr: bytes of input read, with documents and tokens/s (a bar
    per phase: reading characters for char, then tokenizing)."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, p: Progress) -> None:
        if p.phase != self.phase:
            self.close()
            self.phase = p.phase
            desc = "reading characters" if p.phase == "scan" else "tokenizing"
            self.bar = tqdm(total=p.total_bytes, desc=desc, unit="B", unit_scale=True, file=sys.stderr)
        self.bar.update(p.read_bytes - self.bar.n)
        if p.phase == "tokenize":
            seconds = max(p.seconds, 1e-9)
            self.bar.set_postfix_str(
                f"{p.documents:,} docs, {p.text_bytes / seconds / 1e6:.1f} MB/s, {p.tokens / seconds / 1e6:.2f}M tok/s",
                refresh=False,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class PrepareResult:
    """What a run did: the directory's manifest, how long it took, and whether it resumed or had nothing to do."""

    manifest: Manifest
    directory: Path
    seconds: float
    up_to_date: bool = False  # the directory was already complete with these settings: nothing was done
    resumed_shards: int = 0  # shards an interrupted run had completed, kept as they were
    started_over: str | None = None  # why an interrupted run's shards could not be used, if they could not

    def summary(self) -> list[str]:
        """What the run did, a line each: how much text how fast (or that there was nothing to do), then each split."""
        splits = self.manifest.splits.values()
        if self.up_to_date:
            return [f"{self.directory} is already prepared with these settings; nothing to do",
                    *self.manifest.split_lines()]
        text = sum(s.bytes for s in splits)
        documents = sum(s.documents for s in splits)
        rate = "" if self.resumed_shards else f", {text / 1e6 / max(self.seconds, 1e-9):,.1f} MB/s"
        lines = [f"prepared {self.directory} in {self.seconds:.2f} s: {text / 1e6:,.1f} MB of text in "
                 f"{counted(documents, 'document')}{rate}"]
        if self.resumed_shards:
            lines.append(f"resumed an interrupted run: kept its {counted(self.resumed_shards, 'completed shard')}")
        return lines + self.manifest.split_lines()

    def notes(self) -> list[str]:
        """Warnings for a person: why an interrupted run started over; a val split that drew no document."""
        notes = [self.started_over] if self.started_over else []
        val = self.manifest.val
        if val["method"] == "documents" and val["fraction"] > 0 and not self.manifest.splits["val"].tokens:
            notes.append("no document was drawn for validation; raise --val-fraction to get some")
        return notes


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
# the run, top to bottom


def prepare(config: PrepareConfig, progress: ProgressCallback | None = None) -> PrepareResult:
    """Tokenize a corpus into train / val shards and a manifest in config.output (see the module doc)."""
    _check_config(config)
    clock = _Clock(progress)
    corpus = Corpus(list(config.inputs), config.text_field, config.doc_separator, config.errors)
    out = Path(config.output)
    _check_output(out, config.inputs)
    clock.total_bytes = corpus.total_bytes
    _check_engine(config, corpus)
    record = _Record(run_settings(config), corpus.describe())

    with exclusive_directory(out):  # one writer; made here, and removed again if a fresh run fails
        # an earlier run here: done (nothing to do) or interrupted (resume it), if it was made the same way
        earlier = _earlier_run(out)
        if earlier is not None:
            tokenizer = _same_tokenizer(config.tokenizer, out, earlier)
            _check_same_settings(out, earlier, record)
            if isinstance(earlier, Manifest):
                _remove(out / UNITS)  # left if a run was stopped right after writing its manifest
                return PrepareResult(earlier, out, clock.seconds(), up_to_date=True)

        try:
            if earlier is None:
                tokenizer, info = _new_tokenizer(config, corpus, out, clock)
            else:
                info = earlier.tokenizer
            delimiter = _delimiter_id(config.delimiter, tokenizer)
            splits = _Splits(out, config, tokenizer, delimiter)
            state_file = _StateFile(out, record, info)
            with closing(splits):
                if earlier is None:
                    state_file.save(splits)  # from here on, a stopped run resumes
                    started_over = None
                else:
                    started_over = splits.resume(earlier.state)
                    if started_over:  # its units may be cut by other rules too
                        _remove(out / UNITS)
                resumed = splits.shards
                counter = ReadCounter()
                batches = _encoded(config, corpus, Encoder(tokenizer, VERSION_DTYPES[splits.version], delimiter),
                                   splits.pieces, counter)
                _tokenize(batches, splits, state_file, counter, clock)
                _check_unchanged(corpus, record)
                val = splits.finish()
            manifest = Manifest(
                tokenizer=info,
                dtype=DTYPE_NAMES[splits.version],
                delimiter=None if delimiter is None else {"token": config.delimiter, "id": delimiter},
                splits={name: SplitInfo.of(w.shards) for name, w in splits.writers.items()},
                val=val,
                settings=record.settings,
                sources=record.sources,
                command=config.command,
                created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                engine=config.engine,
            )
            manifest.save(out)
            state_file.remove()
            _remove(out / UNITS)
        except KeyboardInterrupt:
            raise  # keep everything: the next run resumes
        except BaseException:
            if earlier is None:  # a fresh run that failed removes what it wrote (and the directory it made);
                # a resumed one keeps the earlier work
                _remove_outputs(out)
            raise
        return PrepareResult(manifest, out, clock.seconds(), resumed_shards=resumed, started_over=started_over)


def _encoded(config: PrepareConfig, corpus: Corpus, encoder: Encoder, skip: int,
             counter: ReadCounter) -> Iterator[EncodedBatch]:
    """The corpus's pieces after the first `skip` (an interrupted run's), encoded in order by the engine: the
    local pool, or Ray tasks that run the same encoding one input file each."""
    if config.engine == "ray":
        return ray_batches(corpus, encoder, Path(config.output), skip, counter, config.ray_address)
    pieces = islice(corpus.pieces(piece_cuts(encoder.tokenizer), counter=counter), skip, None)
    return encode_pieces(pieces, encoder, config.workers)


def _tokenize(batches: Iterator[EncodedBatch], splits: _Splits, state_file: _StateFile, counter: ReadCounter,
              clock: _Clock) -> None:
    """Commit the encoded batches (the pieces after those already in `splits`) to the splits, in order, saving the
    state as it goes; `counter` counts the input the engine has read."""
    saved_at, saved_shards = time.perf_counter(), splits.shards
    with closing(batches):
        for batch in batches:
            splits.add(batch)
            if splits.shards != saved_shards or time.perf_counter() - saved_at >= SAVE_SECONDS:
                splits.flush()
                state_file.save(splits)
                saved_at, saved_shards = time.perf_counter(), splits.shards
            clock.report("tokenize", splits.documents, splits.tokens, splits.text_bytes, counter.bytes)


def _check_unchanged(corpus: Corpus, record: _Record) -> None:
    """Refuse to record a source that changed while it was read (its size or modification time differ from the
    start's): its shards could mix two versions of the file, and the manifest would describe neither."""
    for source, before in zip(corpus.sources, record.sources, strict=True):
        try:
            now = source.describe()
        except OSError as e:
            raise PrepareError(f"{source.path} went away while it was being prepared ({e.strerror}); "
                               "prepare again once the input stops changing") from None
        if now != before:
            raise PrepareError(f"{source.path} changed while it was being prepared ({before.get('bytes'):,} -> "
                               f"{now.get('bytes'):,} bytes, modified again); prepare again once it stops changing")


# ---------------------------------------------------------------------------
# checking the request


def _check_config(c: PrepareConfig) -> None:
    if c.workers < 1:
        raise PrepareError(f"workers must be at least 1, got {c.workers}")
    if c.shard_tokens < 1:
        raise PrepareError(f"shard size must be at least 1 token, got {c.shard_tokens}")
    if not 0 <= c.val_fraction < 1:
        raise PrepareError(f"the validation fraction must be in [0, 1), got {c.val_fraction}")
    if c.engine not in ENGINES:
        raise PrepareError(f"engine must be one of {', '.join(ENGINES)}, got {c.engine!r}")
    if c.engine != "ray":
        if c.ray_address is not None:
            raise PrepareError("--ray-address is for --engine ray; add --engine ray or leave the address out")
        return
    if not has_ray():
        raise PrepareError(NEEDS_RAY)
    if c.workers != 1:
        raise PrepareError(f"--workers {c.workers} is for the local engine: with --engine ray, Ray runs a task per "
                           "input file on the cluster's CPUs; leave --workers out")
    if c.ray_address is not None and not os.path.isabs(c.output):
        raise PrepareError(f"--output {c.output} is a relative path: with --ray-address every node writes under it, "
                           "so give an absolute path on a filesystem they all share")


def _check_engine(c: PrepareConfig, corpus: Corpus) -> None:
    """What the Ray engine does not take: a dataset is no file a task can read on its own."""
    hf = [s.input for s in corpus.sources if s.kind == "hf"]
    if c.engine == "ray" and hf:
        raise PrepareError(f"{hf[0]}: --engine ray reads files, not Hugging Face datasets; use --engine local, "
                           "or save the dataset as Parquet files (Dataset.to_parquet) and give those")


def _check_output(out: Path, inputs: list[str]) -> None:
    if out.exists() and not out.is_dir():
        raise PrepareError(f"{out}: exists and is not a directory; give a directory for --output")
    for given in inputs:
        if os.path.isdir(given) and out.resolve().is_relative_to(Path(given).resolve()):
            raise PrepareError(f"--output {out} is inside the input directory {given}; put it elsewhere")


def val_method(config: PrepareConfig) -> dict:
    """How the val split is chosen, as the manifest records it (a one-document corpus changes it: `_Splits.finish`)."""
    if config.val_first_shard:
        return {"method": "first-shard", "tokens": config.shard_tokens}
    return {"method": "documents", "fraction": config.val_fraction, "seed": config.seed}


def run_settings(config: PrepareConfig) -> dict:
    """What decides which tokens a run writes where: a directory is resumed or reused only if they agree."""
    return {
        "doc_separator": config.doc_separator,
        "text_field": config.text_field,
        "errors": config.errors,
        "delimiter": config.delimiter,
        "shard_tokens": config.shard_tokens,
        "val": val_method(config),
    }


@dataclass
class _Record:
    """What a run records of how it was made, besides its tokenizer: its settings and its sources."""

    settings: dict
    sources: list[dict]


# ---------------------------------------------------------------------------
# what an earlier run left in the directory


@dataclass
class _Interrupted:
    """An interrupted run's saved state: its tokenizer and record, and the whole state (read when resuming)."""

    tokenizer: TokenizerInfo
    settings: dict
    sources: list[dict]
    state: dict

    @classmethod
    def load(cls, out: Path) -> _Interrupted:
        try:
            state = json.loads((out / STATE).read_text(encoding="utf-8"))
            return cls(TokenizerInfo(**state["tokenizer"]), dict(state["settings"]), state["sources"], state)
        except (ValueError, KeyError, TypeError) as e:
            raise PrepareError(f"{out / STATE}: unreadable ({e!r}); delete {out} and prepare again") from None


def _earlier_run(out: Path) -> Manifest | _Interrupted | None:
    """The completed manifest or the saved state of an earlier run in `out` (None: start afresh)."""
    if (out / MANIFEST).is_file():
        return Manifest.load(out)
    if (out / STATE).is_file():
        return _Interrupted.load(out)
    if out.is_dir():
        strays = [p.name for p in out.iterdir() if not _is_ours(p.name) and p.name != LOCK_FILE]
        if strays:
            raise PrepareError(
                f"{out}: not empty and not a gptkit data directory (it holds {', '.join(sorted(strays)[:3])}); "
                "give a new or empty --output"
            )
    return None


def _what(earlier: Manifest | _Interrupted) -> str:
    return "was prepared" if isinstance(earlier, Manifest) else "holds an interrupted run"


def _same_tokenizer(spec: str, out: Path, earlier: Manifest | _Interrupted) -> Tokenizer:
    """The tokenizer `spec` names, if it made the earlier run's tokens: tokens of two tokenizers never mix.

    For `char` that is the directory's own tokenizer.model (learned by the earlier run), checked by its sha256.
    """
    info, what = earlier.tokenizer, _what(earlier)
    tokenizer: Tokenizer | None
    if spec == "char":
        tokenizer = None if info.type != "char" else info.load(out)
        mine = None if tokenizer is None else tokenizer_info(tokenizer, spec, out / info.file)
    else:
        tokenizer = minbpe.get_tokenizer(spec)
        mine = tokenizer_info(tokenizer, spec, None if spec in PRETRAINED else Path(spec))
    if mine is None or mine.identity() != info.identity():
        raise PrepareError(
            f"{out} {what} with tokenizer {info.describe()}, not {spec if mine is None else mine.describe()}: "
            f"tokens of two tokenizers cannot share a directory; use another --output or delete {out}"
        )
    return tokenizer


def _check_same_settings(out: Path, earlier: Manifest | _Interrupted, record: _Record) -> None:
    found = {**earlier.settings, "sources": earlier.sources}
    wanted = {**record.settings, "sources": record.sources}
    if found != wanted:
        changed = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
        raise PrepareError(
            f"{out} {_what(earlier)} with other settings ({', '.join(changed)} differ); "
            f"use another --output or delete {out} to prepare it again"
        )


# ---------------------------------------------------------------------------
# a fresh run's tokenizer


def _new_tokenizer(config: PrepareConfig, corpus: Corpus, out: Path, clock: _Clock) -> tuple[Tokenizer, TokenizerInfo]:
    """A fresh run's tokenizer, and its copy in `out` (a .model file copied, char learned and saved; none for gpt2/4).

    Clears the leftovers of a run that died before its first save.
    """
    spec = config.tokenizer
    tokenizer = CharTokenizer() if spec == "char" else minbpe.get_tokenizer(spec)
    for p in out.iterdir():  # leftovers; _earlier_run refused any other file but the lock
        if _is_ours(p.name):
            _remove(p)
    if spec in PRETRAINED:
        return tokenizer, tokenizer_info(tokenizer, spec, None)
    model = out / f"{TOKENIZER_PREFIX}.model"
    if spec == "char":
        _learn_characters(tokenizer, corpus, config.delimiter, clock)
        if not tokenizer.chars:  # found before the tokenizer is saved, or a vocabulary of 0 ids is
            raise _no_documents(config.inputs)
        tokenizer.save(str(model.with_suffix("")))
    else:
        atomic_copy(spec, model)
    return tokenizer, tokenizer_info(tokenizer, spec, model)


def _learn_characters(tokenizer: CharTokenizer, corpus: Corpus, delimiter: str | None, clock: _Clock) -> None:
    """The first pass for --tokenizer char: the corpus's characters, then the delimiter as the special token."""
    counter = ReadCounter()
    documents = 0

    def texts() -> Iterator[str]:
        nonlocal documents
        for i, (text, start) in enumerate(corpus.pieces(AFTER_ANY_LINE, counter=counter)):  # characters: any cut
            documents += start
            if i % 256 == 0:
                clock.report("scan", documents, 0, counter.bytes, counter.bytes)
            yield text

    tokenizer.train(texts())
    if delimiter is not None:
        tokenizer.register_special_tokens({delimiter: len(tokenizer.chars)})


# ---------------------------------------------------------------------------
# the splits' shards


def _delimiter_id(delimiter: str | None, tokenizer: Tokenizer) -> int | None:
    """The id put before each document: the tokenizer's special token `delimiter` (None: no delimiter)."""
    if delimiter is None:
        return None
    if delimiter not in tokenizer.special_tokens:
        raise PrepareError(
            f"the tokenizer has no special token {delimiter!r} to put before each document "
            f"(it has {sorted(tokenizer.special_tokens) or 'none'}); choose one with --delimiter, "
            "or --delimiter none to let documents run together"
        )
    return tokenizer.special_tokens[delimiter]


def _token_bytes(tokenizer: Tokenizer, delimiter: int | None) -> np.ndarray:
    """UTF-8 bytes of each token's text, by id (0 for the delimiter, which is not text), for bits per byte."""
    token_bytes = np.zeros(tokenizer.n_vocab, dtype=np.int64)
    for idx, token in tokenizer.vocab.items():
        token_bytes[idx] = len(token)
    if delimiter is not None:
        token_bytes[delimiter] = 0
    return token_bytes


class _Splits:
    """The train and val shard writers, and how many pieces and documents have gone into them.

    `add` sends each document's tokens to its split (`val_documents`, or with
    val_first_shard the first shard_tokens tokens to val); `finish` then gives a
    one-document corpus its last val_fraction of tokens as val.
    """

    def __init__(self, out: Path, config: PrepareConfig, tokenizer: Tokenizer, delimiter: int | None) -> None:
        self.out, self.config = out, config
        self.version = version_for_vocab(tokenizer.n_vocab)  # uint16 or uint32 tokens
        token_bytes = _token_bytes(tokenizer, delimiter)
        self.writers = {s: ShardWriter(out, s, self.version, config.shard_tokens, token_bytes) for s in SPLITS}
        self.train, self.val = self.writers["train"], self.writers["val"]
        self.pieces = self.documents = 0

    @property
    def shards(self) -> int:
        """Completed shards, both splits."""
        return sum(len(w.shards) for w in self.writers.values())

    @property
    def tokens(self) -> int:
        return sum(w.tokens for w in self.writers.values())

    @property
    def text_bytes(self) -> int:
        return sum(w.bytes for w in self.writers.values())

    def add(self, batch: EncodedBatch) -> None:
        """Send each piece's ids to its split's writer."""
        starts, ids, lengths = batch
        self.pieces += len(starts)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        doc_starts = bounds[:-1][np.asarray(starts, dtype=bool)]
        first_doc = self.documents
        self.documents += len(doc_starts)
        if self.config.val_first_shard:
            room = max(self.config.shard_tokens - self.val.tokens, 0)
            self.val.append(ids[:room], doc_starts[doc_starts < room])
            self.train.append(ids[room:], doc_starts[doc_starts >= room] - room)
            return
        # pieces of a document go where its first piece went; runs of pieces with one split go together
        doc_of_piece = first_doc - 1 + np.cumsum(starts)  # a batch may begin inside a document
        to_val = val_documents(doc_of_piece, self.config.seed, self.config.val_fraction)
        runs = np.concatenate([[0], np.flatnonzero(to_val[1:] != to_val[:-1]) + 1, [len(starts)]])
        for i, j in zip(runs[:-1], runs[1:], strict=True):
            lo, hi = bounds[i], bounds[j]
            run_starts = doc_starts[(doc_starts >= lo) & (doc_starts < hi)] - lo
            (self.val if to_val[i] else self.train).append(ids[lo:hi], run_starts)

    def flush(self) -> None:
        for w in self.writers.values():
            w.flush()

    def close(self) -> None:
        """Close the open shards as they are (a later run may resume them)."""
        for w in self.writers.values():
            w.close()

    def state(self) -> dict:
        return {"pieces": self.pieces, "documents": self.documents, "piece_layout": PIECE_LAYOUT,
                "splits": {name: w.state() for name, w in self.writers.items()}}

    def resume(self, state: dict) -> str | None:
        """Carry on from a saved state; if the files do not match it, start the shards over and say why."""
        try:
            if state.get("piece_layout") != PIECE_LAYOUT:  # its piece count would point elsewhere in the corpus
                raise ResumeError("it cut the documents into pieces as an older gptkit did")
            for name, w in self.writers.items():
                w.resume(state["splits"][name])
            self.pieces, self.documents = state["pieces"], state["documents"]
            return None
        except (ResumeError, KeyError) as e:
            for w in self.writers.values():
                w.reset()
            for p in self.out.iterdir():
                if re.fullmatch(_SHARD_NAME + r"(?:\.tmp)?", p.name):
                    p.unlink()
            self.pieces = self.documents = 0
            return f"the files did not match the interrupted run's state ({e}), so it started over"

    def finish(self) -> dict:
        """Complete the last shards; how the val split was chosen, for the manifest."""
        c, train, val = self.config, self.train, self.val
        if self.documents == 0:
            raise _no_documents(c.inputs)
        train.finish()
        val.finish()
        method = val_method(c)
        if not c.val_first_shard and self.documents == 1 and c.val_fraction > 0:
            # one document: its last val_fraction of tokens are val
            if val.tokens:
                train.take_over(val)
            train.cut(int(train.tokens * (1 - c.val_fraction)), into=val)
            val.finish()
            method = {"method": "last-tokens", "fraction": c.val_fraction}
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
        return method


# ---------------------------------------------------------------------------
# the saved state, progress, and cleaning up


class _StateFile:
    """`.prepare-state.json`: the run's record and tokenizer, and where its splits are, saved atomically.

    `_Interrupted.load` reads it back.
    """

    def __init__(self, out: Path, record: _Record, tokenizer: TokenizerInfo) -> None:
        self.path, self.record, self.tokenizer = out / STATE, record, tokenizer

    def save(self, splits: _Splits) -> None:
        state = {"settings": self.record.settings, "sources": self.record.sources,
                 "tokenizer": asdict(self.tokenizer), **splits.state()}
        atomic_write_text(str(self.path), json.dumps(state) + "\n")

    def remove(self) -> None:
        self.path.unlink()


class _Clock:
    """Seconds since the run began, and progress reports to the caller's callback."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self.progress = progress or (lambda p: None)
        self.start = time.perf_counter()
        self.total_bytes: int | None = None

    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def report(self, phase: str, documents: int, tokens: int, text_bytes: int, read_bytes: int) -> None:
        self.progress(Progress(phase, documents, tokens, text_bytes, read_bytes, self.total_bytes, self.seconds()))


def _no_documents(inputs: list[str]) -> PrepareError:
    return PrepareError(f"the input holds no documents ({', '.join(inputs)} "
                        + ("is empty)" if len(inputs) == 1 else "are empty)"))


def _is_ours(name: str) -> bool:
    """A file a prepare run writes (shards, temporaries, state, tokenizer, manifest, the Ray engine's units)."""
    return _OURS.fullmatch(name) is not None


def _remove(path: Path) -> None:
    """Remove a file a run wrote, or the Ray engine's directory of units, if it is there."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _remove_outputs(out: Path) -> None:
    """Remove every file a run writes from `out` (exclusive_directory removes `out` if it made it)."""
    if not out.is_dir():
        return
    for p in out.iterdir():
        if _is_ours(p.name):
            _remove(p)
