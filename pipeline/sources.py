"""Sources: the documents of a corpus, streamed from text, JSONL, Parquet or Hugging Face `datasets`.

An input is one of

    notes.txt, data/*.txt, data/        a file, a glob, or a directory (every file under it,
                                        recursively, in sorted order; hidden files skipped)
    shard.jsonl / .ndjson / .json       JSON Lines: one object per line, its `text_field` is a document
    shard.parquet                       a Parquet file: each row's `text_field` column is a document
    hf:PATH_OR_NAME[?key=value&...]     a Hugging Face dataset: a directory written by `save_to_disk`
                                        (memory-mapped), or anything `datasets.load_dataset` takes,
                                        streamed; keys go to it as arguments (split defaults to train),
                                        e.g. hf:json?data_files=a.jsonl or hf:/data/wiki?name=20220301.en

Plain text files are one document each, or split into documents by `doc_separator`:
"file" (the default), "line" (one document per line), "blank-line" (paragraphs
separated by one or more blank lines), or any other literal string (with \\n, \\t,
\\r and \\\\ read as escapes). Separators are not part of the documents, and empty
documents are dropped.

Bad bytes: files are read as UTF-8. With errors="strict" (the default) the first
invalid byte stops the run with the file and its byte offset (JSONL: also the
line); errors="replace" reads each invalid byte as U+FFFD, as Python's decoder does.

Nothing is held whole except one document: a document is handed on in pieces
(`Corpus.pieces`) of about 1 MB, ended only where the tokenizer's cut rule allows
(`minbpe.text`: positions no chunk of its split pattern crosses, proven by minbpe's
tests), so encoding the pieces one by one gives exactly the ids of the whole document.
For a tokenizer where no rule holds (no split pattern, or a custom one) pass cuts=None
and each document is one piece. A stream split at separators is read in blocks ended
after any line break: the separators are found across the blocks' ends.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl

import regex

from gptkit_base.errors import GptkitError, NotUTF8Error
from minbpe.text import AFTER_ANY_LINE, ANY_PATTERN_CUTS, BLOCK_CHARS, cut_at_or_after, read_blocks, split_blocks

SEPARATORS = {"file": None, "line": r"\r?\n", "blank-line": r"\n\s*\n"}
# a place where a "blank-line" separator ends wherever reading began: its match from the whitespace run's
# first line break takes the run up to its last one (two line breaks, then a non-space)
AFTER_BLANK_LINE = r"(?<=\n\r?\n)(?=\S)"
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
HF_PREFIX = "hf:"
ROWS_PER_BATCH = 1024


class SourceError(GptkitError, ValueError):
    """An input that cannot be read as documents; the message names it and says what to do."""


@dataclass
class ReadCounter:
    """How much input has been read, for a progress bar over the inputs' total size.

    Exact (bytes) at the end of each file; within a text file it grows by
    characters, which costs nothing to count (a byte count would mean encoding the
    text once more).
    """

    bytes: int = 0


@dataclass(frozen=True)
class Source:
    """One input file (kind text, jsonl or parquet) or one Hugging Face dataset (kind hf)."""

    input: str  # as the user gave it
    kind: str
    path: str  # an absolute file path, or the dataset's path or name
    args: tuple[tuple[str, str], ...] = ()  # hf: load_dataset arguments

    def describe(self) -> dict:
        """What the manifest records, and what a resumed run must find unchanged."""
        if self.kind == "hf":
            return {"input": self.input, "kind": self.kind, "dataset": self.path, "args": dict(self.args)}
        st = os.stat(self.path)
        return {"input": self.input, "kind": self.kind, "path": self.path, "bytes": st.st_size,
                "mtime_ns": st.st_mtime_ns}


def separator_regex(doc_separator: str) -> regex.Pattern | None:
    """The compiled separator for a --doc-separator value (None: a document per file)."""
    if not doc_separator:
        raise SourceError("the document separator is empty; use 'file', 'line', 'blank-line' or a string")
    if doc_separator in SEPARATORS:
        pattern = SEPARATORS[doc_separator]
        return regex.compile(pattern) if pattern else None
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
    literal = regex.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), doc_separator)
    return regex.compile(regex.escape(literal))


def _file_source(given: str, path: str) -> Source:
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise SourceError(f"{path}: cannot read the file ({e.strerror})") from None
    suffix = Path(path).suffix.lower()
    kind = "jsonl" if suffix in JSONL_SUFFIXES else "parquet" if suffix == ".parquet" else "text"
    return Source(given, kind, os.path.abspath(path))


def resolve_inputs(inputs: Iterable[str]) -> list[Source]:
    """Expand globs and directories into sources, checking that every file can be opened."""
    sources: list[Source] = []
    for given in inputs:
        if given.startswith(HF_PREFIX):
            path, _, query = given[len(HF_PREFIX) :].partition("?")
            if not path:
                raise SourceError(f"{given!r}: give a dataset after 'hf:', e.g. hf:json?data_files=a.jsonl")
            sources.append(Source(given, "hf", path, tuple(parse_qsl(query, keep_blank_values=True))))
        elif os.path.isdir(given):
            files = sorted(
                os.path.join(root, name)
                for root, dirs, names in os.walk(given)
                for name in names
                if not name.startswith(".") and not any(p.startswith(".") for p in Path(root).relative_to(given).parts)
            )
            if not files:
                raise SourceError(f"{given}: the directory has no files")
            sources += [_file_source(given, f) for f in files]
        elif glob.has_magic(given):
            files = sorted(p for p in glob.glob(given, recursive=True) if os.path.isfile(p))
            if not files:
                raise SourceError(f"{given}: no file matches this pattern")
            sources += [_file_source(given, f) for f in files]
        elif os.path.lexists(given):
            sources.append(_file_source(given, given))
        else:
            raise SourceError(f"{given}: no such file or directory")
    if not sources:
        raise SourceError("no input given")
    return sources


class Unit(NamedTuple):
    """A part of the corpus a Ray task reads: source `source`'s bytes [start, end) (end None: to its end)."""

    source: int
    start: int
    end: int | None


