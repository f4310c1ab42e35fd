"""manifest.json: what a prepared data directory holds, written last so that it only exists when all is done.

    {
      "format": "gptkit-token-shards", "format_version": 1, "gptkit_version": "0.1.0",
      "tokenizer": {"type": "gpt2", "vocab_size": 50257, "special_tokens": {...}, "sha256": null, "file": null},
      "dtype": "uint16", "delimiter": {"token": "<|endoftext|>", "id": 50256},
      "splits": {"train": {"tokens": ..., "documents": ..., "bytes": ..., "shards": [
                    {"file": "train_000000.bin", "tokens": ..., "documents": ..., "bytes": ..., "sha256": ...}]},
                 "val": {...}},
      "val": {"method": "documents", "fraction": 0.01, "seed": 1337},
      "settings": {...}, "sources": [...], "command": "...", "created": "...", "engine": "local"
    }

The tokenizer's identity is its type (gpt2, gpt4, char, regex, basic), vocabulary
size (every id, special tokens included: the ids a model must embed), special
tokens and, for a tokenizer read from a file, the sha256 of that file, which is
copied into the directory as tokenizer.model so that the shards can always be
decoded. Two directories hold comparable tokens only if these agree.

A record is data from anywhere (a manifest, a checkpoint, an exported model's
gptkit.json), so TokenizerInfo.load reads nothing but gpt2 / gpt4 by name or the
tokenizer.model beside the record, checked by its sha256, and the record must be
that tokenizer's: its vocab_size, which sizes a model's embedding table, cannot be
edited to anything else.
`bytes` counts the UTF-8 bytes of the text the tokens spell (delimiters excluded),
for bits per byte.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import minbpe
from gptkit_base.errors import GptkitError
from gptkit_base.files import atomic_write_text, file_sha256
from minbpe import PRETRAINED, Tokenizer
from minbpe.core import counted

from .shards import DTYPE_NAMES, ShardInfo

FORMAT = "gptkit-token-shards"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TOKENIZER_PREFIX = "tokenizer"  # the tokenizer's file in a data directory: tokenizer.model
TOKENIZER_FILE = f"{TOKENIZER_PREFIX}.model"  # and in a run directory and an exported model
FILE_TYPES = ("char", "regex", "basic")  # the tokenizers read from TOKENIZER_FILE (gpt2 / gpt4 have none)


class ManifestError(GptkitError, ValueError):
    """A data directory whose manifest is missing, malformed or disagrees with its files."""


def gptkit_version() -> str:
    """The installed package's version, or in a clone that was never installed (python cli.py) its
    pyproject.toml's; "unknown" when there is neither."""
    try:
        return version("gptkit")
    except PackageNotFoundError:
        pass
    try:
        found = re.search(r'^version = "([^"]+)"$', (Path(__file__).parents[1] / "pyproject.toml").read_text("utf-8"),
                          re.MULTILINE)
    except OSError:
        found = None
    return found.group(1) if found else "unknown"


@dataclass
class TokenizerInfo:
    """A tokenizer's identity, as a manifest (and a training run's checkpoint) records it.

    `vocab_size` counts every id, special tokens included (the tokenizer's n_vocab:
    one more than the largest id), not only the learned ones.
    """

    type: str  # gpt2 | gpt4 | char | regex | basic
    vocab_size: int  # every id, special tokens included
    special_tokens: dict[str, int]
    sha256: str | None = None  # of tokenizer.model; None for the pretrained gpt2 / gpt4
    file: str | None = None  # "tokenizer.model" (in the data directory) or None
    source: str | None = None  # the tokenizer the user named, for the record

    def identity(self) -> tuple:
        """What must agree for two runs' tokens to be the same tokens."""
        return self.type, self.vocab_size, sorted(self.special_tokens.items()), self.sha256

    def load(self, directory: str | os.PathLike) -> Tokenizer:
        """This tokenizer: gpt2 / gpt4 by name, else tokenizer.model in `directory`, checked by sha256 (a data
        directory, a run directory and an exported model all keep it under that name). ManifestError if the
        record names anything else, or is not the tokenizer's own (its type, vocab_size, special tokens)."""
        tokenizer: Tokenizer
        if isinstance(self.type, str) and self.type in PRETRAINED and self.file is None:
            tokenizer = PRETRAINED[self.type]()
        elif isinstance(self.type, str) and self.type in FILE_TYPES and self.file == TOKENIZER_FILE:
            path = Path(directory) / self.file
            if not path.is_file() or file_sha256(path) != self.sha256:
                raise ManifestError(f"{path}: missing, or not the tokenizer recorded with it (sha256 {self.sha256})")
            tokenizer = minbpe.load(path)
        else:
            raise ManifestError(f"{directory}: the tokenizer record (type {self.type!r}, file {self.file!r}) is not "
                                f"one gptkit reads: {' or '.join(PRETRAINED)} by name, or {', '.join(FILE_TYPES)} "
                                f"with its {TOKENIZER_FILE} beside the record")
        found = TokenizerInfo(tokenizer_type(tokenizer, self.type), tokenizer.n_vocab, dict(tokenizer.special_tokens))
        for name in ("type", "vocab_size", "special_tokens"):
            if getattr(self, name) != getattr(found, name):
                raise ManifestError(f"{directory}: the tokenizer record's {name} is {getattr(self, name)!r:.80}, but "
                                    f"the tokenizer ({self.type}) has {getattr(found, name)!r:.80}; the record was "
                                    "edited or damaged")
        return tokenizer

    def describe(self) -> str:
        origin = "" if self.source in (None, self.type) else f"{self.source}, "
        name = self.type if self.sha256 is None else f"{self.type} ({origin}sha256 {self.sha256[:12]})"
        return f"{name}, {self.vocab_size:,} tokens"


