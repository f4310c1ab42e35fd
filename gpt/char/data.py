"""Character data for the baselines: line datasets (one example per line) and streams.

Line datasets follow makemore: every example is encoded with a CharTokenizer
whose ids are shifted up by one, so id 0 is free for the boundary token that
starts and ends each example ("." in the lectures). Empty lines are skipped. The
examples are shuffled with random.Random(seed) and cut 80/10/10 into train, val
and test (seed 42 gives the lectures' split of names.txt; they call val "dev"), or,
with split "none", every example is in all three (the lectures' first setting).

A model sees the data in one of two layouts, given by ``Layout``:
- windows: each character and each final boundary is one row, predicted from
  the block_size ids before it (the context starts filled with the boundary).
  This is the lectures' build_dataset; the MLPs train on random rows.
- sequences: one row per example, [0, c1 .. cn] -> [c1 .. cn, 0], padded to the
  longest example with id 0 in x and -1 (ignored by the loss) in y; the GPT
  trains on these. Both layouts predict exactly the same characters, so their
  mean NLLs are the same quantity. A training batch of sequences is packed
  (``pack``): several examples share a row, each starting with its boundary, so
  a row holds characters instead of padding (names: 7.1 ids on average in rows of
  16).

Stream datasets (a long text such as Tiny Shakespeare) are tokenized by the
pipeline (CharTokenizer, train/val shards, no boundary token) and read back
through its loader; their rows are overlapping windows of the token stream,
built as strided views, so nothing is copied per row.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from gptkit_base.errors import ConfigError, NotUTF8Error
from gptkit_base.files import file_sha256
from minbpe import CharTokenizer, TokenizerError
from pipeline.loader import TokenData
from pipeline.prepare import PrepareConfig, prepare
from pipeline.sources import SourceError

BOUNDARY = 0
SPLITS = ("train", "val", "test")


class CharVocab:
    """Characters <-> ids; with a boundary, id 0 is the boundary and the characters are ids 1..n."""

    def __init__(self, chars: str, boundary: bool) -> None:
        self.chars, self.boundary = chars, boundary
        self.tokenizer = CharTokenizer(chars)
        self.offset = 1 if boundary else 0

    @property
    def size(self) -> int:
        return len(self.chars) + self.offset

    def encode(self, text: str) -> list[int]:
        """Ids of text; a character outside the vocabulary is a TokenizerError that names it."""
        return [i + self.offset for i in self.tokenizer.encode_ordinary(text)]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i - self.offset] for i in ids if not (self.boundary and i == BOUNDARY))


@dataclass(frozen=True)
class Layout:
    kind: Literal["windows", "sequences"]
    block_size: int


class LineData:
    """A line dataset split into train/val/test, with its character vocabulary (id 0 = boundary)."""

    def __init__(self, path: str | os.PathLike, split: str = "80/10/10", seed: int = 42) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{path}: no such file; give a text file with one example per line")
        raw = self.path.read_bytes()
        try:
            text = raw.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise NotUTF8Error(f"{path} line {line}: not UTF-8 text ({e.reason}); save the file as UTF-8") from None
        self.sha256 = hashlib.sha256(raw).hexdigest()
        lines = [line.strip() for line in text.split("\n")]  # numbered as an editor numbers them
        examples = [(i, line) for i, line in enumerate(lines) if line]
        if not examples:
            raise SourceError(f"{path}: no examples (every line is empty); give one example per line")
        self.vocab = CharVocab("".join(sorted({c for _, line in examples for c in line})), boundary=True)
        self.split, self.seed = split, seed
        if split == "none":
            self.line_numbers = {name: [i for i, _ in examples] for name in SPLITS}
        elif split == "80/10/10":
            order = list(examples)
            random.Random(seed).shuffle(order)
            n1, n2 = int(0.8 * len(order)), int(0.9 * len(order))
            self.line_numbers = {"train": [i for i, _ in order[:n1]], "val": [i for i, _ in order[n1:n2]],
                                 "test": [i for i, _ in order[n2:]]}
        else:
            raise ConfigError(f"split must be 80/10/10 or none, got {split!r}")
        self.examples = {name: [lines[i] for i in numbers] for name, numbers in self.line_numbers.items()}
        self.max_length = max(len(line) for _, line in examples)
        self.sample_length = self.max_length + 1  # a sample stops at the boundary, or here
        self._rows: dict[tuple[str, Layout], tuple[torch.Tensor, torch.Tensor]] = {}

    def record(self) -> dict:
        """The split, for the run directory: which input lines went where, and how they were drawn."""
        return {"input": str(self.path), "sha256": self.sha256, "split": self.split, "seed": self.seed,
                "sizes": {name: len(v) for name, v in self.line_numbers.items()},
                "line_numbers": self.line_numbers}

    def rows(self, split: str, layout: Layout, evaluation: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) int64 tensors with one row per training example of the layout (built once, then kept)."""
        if (split, layout) not in self._rows:
            self._rows[split, layout] = self._build_rows(split, layout)
        return self._rows[split, layout]

    def _build_rows(self, split: str, layout: Layout) -> tuple[torch.Tensor, torch.Tensor]:
        xs: list[list[int]] = []
        ys: list[int] | list[list[int]] = []
        for word in self.examples[split]:
            ids = self.vocab.encode(word) + [BOUNDARY]
            if layout.kind == "windows":
                context = [BOUNDARY] * layout.block_size
                for ix in ids:
                    xs.append(context)
                    ys.append(ix)
                    context = context[1:] + [ix]
            else:
                pad = layout.block_size - len(ids)
                if pad < 0:
                    raise ConfigError(f"{self.path}: an example of {len(ids) - 1} characters does not fit "
                                     f"block_size {layout.block_size}; use --block-size {len(ids)} or more")
                xs.append([BOUNDARY] + ids[:-1] + [BOUNDARY] * pad)
                ys.append(ids + [-1] * pad)
        if not xs:
            raise SourceError(f"{self.path}: the {split} split is empty; the file needs at least 10 examples")
        return torch.tensor(xs, dtype=torch.long).view(len(xs), -1), torch.tensor(ys, dtype=torch.long)


