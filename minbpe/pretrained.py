"""Tokenizers over tiktoken's ranks: any tiktoken Encoding as ours (TiktokenTokenizer, from_tiktoken),
and GPT-2 and GPT-4 from OpenAI's rank files, shipped inside the package.

tiktoken's `r50k_base` (GPT-2; the same ranks, pattern and `<|endoftext|>` id as
tiktoken's `gpt2`) and `cl100k_base` (GPT-4) are read from minbpe/data/, checked
against the sha256 that tiktoken itself expects, and never fetched: nothing here
touches the network. The tokenizers have minbpe's API with tiktoken's ids; their
merges are recovered from the ranks (see tiktoken_bridge.py), with the byte
order of the ranks (GPT-2 gives '!' id 0) handled by translating bytes to ids.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
from pathlib import Path

import tiktoken

from .core import ENDOFTEXT, TokenizerError
from .patterns import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN
from .regex import RegexTokenizer
from .tiktoken_bridge import merges_from_ranks
from .trainer import TrainStats

DATA_DIR = Path(__file__).resolve().parent / "data"


# name -> (rank file in DATA_DIR, its sha256 as tiktoken expects it, split pattern, special tokens)
BUNDLED = {
    "r50k_base": (
        "r50k_base.tiktoken",
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        GPT2_SPLIT_PATTERN,
        {ENDOFTEXT: 50256},
    ),
    "cl100k_base": (
        "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        GPT4_SPLIT_PATTERN,
        {
            ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
}
# tiktoken's names for the bundled ranks (its gpt2 has exactly r50k_base's ranks, pattern and specials)
BUNDLED_NAMES = {"gpt2": "r50k_base", "r50k_base": "r50k_base", "cl100k_base": "cl100k_base"}


def read_rank_file(path: str | os.PathLike, expected_sha256: str) -> dict[bytes, int]:
    """Read a .tiktoken rank file (a base64 token and its rank per line), after checking its sha256."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read the rank file ({e.strerror}); reinstall gptkit") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise TokenizerError(
            f"{path}: sha256 is {digest}, expected {expected_sha256}; the rank file is corrupt or was "
            "replaced: reinstall gptkit"
        )
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(data.splitlines(), 1):
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error):
            raise TokenizerError(f"{path} line {lineno}: expected '<base64 token> <rank>'") from None
    return ranks


@functools.cache
def bundled_encoding(name: str) -> tiktoken.Encoding:
    """tiktoken's gpt2 / r50k_base / cl100k_base Encoding, built from the bundled rank files."""
    if name not in BUNDLED_NAMES:
        raise TokenizerError(f"no bundled encoding {name!r}; bundled: {', '.join(BUNDLED_NAMES)}")
    filename, sha256, pattern, special_tokens = BUNDLED[BUNDLED_NAMES[name]]
    ranks = read_rank_file(DATA_DIR / filename, sha256)
    return tiktoken.Encoding(
        name,
        pat_str=pattern,
        mergeable_ranks=ranks,
        special_tokens=special_tokens,
    )


def get_encoding(name: str) -> tiktoken.Encoding:
    """A tiktoken Encoding by name: from the bundled rank files when they hold it, else from
    tiktoken.get_encoding (which downloads its rank file once; this is the only place that may)."""
    if name in BUNDLED_NAMES:
        return bundled_encoding(name)
    known = tiktoken.list_encoding_names()
    if name not in known:
        raise TokenizerError(f"unknown tiktoken encoding {name!r}; tiktoken knows {', '.join(known)}")
    try:
        return tiktoken.get_encoding(name)
    except Exception as e:  # a failed download raises whatever tiktoken's HTTP stack raises
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise TokenizerError(
            f"tiktoken encoding {name!r} is not bundled with gptkit (bundled: {', '.join(BUNDLED_NAMES)}) and "
            f"tiktoken could not load it ({reason}); it downloads rank files on first use, so run it once "
            "with network access or set TIKTOKEN_CACHE_DIR to a folder that holds them"
        ) from None


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

    def _train(self, count: object, vocab_size: int, verbose: bool, unit: str = "char") -> TrainStats:
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


class GPT2Tokenizer(TiktokenTokenizer):
    """GPT-2's tokenizer (tiktoken `gpt2` / `r50k_base`): ids 0..50255, `<|endoftext|>` = 50256."""

    def __init__(self) -> None:
        super().__init__(bundled_encoding("r50k_base"))


class GPT4Tokenizer(TiktokenTokenizer):
    """GPT-4's tokenizer (tiktoken `cl100k_base`): 100,256 ranks and five special tokens."""

    def __init__(self) -> None:
        super().__init__(bundled_encoding("cl100k_base"))


# the pretrained tokenizers get_tokenizer() knows by name
PRETRAINED = {"gpt2": GPT2Tokenizer, "gpt4": GPT4Tokenizer}
