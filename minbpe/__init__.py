"""minbpe: byte-level BPE tokenizers (Basic, Regex, Char, GPT-2, GPT-4), a fast exact trainer,
and the bridge to tiktoken.

    from minbpe import RegexTokenizer
    tok = RegexTokenizer()                   # GPT-4 split pattern
    tok.train(open("corpus.txt").read(), vocab_size=1024)
    ids = tok.encode("hello world")          # tiktoken's speed when proven exact, else Python
    tok.save("mytok")                        # mytok.model (+ mytok.vocab)
    tok = minbpe.load("mytok.model")         # any of our tokenizers, by its header
    gpt4 = minbpe.get_tokenizer("gpt4")      # tiktoken's cl100k_base ids, offline
    enc = tok.to_tiktoken()                  # a tiktoken.Encoding giving the same ids
"""

from __future__ import annotations

import os

from .base import Tokenizer, TokenizerError, merge_chunk
from .basic import BasicTokenizer
from .char import CHAR_HEADER, CharTokenizer
from .pretrained import GPT2Tokenizer, GPT4Tokenizer, get_encoding
from .regex import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, MINBPE_GPT4_SPLIT_PATTERN, RegexTokenizer
from .tiktoken_bridge import TiktokenTokenizer, from_tiktoken
from .trainer import TrainStats

__all__ = [
    "BasicTokenizer",
    "CharTokenizer",
    "GPT2_SPLIT_PATTERN",
    "GPT2Tokenizer",
    "GPT4Tokenizer",
    "GPT4_SPLIT_PATTERN",
    "MINBPE_GPT4_SPLIT_PATTERN",
    "PRETRAINED",
    "RegexTokenizer",
    "TiktokenTokenizer",
    "Tokenizer",
    "TokenizerError",
    "TrainStats",
    "from_tiktoken",
    "get_encoding",
    "get_tokenizer",
    "load",
    "merge_chunk",
]

# the pretrained tokenizers get_tokenizer() knows by name
PRETRAINED = {"gpt2": GPT2Tokenizer, "gpt4": GPT4Tokenizer}


def load(path: str | os.PathLike) -> Tokenizer:
    """Load any saved tokenizer of ours (or minbpe's), choosing the class by the file's header.

    A file that is not a tokenizer, or is corrupt, raises TokenizerError naming the
    file and the line.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(64).split(b"\n", 2)
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read tokenizer file ({e.strerror})") from None
    tokenizer: Tokenizer
    if head[0] == CHAR_HEADER.encode():
        tokenizer = CharTokenizer()
    elif len(head) > 1 and head[1] == b"":
        tokenizer = BasicTokenizer()
    else:
        tokenizer = RegexTokenizer()  # load() checks the header and says what is wrong
    tokenizer.load(path)
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
