"""The tokenizer base class: encode, decode, special tokens, save and load.

A byte-level BPE tokenizer is a list of merges. Token ids 0..255 are the bytes;
merge i turns the pair (id0, id1) into the new token 256 + i. Encoding a text:

1. cut out the allowed special tokens (each becomes its own id);
2. split the rest into chunks with the regex `pattern` ("" = no split);
3. in each chunk's bytes, repeatedly merge the adjacent pair with the lowest
   merge id, every occurrence left to right, until no pair has a merge.

Decoding joins the bytes of the ids and decodes them as UTF-8 (bad bytes become
U+FFFD). Files are minbpe's `.model` format, so models move both ways between
this package and minbpe.
"""

from __future__ import annotations

import heapq
import os
import unicodedata
from collections.abc import Collection, Iterable
from itertools import chain
from multiprocessing import get_context
from typing import TYPE_CHECKING, Literal

import regex

from .files import atomic_write_text
from .trainer import TrainStats, fix_surrogates, read_blocks, read_text, split_blocks, train_bpe

if TYPE_CHECKING:
    import tiktoken

MODEL_HEADER = "minbpe v1"

AllowedSpecial = Literal["all", "none", "none_raise"] | Collection[str]
# "python": the merge loop below; "tiktoken": tiktoken's Rust encoder, refused unless proven
# to give the same ids; "auto": tiktoken when it is proven equal, else python
Backend = Literal["auto", "python", "tiktoken"]
BACKENDS = ("auto", "python", "tiktoken")

# chunks longer than this are not cached (a BasicTokenizer's whole text is one chunk)
_CACHE_CHUNK_CHARS = 256
_CACHE_ENTRIES = 1 << 17


class TokenizerError(ValueError):
    """A bad tokenizer file, special token or token id; the message says which and why."""


def merge_chunk(ids: list[int], merges: dict[tuple[int, int], int]) -> list[int]:
    """Apply BPE merges to one chunk: the result of minbpe's encode loop.

    minbpe finds the lowest-ranked pair, merges all its occurrences left to
    right, and repeats: O(n) per merge. Here every mergeable adjacent pair sits
    in a heap ordered by (merge id, position), so pairs come out in exactly that
    order, and a merge only looks at its two neighbours: O(n log n), which matters
    for long chunks. Entries made stale by an earlier merge are skipped. A merge
    always creates pairs with a higher id than its own (each merge's parts are
    older tokens), so no newly made pair can jump ahead of the current id.
    """
    n = len(ids)
    if n < 2:
        return list(ids)
    tok = list(ids)
    nxt = list(range(1, n + 1))
    nxt[-1] = -1
    prv = list(range(-1, n - 1))
    heap = [(r, i) for i in range(n - 1) if (r := merges.get((tok[i], tok[i + 1]))) is not None]
    heapq.heapify(heap)
    while heap:
        r, i = heapq.heappop(heap)
        j = nxt[i]
        if tok[i] < 0 or j < 0 or merges.get((tok[i], tok[j])) != r:
            continue  # stale: one side was merged away since this entry was pushed
        k = nxt[j]
        tok[i], tok[j] = r, -1
        nxt[i] = k
        if k >= 0:
            prv[k] = i
            rk = merges.get((r, tok[k]))
            if rk is not None:
                heapq.heappush(heap, (rk, i))
        p = prv[i]
        if p >= 0:
            rp = merges.get((tok[p], r))
            if rp is not None:
                heapq.heappush(heap, (rp, p))
    out, i = [], 0
    while i >= 0:
        out.append(tok[i])
        i = nxt[i]
    return out


def render_token(t: bytes) -> str:
    """A token's bytes as printable text: control characters shown as \\uXXXX."""
    s = t.decode("utf-8", errors="replace")
    return "".join(ch if unicodedata.category(ch)[0] != "C" else f"\\u{ord(ch):04x}" for ch in s)