@dataclass
class Corpus:
    """The documents of some inputs, and how to read them."""

    inputs: list[str]
    text_field: str = "text"
    doc_separator: str = "file"
    errors: str = "strict"
    sources: list[Source] = field(init=False)

    def __post_init__(self) -> None:
        if self.errors not in ("strict", "replace"):
            raise SourceError(f"errors must be 'strict' or 'replace', got {self.errors!r}")
        self._separator = separator_regex(self.doc_separator)
        self.sources = resolve_inputs(self.inputs)

    @cached_property
    def total_bytes(self) -> int | None:
        """The inputs' size on disk, or None when a dataset's size is not known."""
        if any(s.kind == "hf" for s in self.sources):
            return None
        return sum(os.path.getsize(s.path) for s in self.sources)

    def describe(self) -> list[dict]:
        return [s.describe() for s in self.sources]

    def units(self, cuts: str | None, unit_bytes: int) -> list[Unit]:
        """The corpus in units for the Ray engine's tasks, in order: a text file larger than unit_bytes is cut
        near every multiple of it, at the first place after where a unit can begin (`unit_rule`), so a
        unit's pieces are those the whole file gives there; any other source is one unit."""
        if unit_bytes % BLOCK_CHARS:  # a unit must begin where read_blocks begins a block
            raise ValueError(f"unit_bytes must be a multiple of {BLOCK_CHARS}, got {unit_bytes}")
        rule = self.unit_rule(cuts)
        units = []
        for i, source in enumerate(self.sources):
            size = os.path.getsize(source.path) if source.kind != "hf" else 0
            if source.kind != "text" or rule is None or size <= unit_bytes:
                units.append(Unit(i, 0, None))
                continue
            starts = sorted({cut_at_or_after(source.path, k * unit_bytes, rule) for k in range(-(-size // unit_bytes))})
            ends = [*starts[1:], size]
            units += [Unit(i, a, b) for a, b in zip(starts, ends, strict=True) if a < b]
        return units

    def unit_rule(self, cuts: str | None) -> str | None:
        """Where a text file's unit may begin (a rule of minbpe.text): a place the file's pieces begin too. One
        document per file: where the tokenizer's pieces may end (`cuts`: read_blocks puts a block there); a
        document per line: after any line break; per paragraph: after two line breaks (CRLF too) before a non-space (the
        end of a separator, wherever reading began). Other separators, or no cuts for a whole file: None (the
        file is one unit)."""
        if self._separator is None:
            return cuts
        return {"line": AFTER_ANY_LINE, "blank-line": AFTER_BLANK_LINE}.get(self.doc_separator)

    def pieces(self, cuts: str | None = ANY_PATTERN_CUTS, counter: ReadCounter | None = None,
               unit: Unit | None = None) -> Iterator[tuple[str, bool]]:
        """(text, starts_a_document) for every piece of every document, in order.

        With a cut rule (minbpe.text's: the tokenizer's safe cuts, `pipeline.encode.piece_cuts`) long
        documents are handed on in ~1 MB pieces ended where the rule allows; cuts=None gives every
        document as one piece. `unit`: read only this one of `units(cuts, ...)` (a Ray task reads one).
        """
        counter = counter if counter is not None else ReadCounter()
        for u in [Unit(i, 0, None) for i in range(len(self.sources))] if unit is None else [unit]:
            source = self.sources[u.source]
            done = counter.bytes
            if source.kind == "text" and self._separator is None and cuts is not None:
                blocks = self._text_blocks(source, counter, cuts, u)
                first = next(blocks, None)
                if first is not None:
                    yield first, u.start == 0  # a file's later units continue its document
                    yield from ((b, False) for b in blocks)
            else:
                for doc in self._documents(source, counter, u):
                    if not doc:
                        continue
                    if cuts is not None and len(doc) > BLOCK_CHARS:
                        for i, piece in enumerate(split_blocks(doc, cuts=cuts)):
                            yield piece, i == 0
                    else:
                        yield doc, True
            if source.kind != "hf":
                counter.bytes = done + (os.path.getsize(source.path) if u.end is None else u.end) - u.start

    def _documents(self, source: Source, counter: ReadCounter, unit: Unit) -> Iterator[str]:
        if source.kind == "text":
            # the text is joined again (one document) or split at separators whatever the blocks' ends
            blocks = self._text_blocks(source, counter, AFTER_ANY_LINE, unit)
            if self._separator is None:
                yield "".join(blocks)
            else:
                yield from split_stream(blocks, self._separator)
        elif source.kind == "jsonl":
            yield from self._jsonl(source, counter)
        elif source.kind == "parquet":
            yield from self._parquet(source, counter)
        else:
            yield from self._hf(source, counter)

    def _text_blocks(self, source: Source, counter: ReadCounter, cuts: str, unit: Unit) -> Iterator[str]:
        for block in read_blocks(source.path, self.errors, cuts=cuts, start=unit.start, end=unit.end):
            counter.bytes += len(block)
            yield block

    def _jsonl(self, source: Source, counter: ReadCounter) -> Iterator[str]:
        path, offset = source.path, 0
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                counter.bytes += len(raw)
                offset += len(raw)
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8", self.errors)
                except UnicodeDecodeError as e:
                    raise NotUTF8Error(
                        f"{path} line {lineno}: invalid UTF-8 at byte offset {offset - len(raw) + e.start} "
                        f"({e.reason}); fix the file or use errors='replace' (CLI: --errors replace)"
                    ) from None
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise SourceError(
                        f"{path} line {lineno}: not valid JSON ({e.msg}); a JSONL file holds one JSON object per line"
                    ) from None
                yield self._field(record, f"{path} line {lineno}")

    def _field(self, record: object, where: str) -> str:
        if not isinstance(record, dict):
            raise SourceError(f"{where}: expected a JSON object, got {type(record).__name__}")
        if self.text_field not in record:
            raise SourceError(
                f"{where}: no field {self.text_field!r} (fields: {', '.join(map(str, record)) or 'none'}); "
                "name the text field with --text-field"
            )
        value = record[self.text_field]
        if not isinstance(value, str):
            raise SourceError(f"{where}: field {self.text_field!r} is {type(value).__name__}, not text")
        return value

    def _parquet(self, source: Source, counter: ReadCounter) -> Iterator[str]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(source.path)
        except (OSError, pa.ArrowException) as e:
            raise SourceError(f"{source.path}: not a readable Parquet file ({e})") from None
        schema = pf.schema_arrow
        if self.text_field not in schema.names:
            raise SourceError(
                f"{source.path}: no column {self.text_field!r} (columns: {', '.join(schema.names)}); "
                "name the text column with --text-field"
            )
        column_type = schema.field(self.text_field).type
        if not (pa.types.is_string(column_type) or pa.types.is_large_string(column_type)):
            raise SourceError(f"{source.path}: column {self.text_field!r} holds {column_type}, not text")
        size, rows, row = os.path.getsize(source.path), max(pf.metadata.num_rows, 1), 0
        for batch in pf.iter_batches(batch_size=ROWS_PER_BATCH, columns=[self.text_field]):
            for value in batch.column(0).to_pylist():
                if value is None:
                    raise SourceError(f"{source.path} row {row}: column {self.text_field!r} is null")
                row += 1
                yield value
            counter.bytes += size * batch.num_rows // rows

    def _hf(self, source: Source, counter: ReadCounter) -> Iterator[str]:
        import datasets

        args = dict(source.args)
        split = args.pop("split", "train")
        where = f"{HF_PREFIX}{source.path}"
        saved = Path(source.path)
        try:
            if saved.is_dir() and any((saved / f).is_file() for f in ("dataset_info.json", "dataset_dict.json")):
                if args:
                    raise SourceError(f"{where}: a saved dataset takes only a split, not {sorted(args)}")
                dataset = datasets.load_from_disk(str(saved))
                if isinstance(dataset, datasets.DatasetDict):
                    if split not in dataset:
                        raise SourceError(f"{where}: no split {split!r} (splits: {', '.join(dataset)})")
                    dataset = dataset[split]
                if self.text_field not in dataset.column_names:
                    raise SourceError(
                        f"{where}: no column {self.text_field!r} (columns: {', '.join(dataset.column_names)}); "
                        "name the text column with --text-field"
                    )
                rows: Iterable[dict] = (
                    {self.text_field: text}
                    for batch in dataset.select_columns([self.text_field]).iter(batch_size=ROWS_PER_BATCH)
                    for text in batch[self.text_field]
                )
            else:
                rows = datasets.load_dataset(source.path, split=split, streaming=True, **args)
            for i, record in enumerate(rows):
                text = self._field(record, f"{where} row {i}")
                counter.bytes += len(text)
                yield text
        except (OSError, ValueError, ConnectionError) as e:
            if isinstance(e, SourceError):
                raise
            raise SourceError(f"{where}: cannot load the dataset ({type(e).__name__}: {e})") from None


def split_stream(blocks: Iterable[str], separator: regex.Pattern) -> Iterator[str]:
    """Split a stream of text blocks into the non-empty parts between separator matches.

    The result equals separator.split("".join(blocks)) (minus empty parts) while
    holding only the current part. A match that ends exactly at the end of what
    has been read so far might grow with the next block, so it is kept and
    matched again with the next block.
    """
    capture = regex.compile(f"({separator.pattern})", separator.flags)
    carry = ""
    for block in blocks:
        parts = capture.split(carry + block)  # document, separator, document, ..., document
        if len(parts) > 1 and not parts[-1]:
            carry = parts[-2]
            del parts[-2:]
        else:
            carry = parts.pop()
        yield from filter(None, parts[::2])
    yield from filter(None, capture.split(carry)[::2])
