"""The Tokenizer class: encode, decode, special tokens, training, save and load.

One class serves every tokenizer here (the subclasses change the vocabulary's shape, not the
algorithm). The algorithm itself lives below it: the merge loop and the special-token policy in
core.py, the split patterns in patterns.py, streamed text in text.py, training in trainer.py, the
.model format in model_file.py, and the proof that tiktoken's encoder gives the same ids in
tiktoken_bridge.py. What the class adds is state and speed:

- a cache of encoded chunks (most chunks of a text repeat: words, spaces), dropped whenever the
  merges, pattern or special tokens change;
- the fast path: encode with tiktoken's Rust encoder when the bridge proves it exact ("auto");
- encode_batch over worker processes for the Python path.

Decoding joins the bytes of the ids and decodes them as UTF-8 (bad bytes become U+FFFD).

Sizes (core.py names them): train(text, vocab_size) asks for the whole vocabulary, special tokens
included, and learns vocab_size - 256 - (the special tokens registered) merges. With no special tokens
that is minbpe's train(text, vocab_size). Special tokens registered before training must hold the
vocabulary's last ids (vocab_size - k .. vocab_size - 1, TokenizerError otherwise), so n_vocab comes out
as vocab_size; registered after training, they take any ids after the merges, and n_vocab grows by them.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from multiprocessing import get_context
from typing import Literal, TypeVar

import regex
import tiktoken

from gptkit_base.ray_session import NEEDS_RAY, has_ray
from gptkit_base.signals import forking, in_worker

from .core import (
    BACKENDS,
    AllowedSpecial,
    Backend,
    TokenizerError,
    allowed_tokens,
    check_disallowed,
    check_special_tokens,
    merge_chunk,
    n_merges,
)
from .model_file import read_model_file, write_model_file
from .ray_count import ray_count_files
from .text import BLOCK_CHARS, fix_surrogates, read_blocks, read_text, safe_cuts, split_blocks
from .tiktoken_bridge import build_encoding, incompatibility
from .trainer import TrainStats, count_chunks, train_bpe

T = TypeVar("T")

# chunks longer than this are not cached (a BasicTokenizer's whole text is one chunk)
_CACHE_CHUNK_CHARS = 256
_CACHE_ENTRIES = 1 << 17


class Tokenizer:
    """Byte-level BPE with an optional regex split pattern and special tokens."""

    # what load() accepts: True = files with a pattern, False = without, None = both
    _needs_pattern: bool | None = None

    def __init__(self, pattern: str = "") -> None:
        self.merges: dict[tuple[int, int], int] = {}
        self.special_tokens: dict[str, int] = {}
        self.pattern = pattern
        self.vocab = self._build_vocab()

    # --- state ---------------------------------------------------------------

    @property
    def pattern(self) -> str:
        return self._pattern

    @pattern.setter
    def pattern(self, pattern: str) -> None:
        try:
            self._compiled = regex.compile(pattern) if pattern else None
        except regex.error as e:
            raise TokenizerError(f"the split pattern {pattern!r} is not a valid regular expression ({e})") from None
        self._pattern = pattern
        self._forget_encodings()

    @property
    def n_vocab(self) -> int:
        """Every id, special tokens included: one more than the largest id, the size of a model's
        embedding table (tiktoken's name; the vocab_size that train was asked for, see train)."""
        return max(self.vocab, default=-1) + 1

    def duplicate_tokens(self) -> list[list[int]]:
        """Groups of learned ids that spell the same bytes (only hand-made or foreign files have them)."""
        by_bytes: dict[bytes, list[int]] = {}
        for idx in self.merges.values():
            by_bytes.setdefault(self.vocab[idx], []).append(idx)
        return [ids for ids in by_bytes.values() if len(ids) > 1]

    def _first_free_id(self) -> int:
        """The smallest id a special token may take: after the bytes and the merges."""
        return 256 + len(self.merges)

    def _build_vocab(self) -> dict[int, bytes]:
        vocab = self._base_vocab()
        for special, idx in self.special_tokens.items():
            vocab[idx] = special.encode("utf-8")
        self._forget_encodings()
        return vocab

    def _base_vocab(self) -> dict[int, bytes]:
        """The ids of the bytes and of the merges, with their bytes."""
        vocab = {idx: bytes([idx]) for idx in range(256)}
        for (p0, p1), idx in self.merges.items():
            vocab[idx] = vocab[p0] + vocab[p1]
        return vocab

    def _bytes_to_ids(self, data: bytes) -> list[int]:
        """The ids a chunk's bytes start as, before any merge."""
        return list(data)

    def _forget_encodings(self) -> None:
        """Drop what was derived from the merges, pattern or special tokens."""
        self._cache: dict[str, list[int]] = {}
        self._tiktoken: tiktoken.Encoding | str | None = None  # an Encoding, or why there is none

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for derived in ("_compiled", "_cache", "_tiktoken"):
            del state[derived]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.pattern = state["_pattern"]

    # --- training ------------------------------------------------------------

    def train(
        self,
        text: str | Iterable[str],
        vocab_size: int,
        verbose: bool = False,
        *,
        workers: int | None = None,
    ) -> TrainStats:
        """Learn a vocabulary of vocab_size ids from a text or an iterable of documents.

        vocab_size is the whole vocabulary: the 256 byte tokens, the merges and the special tokens
        already registered, which must hold its last ids (see the module doc). With none registered it
        is minbpe's 256 + merges. A corpus that runs out of pairs warns (fewer merges are learned).
        No chunk spans two documents. verbose shows progress bars. Splitting runs
        in `workers` processes (default: all cores) when the text is large; the
        result does not depend on it. Returns what the run did.
        """

        def blocks() -> Iterable[str]:
            for i, doc in enumerate([text] if isinstance(text, str) else text):
                if not isinstance(doc, str):
                    raise TypeError(f"train() takes a str or an iterable of str; item {i} is {type(doc).__name__}")
                yield from split_blocks(doc, cuts=safe_cuts(self.pattern)) if self.pattern else [doc]

        return self._train(lambda progress: count_chunks(blocks(), self.pattern, self.special_names, workers, progress),
                           vocab_size, verbose)

    def train_from_files(
        self,
        paths: Iterable[str | os.PathLike],
        vocab_size: int,
        verbose: bool = False,
        *,
        workers: int | None = None,
        errors: Literal["strict", "replace"] = "strict",
        block_bytes: int = BLOCK_CHARS,
        engine: Literal["local", "ray"] = "local",
        ray_address: str | None = None,
    ) -> TrainStats:
        """Learn a vocabulary of vocab_size ids (as in train) from UTF-8 files, streamed: a file is
        never held whole.

        A file is read in blocks of about block_bytes, cut where no chunk changes (text.py), so the
        merges do not depend on it. A BasicTokenizer treats each file as one chunk, so it reads it whole.
        errors="strict" stops at the first byte that is not UTF-8 (naming the file
        and offset); "replace" reads such bytes as U+FFFD.

        engine="ray" splits and counts in Ray tasks (ray_count.py: on the cluster at ray_address, or Ray
        started on this machine's CPUs; needs the `.[ray]` extra, and a split pattern) and learns the same
        merges; `workers` is then the local engine's only.
        """
        paths = [os.fspath(p) for p in paths]
        for p in paths:
            if not os.path.isfile(p) or not os.access(p, os.R_OK):
                raise FileNotFoundError(f"{p}: no such readable file")
        if engine == "ray":
            if not has_ray():
                raise TokenizerError(NEEDS_RAY)
            if workers is not None:
                raise TokenizerError(f"--workers {workers} is for the local engine: with --engine ray, Ray runs the "
                                     "tasks on the cluster's CPUs; leave --workers out")
            return self._train(lambda progress: ray_count_files(paths, self.pattern, self.special_names, errors,
                                                                ray_address, progress=progress),
                               vocab_size, verbose, unit="B")
        if engine != "local":
            raise TokenizerError(f"engine must be 'local' or 'ray', got {engine!r}")
        if ray_address is not None:
            raise TokenizerError("--ray-address is for --engine ray; add --engine ray or leave the address out")
        if self.pattern:
            cuts = safe_cuts(self.pattern)
            blocks: Iterable[str] = chain.from_iterable(read_blocks(p, errors, block_bytes, cuts) for p in paths)
        else:
            blocks = (read_text(p, errors) for p in paths)
        return self._train(lambda progress: count_chunks(blocks, self.pattern, self.special_names, workers, progress),
                           vocab_size, verbose)

    @property
    def special_names(self) -> list[str]:
        """The special tokens' strings: cut out of training text, never learned from."""
        return list(self.special_tokens)

    def _train(self, count: Callable[[Callable[[int], None]], Counter[str]], vocab_size: int, verbose: bool,
               unit: str = "char") -> TrainStats:
        merges_wanted = n_merges(vocab_size, len(self.special_tokens))
        check_special_tokens(self.special_tokens, 256 + merges_wanted, vocab_size)
        merges, stats = train_bpe(count, merges_wanted, verbose, unit)
        self.merges = {pair: 256 + i for i, pair in enumerate(merges)}
        self.vocab = self._build_vocab()
        if stats.stopped_early:
            warnings.warn(
                f"the training text ran out of pairs to merge after {stats.merges} of {merges_wanted} merges: "
                f"the vocabulary has {len(self.vocab)} tokens, not {vocab_size}",
                stacklevel=3,  # the caller of train() or train_from_files()
            )
        return stats

    def register_special_tokens(self, special_tokens: dict[str, int]) -> None:
        """Set the special tokens, e.g. {"<|endoftext|>": 100257} (replaces earlier ones)."""
        check_special_tokens(special_tokens, self._first_free_id())
        self.special_tokens = dict(special_tokens)
        self.vocab = self._build_vocab()

    # --- encoding ------------------------------------------------------------

    def encode_ordinary(self, text: str, backend: Backend = "auto") -> list[int]:
        """Encode text, reading special-token strings as ordinary text."""
        encoding = self._fast_path(backend)
        if encoding is not None:
            return encoding.encode_ordinary(text)
        try:
            return self._encode_ordinary(text)
        except UnicodeEncodeError:  # lone surrogates: tiktoken's policy, U+FFFD
            return self._encode_ordinary(fix_surrogates(text))

    def _encode_ordinary(self, text: str) -> list[int]:
        chunks = self._compiled.findall(text) if self._compiled is not None else [text] if text else []
        cache, merges = self._cache, self.merges
        out: list[int] = []
        for chunk in chunks:
            ids = cache.get(chunk)
            if ids is None:
                ids = merge_chunk(self._bytes_to_ids(chunk.encode("utf-8")), merges)
                if len(chunk) <= _CACHE_CHUNK_CHARS:
                    if len(cache) >= _CACHE_ENTRIES:
                        cache.clear()
                    cache[chunk] = ids
            out.extend(ids)
        return out

    def encode(self, text: str, allowed_special: AllowedSpecial = "none_raise", backend: Backend = "auto") -> list[int]:
        """Encode text to ids, with tiktoken's policy for special tokens.

        allowed_special: "all" encodes every special token as its id; "none"
        reads them as ordinary text; "none_raise" (default) raises ValueError if
        one occurs; a set of names encodes those and raises for any other.
        backend: "python" runs the merge loop here; "tiktoken" runs tiktoken's
        encoder, and raises TokenizerError unless it is proven to give the same
        ids (see tiktoken_incompatibility); "auto" takes tiktoken when it is.
        """
        special = allowed_tokens(allowed_special, self.special_tokens)
        check_disallowed(text, self.special_tokens, special, allowed_special)
        encoding = self._fast_path(backend)
        if encoding is not None:
            return encoding.encode(text, allowed_special=set(special), disallowed_special=())
        return self._encode_around(text, special)

    def _encode_around(self, text: str, apart: Mapping[str, T]) -> list[int | T]:
        """The ids of the text, where each occurrence of a string in `apart` (the longest first) gives its value
        instead: the allowed special tokens' ids (encode), a character a CharTokenizer lacks (encode_known)."""
        if not apart:
            return self.encode_ordinary(text, "python")
        split = regex.compile("(" + "|".join(regex.escape(s) for s in sorted(apart, key=len, reverse=True)) + ")")
        out: list[int | T] = []
        for i, part in enumerate(split.split(text)):
            if i % 2:
                out.append(apart[part])
            elif part:
                out.extend(self.encode_ordinary(part, "python"))
        return out

    def encode_batch(
        self,
        texts: Iterable[str],
        allowed_special: AllowedSpecial = "none_raise",
        workers: int = 1,
        backend: Backend = "auto",
    ) -> list[list[int]]:
        """Encode many documents, in order: tiktoken threads, or `workers` processes for the Python path."""
        texts = list(texts)
        special = allowed_tokens(allowed_special, self.special_tokens)
        for text in texts:
            check_disallowed(text, self.special_tokens, special, allowed_special)
        encoding = self._fast_path(backend)
        if encoding is not None:
            return encoding.encode_batch(
                texts, num_threads=max(1, workers), allowed_special=set(special), disallowed_special=()
            )
        if workers <= 1 or len(texts) < 2:
            return [self.encode(t, allowed_special, "python") for t in texts]
        chunksize = max(1, len(texts) // (workers * 8))
        with forking() as mask:  # (gptkit_base.signals: a worker must end on the SIGTERM that leaving the pool sends)
            pool = get_context().Pool(workers, in_worker, (mask, _set_worker_tokenizer, self, allowed_special))
        with pool:
            return pool.map(_worker_encode, texts, chunksize)

    # --- tiktoken ------------------------------------------------------------

    def tiktoken_incompatibility(self) -> str | None:
        """Why tiktoken's encoder could give other ids than this tokenizer's merges; None when proven equal.

        The conditions and their proof are in minbpe/tiktoken_bridge.py. A tokenizer
        trained here always qualifies (with one of the gpt2/gpt4/minbpe patterns or
        none); the check guards files made elsewhere. It takes up to a second for a
        100k vocabulary.
        """
        return incompatibility(self)

    def to_tiktoken(self) -> tiktoken.Encoding:
        """A tiktoken.Encoding with this tokenizer's pattern, ranks and special tokens, proven to give the
        same ids as encode(backend="python"); TokenizerError says why when it cannot be."""
        encoding = self._tiktoken_or_reason()
        if isinstance(encoding, str):
            raise TokenizerError(f"cannot export this {type(self).__name__} to tiktoken: {encoding}")
        return encoding

    def _tiktoken_or_reason(self) -> tiktoken.Encoding | str:
        if self._tiktoken is None:
            self._tiktoken = self._make_tiktoken()
        return self._tiktoken

    def _make_tiktoken(self) -> tiktoken.Encoding | str:
        reason = self.tiktoken_incompatibility()
        return reason if reason is not None else build_encoding(self)

    def _fast_path(self, backend: Backend) -> tiktoken.Encoding | None:
        """The tiktoken Encoding to encode with, or None for the Python path."""
        if backend not in BACKENDS:
            raise TokenizerError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        if backend == "python":
            return None
        encoding = self._tiktoken_or_reason()
        if isinstance(encoding, str):
            if backend == "tiktoken":
                raise TokenizerError(f"backend='tiktoken' cannot be proven exact for this tokenizer: {encoding}")
            return None
        return encoding

    # --- decoding ------------------------------------------------------------

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of a sequence of ids; an unknown id raises TokenizerError."""
        vocab = self.vocab
        try:
            return b"".join([vocab[idx] for idx in ids])
        except KeyError as e:
            learned = len(vocab) - len(self.special_tokens)  # 0..learned-1, then the specials' own ids
            specials = f" and the special tokens' {sorted(self.special_tokens.values())}" if self.special_tokens else ""
            raise TokenizerError(
                f"unknown token id {e.args[0]!r}: this tokenizer has ids 0..{learned - 1}{specials}"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of ids; bytes that are not valid UTF-8 become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # --- files ---------------------------------------------------------------

    def save(self, file_prefix: str) -> None:
        """Write file_prefix.model (minbpe v1, loadable by minbpe) and a readable file_prefix.vocab."""
        write_model_file(file_prefix, self.pattern, self.special_tokens, self.merges, self.vocab)

    def load(self, model_file: str | os.PathLike) -> None:
        """Load a .model file written by this package or by minbpe."""
        pattern, special_tokens, merges = read_model_file(model_file)
        kind = type(self).__name__
        if self._needs_pattern is True and not pattern:
            raise TokenizerError(f"{model_file}: holds a BasicTokenizer (no pattern), not a {kind}; use minbpe.load()")
        if self._needs_pattern is False and pattern:
            raise TokenizerError(
                f"{model_file}: holds a RegexTokenizer (it has a pattern), not a {kind}; use minbpe.load()"
            )
        self.pattern = pattern
        self.merges = merges
        self.special_tokens = special_tokens
        self.vocab = self._build_vocab()


_worker_tokenizer: tuple[Tokenizer, AllowedSpecial] | None = None


def _set_worker_tokenizer(tokenizer: Tokenizer, allowed_special: AllowedSpecial) -> None:
    global _worker_tokenizer
    _worker_tokenizer = (tokenizer, allowed_special)


def _worker_encode(text: str) -> list[int]:
    assert _worker_tokenizer is not None
    tokenizer, allowed_special = _worker_tokenizer
    return tokenizer.encode(text, allowed_special, "python")