def check_special_tokens(special_tokens: dict[str, int], reserved: int) -> None:
    """Special tokens need a name that fits on one line and an unused id >= reserved."""
    by_id: dict[int, str] = {}
    for name, idx in special_tokens.items():
        if not isinstance(name, str) or not name or "\n" in name or "\r" in name:
            raise TokenizerError(f"special token {name!r}: a name must be a non-empty one-line string")
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise TokenizerError(f"special token {name!r}: id must be a non-negative int, got {idx!r}")
        if idx < reserved:
            raise TokenizerError(
                f"special token {name!r} has id {idx}, which collides with a "
                f"{'byte' if idx < 256 else 'learned'} token; choose an id >= {reserved}"
            )
        if idx in by_id:
            raise TokenizerError(f"special tokens {by_id[idx]!r} and {name!r} share id {idx}")
        by_id[idx] = name


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
        self._compiled = regex.compile(pattern) if pattern else None
        self._pattern = pattern
        self._forget_encodings()

    @property
    def n_vocab(self) -> int:
        """One more than the largest id: the size of a model's embedding table."""
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
        """Learn vocab_size - 256 merges from a text or an iterable of documents.

        No chunk spans two documents. verbose shows progress bars. Splitting runs
        in `workers` processes (default: all cores) when the text is large; the
        result does not depend on it. Returns what the run did.
        """

        def blocks() -> Iterable[str]:
            for i, doc in enumerate([text] if isinstance(text, str) else text):
                if not isinstance(doc, str):
                    raise TypeError(f"train() takes a str or an iterable of str; item {i} is {type(doc).__name__}")
                yield from split_blocks(doc) if self.pattern else [doc]

        return self._train(blocks(), vocab_size, verbose, workers)

    def train_from_files(
        self,
        paths: Iterable[str | os.PathLike],
        vocab_size: int,
        verbose: bool = False,
        *,
        workers: int | None = None,
        errors: Literal["strict", "replace"] = "strict",
    ) -> TrainStats:
        """Learn merges from UTF-8 files, streamed: a file is never held whole.

        A BasicTokenizer treats each file as one chunk, so it reads it whole.
        errors="strict" stops at the first byte that is not UTF-8 (naming the file
        and offset); "replace" reads such bytes as U+FFFD.
        """
        paths = [os.fspath(p) for p in paths]
        for p in paths:
            if not os.path.isfile(p) or not os.access(p, os.R_OK):
                raise FileNotFoundError(f"{p}: no such readable file")
        if self.pattern:
            blocks: Iterable[str] = chain.from_iterable(read_blocks(p, errors) for p in paths)
        else:
            blocks = (read_text(p, errors) for p in paths)
        return self._train(blocks, vocab_size, verbose, workers)

    def _train(self, blocks: Iterable[str], vocab_size: int, verbose: bool, workers: int | None) -> TrainStats:
        check_special_tokens(self.special_tokens, max(vocab_size, 256))
        merges, stats = train_bpe(blocks, vocab_size, self.pattern, list(self.special_tokens), workers, verbose)
        self.merges = {pair: 256 + i for i, pair in enumerate(merges)}
        self.vocab = self._build_vocab()
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
        special = self._allowed_special(allowed_special)
        self._check_disallowed(text, special, allowed_special)
        encoding = self._fast_path(backend)
        if encoding is not None:
            return encoding.encode(text, allowed_special=set(special), disallowed_special=())
        if not special:
            return self.encode_ordinary(text, "python")
        split = regex.compile("(" + "|".join(regex.escape(s) for s in sorted(special, key=len, reverse=True)) + ")")
        out: list[int] = []
        for i, part in enumerate(split.split(text)):
            if i % 2:
                out.append(special[part])
            elif part:
                out.extend(self.encode_ordinary(part, "python"))
        return out

    def _allowed_special(self, allowed_special: AllowedSpecial) -> dict[str, int]:
        """The special tokens a policy lets through, by name."""
        if allowed_special == "all":
            return self.special_tokens
        if allowed_special in ("none", "none_raise"):
            return {}
        if not isinstance(allowed_special, Collection) or isinstance(allowed_special, str):
            raise ValueError(
                f"allowed_special must be 'all', 'none', 'none_raise' or a set of names, got {allowed_special!r}"
            )
        unknown = sorted(set(allowed_special) - self.special_tokens.keys())
        if unknown:
            raise ValueError(
                f"allowed_special names {unknown}, which are not special tokens of this "
                f"tokenizer (it has {sorted(self.special_tokens)})"
            )
        return {name: idx for name, idx in self.special_tokens.items() if name in allowed_special}

    def _check_disallowed(self, text: str, allowed: dict[str, int], policy: AllowedSpecial) -> None:
        """Raise if the text holds a special token that the policy neither allows nor reads as text."""
        if policy == "none":
            return
        for name in self.special_tokens:
            if name not in allowed and (at := text.find(name)) >= 0:
                raise ValueError(
                    f"the text contains the special token {name!r} at character {at}, which is not "
                    "allowed: allow it (allowed_special='all' or a set with its name; CLI: "
                    "--allowed-special) to encode it as a special token, or use 'none' to encode it as text"
                )

    def encode_batch(
        self,
        texts: Iterable[str],
        allowed_special: AllowedSpecial = "none_raise",
        workers: int = 1,
        backend: Backend = "auto",
    ) -> list[list[int]]:
        """Encode many documents, in order: tiktoken threads, or `workers` processes for the Python path."""
        texts = list(texts)
        special = self._allowed_special(allowed_special)
        for text in texts:
            self._check_disallowed(text, special, allowed_special)
        encoding = self._fast_path(backend)
        if encoding is not None:
            return encoding.encode_batch(
                texts, num_threads=max(1, workers), allowed_special=set(special), disallowed_special=()
            )
        if workers <= 1 or len(texts) < 2:
            return [self.encode(t, allowed_special, "python") for t in texts]
        chunksize = max(1, len(texts) // (workers * 8))
        with get_context().Pool(workers, _set_worker_tokenizer, (self, allowed_special)) as pool:
            return pool.map(_worker_encode, texts, chunksize)

    # --- tiktoken ------------------------------------------------------------

    def tiktoken_incompatibility(self) -> str | None:
        """Why tiktoken's encoder could give other ids than this tokenizer's merges; None when proven equal.

        The conditions and their proof are in minbpe/tiktoken_bridge.py. A tokenizer
        trained here always qualifies (with one of the gpt2/gpt4/minbpe patterns or
        none); the check guards files made elsewhere. It takes up to a second for a
        100k vocabulary.
        """
        from .tiktoken_bridge import incompatibility

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
        from .tiktoken_bridge import build_encoding

        reason = self.tiktoken_incompatibility()
        return reason if reason is not None else build_encoding(self)

    def _fast_path(self, backend: Backend) -> tiktoken.Encoding | None:
        """The tiktoken Encoding to encode with, or None for the Python path."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
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
            raise TokenizerError(
                f"unknown token id {e.args[0]!r}: this tokenizer has ids 0..{self.n_vocab - 1}"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of ids; bytes that are not valid UTF-8 become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # --- files ---------------------------------------------------------------

    def save(self, file_prefix: str) -> None:
        """Write file_prefix.model (minbpe v1, loadable by minbpe) and a readable file_prefix.vocab."""
        lines = [MODEL_HEADER, self.pattern, str(len(self.special_tokens))]
        lines += [f"{special} {idx}" for special, idx in self.special_tokens.items()]
        lines += [f"{p0} {p1}" for p0, p1 in self.merges]
        atomic_write_text(file_prefix + ".model", "\n".join(lines) + "\n")
        inverted = {idx: pair for pair, idx in self.merges.items()}
        rows = []
        for idx, token in self.vocab.items():
            s = render_token(token)
            if idx in inverted:
                p0, p1 = inverted[idx]
                rows.append(f"[{render_token(self.vocab[p0])}][{render_token(self.vocab[p1])}] -> [{s}] {idx}")
            else:
                rows.append(f"[{s}] {idx}")
        atomic_write_text(file_prefix + ".vocab", "\n".join(rows) + "\n")

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


def read_tokenizer_file(path: str | os.PathLike) -> str:
    """The text of a tokenizer file, or a TokenizerError that says why it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read tokenizer file ({e.strerror})") from None
    except UnicodeDecodeError:
        raise TokenizerError(f"{path}: not a tokenizer .model file (not UTF-8 text)") from None


def read_model_file(path: str | os.PathLike) -> tuple[str, dict[str, int], dict[tuple[int, int], int]]:
    """Parse and check a minbpe v1 .model file: (pattern, special tokens, merges)."""
    lines = read_tokenizer_file(path).split("\n")
    if lines[0] != MODEL_HEADER:
        raise TokenizerError(
            f"{path}: not a minbpe .model file (first line {lines[0][:40]!r}, expected {MODEL_HEADER!r})"
        )
    if lines[-1] == "":
        lines.pop()

    def bad(lineno: int, what: str) -> TokenizerError:
        return TokenizerError(f"{path} line {lineno}: {what}; the file is corrupt or truncated")

    if len(lines) < 3:
        raise bad(len(lines) + 1, "missing the pattern or the special-token count")
    pattern = lines[1]
    if pattern:
        try:
            regex.compile(pattern)
        except regex.error as e:
            raise bad(2, f"the split pattern does not compile ({e})") from None
    if not lines[2].isdigit():
        raise bad(3, f"expected the number of special tokens, got {lines[2][:40]!r}")
    n_special = int(lines[2])
    if len(lines) < 3 + n_special:
        raise bad(len(lines) + 1, f"expected {n_special} special-token lines")
    special_tokens: dict[str, int] = {}
    for lineno in range(4, 4 + n_special):
        name, _, idx = lines[lineno - 1].rpartition(" ")
        if not name or not idx.isdigit():
            raise bad(lineno, f"expected '<special token> <id>', got {lines[lineno - 1][:40]!r}")
        special_tokens[name] = int(idx)
    merges: dict[tuple[int, int], int] = {}
    for lineno in range(4 + n_special, len(lines) + 1):
        parts = lines[lineno - 1].split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise bad(lineno, f"expected two token ids 'A B', got {lines[lineno - 1][:40]!r}")
        pair = (int(parts[0]), int(parts[1]))
        idx = 256 + len(merges)
        if max(pair) >= idx:
            raise bad(lineno, f"merge {pair} makes token {idx} from a token that does not exist yet")
        if pair in merges:
            raise bad(lineno, f"merge {pair} appears twice")
        merges[pair] = idx
    try:
        check_special_tokens(special_tokens, 256 + len(merges))
    except TokenizerError as e:
        raise TokenizerError(f"{path}: {e}") from None
    return pattern, special_tokens, merges


_worker_tokenizer: tuple[Tokenizer, AllowedSpecial] | None = None


def _set_worker_tokenizer(tokenizer: Tokenizer, allowed_special: AllowedSpecial) -> None:
    global _worker_tokenizer
    _worker_tokenizer = (tokenizer, allowed_special)


def _worker_encode(text: str) -> list[int]:
    assert _worker_tokenizer is not None
    tokenizer, allowed_special = _worker_tokenizer
    return tokenizer.encode(text, allowed_special, "python")
