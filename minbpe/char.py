"""CharTokenizer: one token per character, for the character-level models.

The vocabulary is the sorted set of characters of the training text (ids 0..n-1
in code-point order), plus any special tokens after them. There is nothing to
merge, so encoding is a table lookup; a character that the training text did not
have is an error that names it (encode_known marks it instead). The same
encode/decode/save/load surface as the BPE tokenizers, and the same special-token
policy; the file format is in model_file.py.

Sizes: n_vocab is the characters plus the special tokens. train's vocab_size means
what it means for every tokenizer here (the whole vocabulary, special tokens
included), but the text decides the characters, so here it is only an upper bound
on n_vocab.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Literal

from .base import Tokenizer
from .core import AllowedSpecial, TokenizerError, allowed_tokens, check_disallowed, check_special_tokens
from .model_file import read_char_file, write_char_file
from .text import AFTER_ANY_LINE, fix_surrogates, read_blocks


class CharTokenizer(Tokenizer):
    def __init__(self, chars: Iterable[str] = ()) -> None:
        self.chars: list[str] = sorted(set(chars))
        super().__init__(pattern="")

    def _first_free_id(self) -> int:
        return len(self.chars)

    def _base_vocab(self) -> dict[int, bytes]:
        self._stoi = {c: i for i, c in enumerate(self.chars)}
        return {i: c.encode("utf-8") for i, c in enumerate(self.chars)}

    def tiktoken_incompatibility(self) -> str | None:
        return "a CharTokenizer has an id per character; tiktoken encodes byte-level BPE"

    def train(self, text: str | Iterable[str], vocab_size: int | None = None, verbose: bool = False) -> None:
        """Take the vocabulary from the characters of a text or an iterable of documents.

        vocab_size, if given, is an upper bound on n_vocab (the characters + the special tokens).
        """
        seen: set[str] = set()
        for doc in [text] if isinstance(text, str) else text:
            seen.update(doc)
        self._set_chars(seen, vocab_size)

    def train_from_files(
        self,
        paths: Iterable[str | os.PathLike],
        vocab_size: int | None = None,
        verbose: bool = False,
        *,
        errors: Literal["strict", "replace"] = "strict",
    ) -> None:
        """Take the vocabulary from the characters of UTF-8 files, streamed."""
        seen: set[str] = set()
        for p in paths:
            if not os.path.isfile(p) or not os.access(p, os.R_OK):
                raise FileNotFoundError(f"{p}: no such readable file")
            for block in read_blocks(os.fspath(p), errors, cuts=AFTER_ANY_LINE):  # characters: any cut will do
                seen.update(block)
        self._set_chars(seen, vocab_size)

    def _set_chars(self, seen: set[str], max_n_vocab: int | None) -> None:
        chars = sorted({fix_surrogates(c) for c in seen})
        if max_n_vocab is not None and len(chars) + len(self.special_tokens) > max_n_vocab:
            raise TokenizerError(
                f"the text has {len(chars)} distinct characters (+{len(self.special_tokens)} special "
                f"tokens), more than vocab_size={max_n_vocab}"
            )
        check_special_tokens(self.special_tokens, len(chars), max_n_vocab)
        self.chars = chars
        self.vocab = self._build_vocab()

    def _encode_ordinary(self, text: str) -> list[int]:
        stoi = self._stoi
        try:
            return [stoi[c] for c in text]
        except KeyError as e:
            c = e.args[0]
            raise TokenizerError(
                f"character {c!r} (U+{ord(c):04X}) at position {text.index(c)} is not in this "
                f"CharTokenizer's vocabulary of {len(self.chars)} characters"
            ) from None

    def encode_known(self, text: str, allowed_special: AllowedSpecial = "none_raise") -> list[int | str]:
        """encode's ids, except that a character outside the vocabulary stands as itself (a str) where encode
        refuses the text: what a model on this tokenizer reads of a text, and what it cannot (the playground)."""
        special = allowed_tokens(allowed_special, self.special_tokens)
        check_disallowed(text, self.special_tokens, special, allowed_special)
        text = fix_surrogates(text)  # as the vocabulary's characters are
        return self._encode_around(text, {**{c: c for c in set(text) - self._stoi.keys()}, **special})

    def save(self, file_prefix: str) -> None:
        """Write file_prefix.model (header line, then JSON) and a readable file_prefix.vocab."""
        write_char_file(file_prefix, self.chars, self.special_tokens, self.vocab)

    def load(self, model_file: str | os.PathLike) -> None:
        self.chars, self.special_tokens = read_char_file(model_file)
        self.vocab = self._build_vocab()
