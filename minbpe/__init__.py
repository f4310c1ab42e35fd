"""minbpe: byte-level BPE tokenizers (Basic, Regex, Char) and a fast, exact trainer.

    from minbpe import RegexTokenizer
    tok = RegexTokenizer()                   # GPT-4 split pattern
    tok.train(open("corpus.txt").read(), vocab_size=1024)
    ids = tok.encode("hello world")
    tok.save("mytok")                        # mytok.model (+ mytok.vocab)
    tok = minbpe.load("mytok.model")         # any of our tokenizers, by its header
"""

from __future__ import annotations

import os

from .base import Tokenizer, TokenizerError, merge_chunk
from .basic import BasicTokenizer
from .char import CHAR_HEADER, CharTokenizer
from .regex import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, RegexTokenizer
from .trainer import TrainStats

__all__ = [
    "BasicTokenizer",
    "CharTokenizer",
    "GPT2_SPLIT_PATTERN",
    "GPT4_SPLIT_PATTERN",
    "RegexTokenizer",
    "Tokenizer",
    "TokenizerError",
    "TrainStats",
    "load",
    "merge_chunk",
]


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