def pack(x: torch.Tensor, y: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequence rows (one example each, padded) repacked into as few rows of `length` ids as
    first-fit decreasing finds: the longest example first, each into the first row with room.

    Every example keeps its ids, starting with its boundary, so a GPT that restarts
    positions and attention at each boundary (GPT.forward's bos) computes the same
    losses as on the padded rows; the columns that are padding in every row are dropped.
    """
    lengths = (y != -1).sum(1).tolist()
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        r = next((r for r, free in enumerate(room) if free >= lengths[i]), len(rows))
        if r == len(rows):
            rows.append([])
            room.append(length)
        rows[r].append(i)
        room[r] -= lengths[i]
    source, target = [], []  # (example, column) -> (row, column), for one gather
    for r, members in enumerate(rows):
        column = 0
        for i in members:
            source += [(i, c) for c in range(lengths[i])]
            target += [(r, column + c) for c in range(lengths[i])]
            column += lengths[i]
    (si, sc), (ti, tc) = torch.tensor(source).T, torch.tensor(target).T
    width = int(tc.max()) + 1
    px = torch.full((len(rows), width), BOUNDARY, dtype=x.dtype)
    py = torch.full((len(rows), width), -1, dtype=y.dtype)
    px[ti, tc], py[ti, tc] = x[si, sc], y[si, sc]
    return px, py


class StreamData:
    """A text stream tokenized by the pipeline into train/val shards; no boundary, no test split."""

    def __init__(self, path: str | os.PathLike, directory: str | os.PathLike, val_fraction: float = 0.1) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        prepare(PrepareConfig([str(path)], str(directory), "char", val_fraction=val_fraction, delimiter=None))
        self.directory = Path(directory)
        tokenizer = TokenData(directory, "train").manifest.tokenizer.load(directory)
        if not isinstance(tokenizer, CharTokenizer):
            raise TokenizerError(f"{directory}: holds {type(tokenizer).__name__} tokens, not characters")
        self.vocab = CharVocab("".join(tokenizer.chars), boundary=False)
        self.sha256 = file_sha256(self.path)
        self.tokens = {}
        for split in ("train", "val"):
            data = TokenData(directory, split)
            self.tokens[split] = torch.cat([torch.from_numpy(s.astype("int64")) for s in data.shards]) \
                if data.shards else torch.zeros(0, dtype=torch.long)
        self.sample_length = 500  # characters per sample

    def record(self) -> dict:
        return {"input": str(self.path), "data": str(self.directory), "split": "stream",
                "sizes": {name: len(t) for name, t in self.tokens.items()}}

    def rows(self, split: str, layout: Layout, evaluation: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows of the stream as rows: x the block_size ids, y the next id (or the next ids).

        Every window for training; for evaluation, sequences do not overlap (stride
        block_size), so each character is predicted once in either layout.
        """
        tokens = self.tokens.get(split)
        if tokens is None:
            raise ConfigError(f"a stream dataset has train and val splits only, not {split!r}")
        t = layout.block_size
        n = len(tokens) - t
        if n < 1:
            raise ConfigError(f"{self.path}: the {split} split ({len(tokens):,} characters) is shorter than "
                             f"block_size + 1 = {layout.block_size + 1}; use a smaller --block-size")
        if layout.kind == "windows":
            return tokens.as_strided((n, t), (1, 1)), tokens[t:]
        stride = t if evaluation else 1
        rows = (n - 1) // stride + 1
        return tokens.as_strided((rows, t), (stride, 1)), tokens[1:].as_strided((rows, t), (stride, 1))
