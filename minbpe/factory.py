"""Getting a tokenizer: by name ("gpt2", "gpt4"), from a saved file, or by training one from files.

These are the package's entry points (re-exported by minbpe/__init__.py); the CLI's tokenizer commands
call them and print what they return.

Sizes: train_tokenizer's vocab_size is the whole vocabulary, special tokens included (what
train-tokenizer's --vocab-size, Tokenizer.train and a tokenizer's n_vocab mean; core.py names the sizes):
the special tokens take its last ids and the merges the rest.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Literal

from .base import Tokenizer
from .basic import BasicTokenizer
from .char import CharTokenizer
from .core import TokenizerError, n_merges
from .model_file import model_kind
from .patterns import PATTERNS
from .pretrained import PRETRAINED
from .regex import RegexTokenizer
from .trainer import TrainStats


def load(path: str | os.PathLike) -> Tokenizer:
    """Load any saved tokenizer of ours (or minbpe's), choosing the class by the file's header.

    A file that is not a tokenizer, or is corrupt, raises TokenizerError naming the
    file and the line.
    """
    kind = model_kind(path)
    tokenizer = CharTokenizer() if kind == "char" else BasicTokenizer() if kind == "basic" else RegexTokenizer()
    tokenizer.load(path)  # checks the header and says what is wrong
    return tokenizer


def get_tokenizer(spec: str | os.PathLike) -> Tokenizer:
    """A tokenizer by name ("gpt2", "gpt4") or from a saved .model file (see load)."""
    if isinstance(spec, str) and spec in PRETRAINED:
        return PRETRAINED[spec]()
    if not os.path.exists(spec):
        raise TokenizerError(
            f"no tokenizer {os.fspath(spec)!r}: give {' or '.join(PRETRAINED)}, or the path of a .model file"
        )
    return load(spec)


def train_tokenizer(
    inputs: Iterable[str | os.PathLike],
    vocab_size: int,
    output: str,
    kind: Literal["regex", "basic"] = "regex",
    pattern: str = "gpt4",
    special: Sequence[str] = (),
    workers: int | None = None,
    errors: Literal["strict", "replace"] = "strict",
    verbose: bool = False,
    overwrite: bool = False,
    engine: Literal["local", "ray"] = "local",
    ray_address: str | None = None,
) -> tuple[Tokenizer, TrainStats]:
    """Train a BPE tokenizer of vocab_size ids on UTF-8 files and save it as output.model / output.vocab
    (creating output's folder).

    vocab_size counts everything: 256 bytes + merges + the special tokens (duplicates named once), which get
    the last ids in the order given. kind "regex" splits with `pattern` (a name in PATTERNS or a regex);
    "basic" merges over the raw text and takes no pattern (the default "gpt4" is ignored). workers, errors,
    verbose, engine and ray_address are Tokenizer.train_from_files's. Returns the tokenizer and what the run
    did; a corpus that runs out of pairs warns (the vocabulary is then smaller). An existing output.model or
    output.vocab is replaced only with overwrite=True (FileExistsError, before any training, without it).
    """
    existing = [path for path in (f"{output}.model", f"{output}.vocab") if os.path.lexists(path)]
    if existing and not overwrite:
        raise FileExistsError(f"{existing[0]} already exists: give another --output, or --overwrite to replace it")
    specials = list(dict.fromkeys(special))
    n_merges(vocab_size, len(specials))  # a vocabulary too small for its bytes and specials: before any work
    tokenizer: Tokenizer
    if kind == "basic":
        if pattern != "gpt4":
            raise TokenizerError("a split pattern applies to kind 'regex' only (CLI: --pattern with --type regex)")
        tokenizer = BasicTokenizer()
    elif kind == "regex":
        tokenizer = RegexTokenizer(PATTERNS.get(pattern, pattern))
    else:
        raise TokenizerError(f"kind must be 'regex' or 'basic', got {kind!r}")
    first = vocab_size - len(specials)
    tokenizer.register_special_tokens({name: first + i for i, name in enumerate(specials)})
    stats = tokenizer.train_from_files(inputs, vocab_size, verbose=verbose, workers=workers, errors=errors,
                                       engine=engine, ray_address=ray_address)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)  # --output out/tok in a fresh clone
    tokenizer.save(output)
    return tokenizer, stats
