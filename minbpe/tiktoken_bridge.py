"""The bridge to tiktoken: a tokenizer's tables as a tiktoken Encoding, tiktoken's ranks as merges,
and the proof that both encoders give the same ids.

Two ways to apply the same vocabulary
-------------------------------------
minbpe (our Python path) merges by *pair*: in a chunk it merges the adjacent pair
(a, b) with the lowest id in `merges`. tiktoken merges by *bytes*: the adjacent
pieces x, y whose concatenation x+y has the lowest rank, whatever x and y are, and
a chunk whose bytes are a token is returned whole. With ranks = {bytes(t): id(t)},
tiktoken may merge a pair minbpe never would ("th" + "e" where the merge was
"t" + "he"), so the two can disagree for some merge tables.

When they agree
---------------
Call token t *self-consistent* when encoding t's own bytes with the merges gives
[t]. If every learned token is self-consistent and no two spell the same bytes,
both give the same ids for every chunk. Why:

1. Merging pair r only makes pairs with larger ids (a token is newer than its
   parts), so minbpe applies merges in id order; a span that no merge crossed
   evolves exactly as it would if encoded alone.
2. Run both on one chunk. Until they first differ, they are in the same state,
   and while tiktoken picks a pair that is a merge it picks minbpe's pair (lowest
   id, leftmost). So at the first difference tiktoken joins adjacent pieces x, y
   that are not a merge, x+y = bytes(t). No merge crossed that span, so by (1)
   encoding bytes(t) alone reaches [x, y] as well, and stops there: (x, y) is not
   a merge (it would be a second token with t's bytes). Then t is not
   self-consistent.
3. tiktoken's whole-chunk shortcut returns [t] for a chunk with t's bytes, and a
   self-consistent t encodes to [t] as well.

Every tokenizer trained by greedy BPE (ours, minbpe's) is self-consistent: merge
(a, b) was learned because a and b stood side by side in some chunk after the
earlier merges, so by (1) the bytes of a+b alone reach [a, b] too, then [t]; and
that also rules out two tokens with the same bytes. The check at export guards
files made elsewhere. The chunks themselves come from the split pattern, run by
tiktoken's regex engine (Rust fancy-regex) on one side and Python's `regex` on the
other; only the patterns whose splits the tests prove equal are accepted.

Importing: tiktoken's ranks list tokens by bytes, so the merges are recovered by
encoding each token's bytes with the merges of the tokens before it: it must end
as two pieces, which are its merge. That is also the self-consistency check.

Layering: this module sits below the tokenizer classes. It reads a tokenizer through the
`BPETables` protocol, so base.py asks it for the fast path and pretrained.py builds the
TiktokenTokenizer on it, and no module imports one above it.
"""

from __future__ import annotations

from typing import Protocol

import tiktoken

from .core import TokenizerError, merge_chunk, render_token
from .patterns import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, MINBPE_GPT4_SPLIT_PATTERN

# the split patterns whose chunks are proven equal between Python's regex and tiktoken's engine
EXACT_PATTERNS = {
    GPT2_SPLIT_PATTERN: "gpt2",
    GPT4_SPLIT_PATTERN: "gpt4",
    MINBPE_GPT4_SPLIT_PATTERN: "minbpe's gpt4",
    "": "none (BasicTokenizer)",
}
# a BasicTokenizer's chunk is the whole text (between special tokens)
WHOLE_TEXT_PATTERN = r"[\s\S]+"


class BPETables(Protocol):
    """What the bridge reads of a tokenizer (minbpe.Tokenizer has it all)."""

    pattern: str
    special_tokens: dict[str, int]

    @property
    def merges(self) -> dict[tuple[int, int], int]: ...

    @property
    def vocab(self) -> dict[int, bytes]: ...

    @property
    def n_vocab(self) -> int: ...

    def duplicate_tokens(self) -> list[list[int]]: ...

    def _bytes_to_ids(self, data: bytes) -> list[int]: ...


def incompatibility(tokenizer: BPETables) -> str | None:
    """Why tiktoken could encode differently from the tokenizer's merges; None when proven equal."""
    if tokenizer.pattern not in EXACT_PATTERNS:
        return (
            "its split pattern is not gpt2's, gpt4's or minbpe's, and tiktoken's regex engine (fancy-regex) "
            "may split text differently from Python's regex module"
        )
    names = sorted(tokenizer.special_tokens)
    for a in names:
        for b in names:
            if a != b and a in b:
                return f"special tokens {a!r} and {b!r} overlap, and tiktoken's choice between them is unspecified"
    duplicates = tokenizer.duplicate_tokens()
    if duplicates:
        ids = duplicates[0]
        return f"tokens {ids} spell the same bytes [{render_token(tokenizer.vocab[ids[0]])}], but ranks are by bytes"
    try:
        merges, vocab = tokenizer.merges, tokenizer.vocab
    except TokenizerError as e:  # ranks with no merges behind them
        return str(e)
    for idx in merges.values():
        got = merge_chunk(tokenizer._bytes_to_ids(vocab[idx]), merges)
        if got != [idx]:
            return (
                f"token {idx} [{render_token(vocab[idx])}] encodes as {got} from its own bytes, where "
                f"tiktoken gives [{idx}] (see minbpe/tiktoken_bridge.py)"
            )
    return None


def build_encoding(tokenizer: BPETables) -> tiktoken.Encoding:
    """A tiktoken.Encoding with the tokenizer's pattern, ranks and special tokens (no checks)."""
    special_ids = set(tokenizer.special_tokens.values())
    ranks = {token: idx for idx, token in tokenizer.vocab.items() if idx not in special_ids}
    return tiktoken.Encoding(
        f"gptkit-{type(tokenizer).__name__}-{tokenizer.n_vocab}",
        pat_str=tokenizer.pattern or WHOLE_TEXT_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=dict(tokenizer.special_tokens),
    )


def merges_from_ranks(ranks: dict[bytes, int], byte_ids: bytes, name: str) -> dict[tuple[int, int], int]:
    """Recover the merges behind tiktoken ranks: each token's bytes, encoded with the merges of the
    tokens ranked before it, must end as two pieces (its merge)."""
    merges: dict[tuple[int, int], int] = {}
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) == 1:
            continue
        parts = merge_chunk(list(token.translate(byte_ids)), merges)
        if len(parts) != 2:
            raise TokenizerError(
                f"{name}: token {rank} [{render_token(token)}] is not the merge of two tokens ranked before it "
                f"(its bytes encode as {parts}), so it has no BPE merges; encode it with backend='tiktoken'"
            )
        merges[parts[0], parts[1]] = rank
    return merges
