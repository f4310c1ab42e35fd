"""The core of every tokenizer here: the merge loop, the error type, the special-token policy, and how
tokens are shown.

A byte-level BPE tokenizer is a list of merges. Token ids 0..255 are the bytes; merge i turns the pair
(id0, id1) into the new token 256 + i. Encoding a text:

1. cut out the allowed special tokens (each becomes its own id; `allowed_tokens` says which are
   allowed, `check_disallowed` refuses the others unless they are read as text);
2. split the rest into chunks with the regex split pattern (patterns.py; "" = no split);
3. in each chunk's bytes, repeatedly merge the adjacent pair with the lowest merge id, every
   occurrence left to right, until no pair has a merge (`merge_chunk`).

Names for sizes, one meaning each across the project (minbpe, pipeline, gpt, the CLI):
- vocab_size: the whole vocabulary, special tokens included: what Tokenizer.train and
  train_tokenizer are asked for, the CLI's --vocab-size, a manifest's tokenizer.vocab_size and
  the rows of a model's embedding table. Without special tokens it is minbpe's number, 256 + merges.
- n_vocab: the same count read off a tokenizer (tiktoken's name): one more than the largest id.
- n_merges: the merges alone; a BPE vocabulary of vocab_size ids with k special tokens has
  vocab_size - 256 - k of them (`n_merges`).

Nothing here imports another module of this package: every other module may import this one.
"""

from __future__ import annotations

import heapq
import unicodedata
from collections.abc import Collection
from typing import Literal

from gptkit_base.errors import GptkitError

# the special token that ends a document: GPT-2's and GPT-4's, and the pipeline's default delimiter
ENDOFTEXT = "<|endoftext|>"
AllowedSpecial = Literal["all", "none", "none_raise"] | Collection[str]
POLICIES = ("all", "none", "none_raise")
# "python": the merge loop below; "tiktoken": tiktoken's Rust encoder, refused unless proven
# to give the same ids; "auto": tiktoken when it is proven equal, else python
Backend = Literal["auto", "python", "tiktoken"]
BACKENDS = ("auto", "python", "tiktoken")


class TokenizerError(GptkitError, ValueError):
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


# --- special tokens ------------------------------------------------------------


def n_merges(vocab_size: int, n_special: int) -> int:
    """The merges of a BPE vocabulary of vocab_size ids of which n_special are special tokens: the ids left
    after the 256 bytes and the special tokens. TokenizerError when those do not fit."""
    if vocab_size < 256 + n_special:
        raise TokenizerError(
            f"a vocabulary of {vocab_size} tokens is too small: it needs at least 256 byte tokens"
            + (f" + {counted(n_special, 'special token')}" if n_special else "")
        )
    return vocab_size - 256 - n_special


def check_special_tokens(special_tokens: dict[str, int], reserved: int, vocab_size: int | None = None) -> None:
    """Special tokens need a name that fits on one line and an unused id >= reserved, and < vocab_size when
    given (the vocabulary a training asks for: for BPE, reserved = vocab_size - their number, so they take
    its last ids)."""
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
        if vocab_size is not None and idx >= vocab_size:
            raise TokenizerError(
                f"special token {name!r} has id {idx}, outside a vocabulary of {vocab_size} tokens: special tokens "
                f"registered before training must fit in it (ids {reserved}..{vocab_size - 1})"
            )
        if idx in by_id:
            raise TokenizerError(f"special tokens {by_id[idx]!r} and {name!r} share id {idx}")
        by_id[idx] = name


def parse_ids(text: str) -> list[int]:
    """Token ids written as text (the CLI's decode): non-negative integers separated by spaces or commas."""
    words = text.replace(",", " ").split()
    for word in words:
        if not word.isdecimal():  # (isdigit would pass '²', which int() refuses)
            raise TokenizerError(f"{word!r} is not a token id (ids are non-negative integers)")
    return [int(word) for word in words]


def parse_allowed_special(value: str) -> AllowedSpecial:
    """A policy written as text (the CLI's --allowed-special): 'all', 'none', 'none_raise', or names
    with commas ('<|endoftext|>,<|fim_prefix|>')."""
    return value if value in POLICIES else set(value.split(","))


def allowed_tokens(policy: AllowedSpecial, special_tokens: dict[str, int]) -> dict[str, int]:
    """The special tokens a policy lets through as their ids, by name.

    "all": every one; "none" / "none_raise": none; a collection of names: those (each must be one of
    special_tokens).
    """
    if policy == "all":
        return special_tokens
    if policy in ("none", "none_raise"):
        return {}
    if not isinstance(policy, Collection) or isinstance(policy, str):
        raise TokenizerError(f"allowed_special must be 'all', 'none', 'none_raise' or a set of names, got {policy!r}")
    unknown = sorted(set(policy) - special_tokens.keys())
    if unknown:
        raise TokenizerError(
            f"allowed_special names {unknown}, which are not special tokens of this "
            f"tokenizer (it has {sorted(special_tokens)})"
        )
    return {name: idx for name, idx in special_tokens.items() if name in policy}


def check_disallowed(
    text: str, special_tokens: dict[str, int], allowed: dict[str, int], policy: AllowedSpecial
) -> None:
    """Raise if the text holds a special token that the policy neither allows nor reads as text ("none")."""
    if policy == "none":
        return
    for name in special_tokens:
        if name not in allowed and (at := text.find(name)) >= 0:
            raise TokenizerError(
                f"the text contains the special token {name!r} at character {at}, which is not "
                "allowed: allow it (allowed_special='all' or a set with its name; CLI: "
                "--allowed-special) to encode it as a special token, or use 'none' to encode it as text"
            )


# --- showing tokens -------------------------------------------------------------


def render_token(t: bytes) -> str:
    """A token's bytes as printable text for .vocab files (minbpe's format): bad bytes as U+FFFD,
    control characters as \\uXXXX."""
    s = t.decode("utf-8", errors="replace")
    return "".join(ch if unicodedata.category(ch)[0] != "C" else f"\\u{ord(ch):04x}" for ch in s)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """n and the noun in n's number: "1 document", "0 documents", "1,024 tokens", "2 batches" (plural given)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def show_piece(token: bytes) -> str:
    """A token's text for a person reading an encoding (`encode --show`, `compare`): bytes that are
    not whole UTF-8 characters as \\xNN, control characters escaped, and a real line break after an
    escaped newline."""
    text = token.decode("utf-8", errors="backslashreplace")
    shown = "".join(
        ch if ch == "\n" or unicodedata.category(ch)[0] != "C" else ch.encode("unicode_escape").decode() for ch in text
    )
    return shown.replace("\n", "\\n\n")