def tokenizer_type(tokenizer: Tokenizer, spec: str) -> str:
    if spec in PRETRAINED:
        return spec
    return {"CharTokenizer": "char", "BasicTokenizer": "basic", "RegexTokenizer": "regex"}.get(
        type(tokenizer).__name__, type(tokenizer).__name__
    )


def tokenizer_info(tokenizer: Tokenizer, spec: str, model_file: Path | None) -> TokenizerInfo:
    """The identity of a tokenizer; model_file is its copy in the data directory (None for gpt2/gpt4)."""
    return TokenizerInfo(
        type=tokenizer_type(tokenizer, spec),
        vocab_size=tokenizer.n_vocab,
        special_tokens=dict(tokenizer.special_tokens),
        sha256=None if model_file is None else file_sha256(model_file),
        file=None if model_file is None else model_file.name,
        source=spec,
    )


@dataclass
class SplitInfo:
    """One split (train or val) as the manifest records it: its totals and its shards."""

    tokens: int = 0
    documents: int = 0
    bytes: int = 0
    shards: list[ShardInfo] = field(default_factory=list)

    @classmethod
    def of(cls, shards: list[ShardInfo]) -> SplitInfo:
        return cls(sum(s.tokens for s in shards), sum(s.documents for s in shards), sum(s.bytes for s in shards),
                   list(shards))

    def summary(self, name: str) -> str:
        """One line: the split's tokens, documents, shards and bytes per token."""
        per_token = f", {self.bytes / self.tokens:.3f} bytes/token" if self.tokens else ""
        return (f"{name}: {counted(self.tokens, 'token')}, {counted(self.documents, 'document')}, "
                f"{counted(len(self.shards), 'shard')}{per_token}")


@dataclass
class Manifest:
    """A prepared data directory's manifest.json (see the module doc)."""

    tokenizer: TokenizerInfo
    dtype: str
    delimiter: dict | None  # {"token": name, "id": id}, or None when documents are not delimited
    splits: dict[str, SplitInfo]
    val: dict
    settings: dict
    sources: list[dict]
    command: str | None = None
    created: str | None = None
    engine: str = "local"  # the engine that prepared it (local or ray): the same bytes either way
    gptkit_version: str = field(default_factory=gptkit_version)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def save(self, directory: str | os.PathLike) -> None:
        data = asdict(self)
        head = {k: data.pop(k) for k in ("format", "format_version", "gptkit_version")}  # first, for a reader
        path = Path(directory) / MANIFEST
        atomic_write_text(str(path), json.dumps({**head, **data}, indent=1) + "\n")
        umask = os.umask(0)
        os.umask(umask)
        path.chmod(0o666 & ~umask)  # a temporary file is private; the manifest is as readable as the shards

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Manifest:
        path = Path(directory) / MANIFEST
        if not path.is_file():
            raise ManifestError(
                f"{directory}: no {MANIFEST}; prepare the directory first (python cli.py prepare ...)"
                + (" - an interrupted prepare resumes when run again" if any(Path(directory).glob("*.tmp")) else "")
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ManifestError(f"{path}: not a gptkit manifest (format {data.get('format')!r})")
            if data["format_version"] > FORMAT_VERSION:
                raise ManifestError(
                    f"{path}: format version {data['format_version']} is newer than this gptkit reads "
                    f"({FORMAT_VERSION}); upgrade gptkit"
                )
            data["tokenizer"] = TokenizerInfo(**data["tokenizer"])
            data["splits"] = {
                name: SplitInfo(**{**split, "shards": [ShardInfo(**s) for s in split["shards"]]})
                for name, split in data["splits"].items()
            }
            manifest = cls(**data)
        except (ValueError, KeyError, TypeError) as e:
            if isinstance(e, ManifestError):
                raise
            raise ManifestError(f"{path}: malformed manifest ({type(e).__name__}: {e})") from None
        if manifest.dtype not in DTYPE_NAMES.values():
            raise ManifestError(f"{path}: unknown dtype {manifest.dtype!r}")
        return manifest

    def split_lines(self) -> list[str]:
        """A line per split (`SplitInfo.summary`)."""
        return [split.summary(name) for name, split in self.splits.items()]

    def summary(self, directory: str | os.PathLike) -> list[str]:
        """What `directory` holds, for a person: format, tokenizer, how val was chosen, sources, splits, command."""
        delimiter = "none" if self.delimiter is None else f"{self.delimiter['token']} (id {self.delimiter['id']})"
        val = self.val
        validation = (
            f"documents drawn with probability {val['fraction']} (seed {val['seed']})" if val["method"] == "documents"
            else f"the last {val['fraction']} of the tokens of the one document" if val["method"] == "last-tokens"
            else f"the first shard ({val['tokens']:,} tokens)"
        )
        lines = [
            f"{os.fspath(directory)}: gptkit token shards (format {self.format_version}), "
            f"gptkit {self.gptkit_version}, created {self.created}",
            f"tokenizer: {self.tokenizer.describe()}; tokens stored as {self.dtype}; document delimiter {delimiter}",
            f"validation: {validation}",
        ]
        for source in self.sources:
            size = f", {source['bytes']:,} bytes" if "bytes" in source else ""
            lines.append(f"source: {source.get('path', source.get('dataset'))} ({source['kind']}{size})")
        lines += self.split_lines()
        if self.command:
            lines.append(f"command: {self.command}")
        return lines


def load_tokenizer(directory: str | os.PathLike, manifest: Manifest | None = None) -> Tokenizer:
    """The tokenizer that made a data directory's tokens (checked against the manifest)."""
    return (manifest or Manifest.load(directory)).tokenizer.load(directory)
