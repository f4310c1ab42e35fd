"""The bridge to tiktoken: our tokenizers as tiktoken Encodings, and any Encoding as ours.

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
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import tiktoken

from .base import Tokenizer, TokenizerError, merge_chunk, render_token
from .regex import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, MINBPE_GPT4_SPLIT_PATTERN, RegexTokenizer

if TYPE_CHECKING:
    from .trainer import TrainStats

# the split patterns whose chunks are proven equal between Python's regex and tiktoken's engine
EXACT_PATTERNS = {
    GPT2_SPLIT_PATTERN: "gpt2",
    GPT4_SPLIT_PATTERN: "gpt4",
    MINBPE_GPT4_SPLIT_PATTERN: "minbpe's gpt4",
    "": "none (BasicTokenizer)",
}
# a BasicTokenizer's chunk is the whole text (between special tokens)
WHOLE_TEXT_PATTERN = r"[\s\S]+"


def incompatibility(tokenizer: Tokenizer) -> str | None:
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


def build_encoding(tokenizer: Tokenizer) -> tiktoken.Encoding:
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


class TiktokenTokenizer(RegexTokenizer):
    """Our tokenizer over a tiktoken Encoding's ranks: ids are tiktoken's, encode(backend="auto")
    is tiktoken's encoder, and the Python path runs the merges recovered from the ranks."""

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        ranks = encoding._mergeable_ranks  # tiktoken's documented way to extend an encoding
        missing = [b for b in range(256) if bytes([b]) not in ranks]
        if missing:
            raise TokenizerError(f"tiktoken encoding {encoding.name!r} has no token for byte {missing[0]:#04x}")
        byte_ranks = [ranks[bytes([b])] for b in range(256)]
        if sorted(byte_ranks) != list(range(256)):
            raise TokenizerError(
                f"tiktoken encoding {encoding.name!r}: its 256 single-byte tokens must have ranks 0..255"
            )
        self.name = encoding.name
        self._ranks = ranks
        self._byte_ids = bytes(byte_ranks)  # byte value -> its id, for bytes.translate
        self._merges: dict[tuple[int, int], int] | None = None  # recovered on first use (about 1 s for 100k)
        self.special_tokens = {}
        self.pattern = encoding._pat_str
        self.register_special_tokens(encoding._special_tokens)
        self._tiktoken = encoding

    @property  # type: ignore[override]
    def merges(self) -> dict[tuple[int, int], int]:
        if self._merges is None:
            self._merges = merges_from_ranks(self._ranks, self._byte_ids, self.name)
        return self._merges

    @merges.setter
    def merges(self, merges: dict[tuple[int, int], int]) -> None:
        self._merges = merges

    def _first_free_id(self) -> int:
        return max(self._ranks.values()) + 1

    def _base_vocab(self) -> dict[int, bytes]:
        return {idx: token for token, idx in self._ranks.items()}

    def _bytes_to_ids(self, data: bytes) -> list[int]:
        return list(data.translate(self._byte_ids))

    def _make_tiktoken(self) -> tiktoken.Encoding:
        # tiktoken defines this tokenizer, so its encoder is exact by definition
        return tiktoken.Encoding(
            self.name, pat_str=self.pattern, mergeable_ranks=self._ranks, special_tokens=dict(self.special_tokens)
        )

    def _train(self, blocks: object, vocab_size: int, verbose: bool, workers: int | None) -> TrainStats:
        raise TokenizerError(
            f"{type(self).__name__} ({self.name}) has a fixed vocabulary; to learn your own, train a "
            "RegexTokenizer with the same pattern (GPT2_SPLIT_PATTERN or GPT4_SPLIT_PATTERN)"
        )

    def save(self, file_prefix: str) -> None:
        raise TokenizerError(
            f"{type(self).__name__} ({self.name}) cannot be written as a .model file: minbpe's format numbers "
            "the 256 bytes in byte order and tiktoken's ranks do not; rebuild it instead (GPT2Tokenizer(), "
            "GPT4Tokenizer(), from_tiktoken(); 'gpt2' / 'gpt4' wherever a tokenizer is asked for)"
        )

    def load(self, model_file: object) -> None:
        raise TokenizerError(
            f"{type(self).__name__} is built from tiktoken ranks; load .model files with minbpe.load()"
        )


def from_tiktoken(encoding: tiktoken.Encoding) -> TiktokenTokenizer:
    """Our tokenizer for any tiktoken.Encoding: the same ids, pattern and special tokens."""
    return TiktokenTokenizer(encoding)
