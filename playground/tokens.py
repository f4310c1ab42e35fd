"""The playground's tokenizers: which ones the page offers, a text's tokens as spans, and the tiktoken check.

The page offers gpt2 and gpt4, every --tokenizer file (by its file name), and the tokenizer of
each train-gpt run under --runs that has one of its own ("run:NAME"). A run's tokenizer is read
when it is first asked for, so runs that appear while the server is up are offered too.

A text's tokens are shown as spans: each token gets the characters that its bytes complete, read
with an incremental UTF-8 decoder, so the spans put together are the text again even where a
token ends inside a character (that token's span is empty, and the next one holds the character).
When every token of the text is whole characters (most text), each token's span is simply its
text, which is what the decoder would give, without running it token by token. A character-level
run's tokenizer has no id for a character its training text lacked: that character is a span of
its own with no id (null), which the page shows as unreadable to the model, not as an error.

The tiktoken check is independent of the fast path: our ids come from the exact Python merge loop
(backend="python", minbpe's algorithm) and tiktoken's from its own encoder over the same ranks, so
"same ids" is a real agreement of two implementations, not the fast path compared with itself.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import tiktoken

import minbpe
from gpt.checkpoint import checkpoint_tokenizer, load_checkpoint
from gpt.runs import LATEST
from gptkit_base.errors import GptkitError
from minbpe import CharTokenizer, Tokenizer
from minbpe.compare import compare
from minbpe.core import AllowedSpecial, show_piece

from .cache import VersionCache
from .runs import RunIndex

PRETRAINED_NAMES = ("gpt2", "gpt4")
RUN_PREFIX = "run:"


@dataclass
class Encoded:
    """A text's tokens, as the page draws them."""

    ids: list[int | None]  # None: a character the tokenizer has no id for (a CharTokenizer's unknown character)
    spans: list[str]  # the characters each token completes; "".join(spans) is the text
    pieces: dict[int, str]  # each distinct id's bytes, shown (\\xNN for bytes that are not whole characters)
    n_bytes: int

    def as_json(self) -> dict:
        count = sum(i is not None for i in self.ids)  # tokens; the rest are characters without an id
        return {"ids": self.ids, "spans": self.spans, "pieces": {str(k): v for k, v in self.pieces.items()},
                "count": count, "unknown": len(self.ids) - count, "bytes": self.n_bytes,
                "bytes_per_token": self.n_bytes / count if count else None}


def encode_spans(tokenizer: Tokenizer, text: str, allowed_special: AllowedSpecial) -> Encoded:
    """The text's ids (the library's default path) and the span of text each one draws; a character that a
    CharTokenizer has no id for is a span with the id None."""
    vocab = tokenizer.vocab
    if isinstance(tokenizer, CharTokenizer):  # its tokens are whole characters; an unknown one stands as itself
        marked = tokenizer.encode_known(text, allowed_special)
        ids: list[int | None] = [None if isinstance(m, str) else m for m in marked]
        spans = [m if isinstance(m, str) else vocab[m].decode("utf-8") for m in marked]
    else:
        ids = tokenizer.encode(text, allowed_special)
        whole = {i: whole_characters(vocab[i]) for i in set(ids)}
        if all(piece is not None for piece in whole.values()):  # every token is whole characters: its own span
            spans = [whole[i] for i in ids]
        else:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            spans = [decoder.decode(vocab[i]) for i in ids]
            spans[-1] += decoder.decode(b"", final=True)
    pieces = {i: show_piece(vocab[i]) for i in set(ids) - {None}}
    return Encoded(ids, spans, pieces, len(text.encode("utf-8", "replace")))


def whole_characters(token: bytes) -> str | None:
    """The token's text if its bytes are whole UTF-8 characters, else None."""
    try:
        return token.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass
class TwinCheck:
    """Whether tiktoken gives the exact Python path's ids for a text."""

    twin: str | None  # the tiktoken Encoding's name, None when the tokenizer has no tiktoken twin
    checked: bool
    same: bool | None = None
    first_mismatch: int | None = None  # the index of the first id that differs
    why: str | None = None  # why there is no check

    def as_json(self) -> dict:
        return {"twin": self.twin, "checked": self.checked, "same": self.same, "first_mismatch": self.first_mismatch,
                "why": self.why}


def twin_check(tokenizer: Tokenizer, text: str, allowed_special: AllowedSpecial, max_chars: int) -> TwinCheck:
    """Compare the exact Python path's ids with tiktoken's for the text (texts up to max_chars characters)."""
    reason = tokenizer.tiktoken_incompatibility()
    if reason is not None:
        return TwinCheck(None, False, why=f"no tiktoken twin: {reason}")
    encoding: tiktoken.Encoding = tokenizer.to_tiktoken()
    if len(text) > max_chars:
        return TwinCheck(encoding.name, False, why=f"not checked: the text is over {max_chars:,} characters")
    result = compare(tokenizer, encoding, text, allowed_special, backend="python")
    return TwinCheck(encoding.name, True, result.same, result.mismatch)


class TokenizerShelf:
    """The tokenizers the page offers, each loaded once (a run's again when its checkpoint changes)."""

    def __init__(self, files: list[Path], runs: RunIndex) -> None:
        self.files: dict[str, Path] = {}
        for path in files:
            name = path.stem
            while name in self.files or name in PRETRAINED_NAMES or name.startswith(RUN_PREFIX):
                name += "'"
            self.files[name] = path
        self.runs = runs
        self._loaded: VersionCache[Tokenizer] = VersionCache()

    def check_files(self) -> None:
        """Load every --tokenizer file now, so a bad one stops the server before it starts (TokenizerError)."""
        for name in self.files:
            self.get(name)

    def run_tokenizers(self) -> dict[str, Path]:
        """The runs (by name) whose checkpoint names a tokenizer other than gpt2 / gpt4."""
        found = {}
        for name, path in self.runs.runs().items():
            try:
                info = self.runs.info(path)
            except (GptkitError, OSError):
                continue  # the runs view shows what is wrong with it
            if info.kind == "gpt" and info.tokenizer not in PRETRAINED_NAMES:
                found[RUN_PREFIX + name] = path
        return found

    def names(self) -> list[str]:
        return [*PRETRAINED_NAMES, *self.files, *self.run_tokenizers()]

    def get(self, name: str) -> Tokenizer:
        """The tokenizer of that name; KeyError for a name the page does not offer."""
        return self._loaded.get(name, *self._source(name))

    def _source(self, name: str) -> tuple[object, Callable[[], Tokenizer]]:
        """What identifies the tokenizer's current version (a file's mtime), and how to load it."""
        if name in PRETRAINED_NAMES:
            return name, partial(minbpe.get_tokenizer, name)
        if name in self.files:
            return self.files[name].stat().st_mtime_ns, partial(minbpe.load, self.files[name])
        path = self.run_tokenizers().get(name) if name.startswith(RUN_PREFIX) else None
        if path is None:
            raise KeyError(name)
        return (path / LATEST).stat().st_mtime_ns, partial(run_tokenizer, path)


def run_tokenizer(run_dir: Path) -> Tokenizer:
    """The tokenizer a train-gpt run was trained with."""
    return checkpoint_tokenizer(run_dir, load_checkpoint(run_dir, mmap=True))
