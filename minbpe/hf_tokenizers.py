"""The bridge to Hugging Face `tokenizers`: a byte-level BPE tokenizer as tokenizer.json, proven or refused.

HF's BPE model merges the way minbpe does: in each pre-token it repeatedly merges the
adjacent pair with the lowest merge rank. So with the same vocabulary (each token's bytes
under GPT-2's byte-to-unicode mapping, at our ids) and our merges in id order, HF computes
our ids as long as the text is cut into the same pieces. Two things cut it:

- The split pattern runs in HF's regex engine (Oniguruma), not Python's `regex`. Only the
  patterns proven to split alike are exported (gpt2's, gpt4's, minbpe's gpt4, and none for
  a BasicTokenizer). Oniguruma reads `{1,3}+` as a repetition of a repetition, not as
  possessive, so GPT-4's `\\p{N}{1,3}+` is written `\\p{N}{1,3}`: as a whole alternative
  followed by nothing, the greedy and the possessive form match the same digits.
- Special tokens are HF "added tokens", found in any text before the split, as our policy
  "all" does (tokenizer.json cannot carry a policy). Special tokens that overlap are refused:
  which one wins is each library's own rule.

Every export is then checked on a battery of probe texts (whitespace runs, CRLF, digits, CJK,
combining marks, emoji, special tokens, long repeats, invalid-looking byte sequences): one
differing id and the export is refused with the text that differed, never written.
`tokenizers` comes with the `.[hf]` extra.
"""

from __future__ import annotations

import base64
import json
import os
from functools import lru_cache
from pathlib import Path

from gptkit_base.files import atomic_write_text

from .base import Tokenizer
from .char import CharTokenizer
from .core import ENDOFTEXT, TokenizerError
from .patterns import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, MINBPE_GPT4_SPLIT_PATTERN

# our split patterns and the same pattern in Oniguruma's syntax ("" = no split: a BasicTokenizer)
HF_PATTERNS = {
    GPT2_SPLIT_PATTERN: GPT2_SPLIT_PATTERN,
    GPT4_SPLIT_PATTERN: GPT4_SPLIT_PATTERN.replace(r"\p{N}{1,3}+", r"\p{N}{1,3}"),
    MINBPE_GPT4_SPLIT_PATTERN: MINBPE_GPT4_SPLIT_PATTERN,
    "": "",
}
PROBES = (
    "Hello world! It's 2024, isn't it?  Yes:   3.14159 and 1234567 apples.",
    "line one\r\nline two\n\n\n  indented\ttab\t\tend   ",
    "  leading and trailing  \n \n\t\n",
    "日本語のテキストと中文字符，还有한국어 텍스트。",
    "e\u0301 a\u0308 n\u0303 Z\u0351\u0352 combining marks; ﬁ ligature; ½ ⅞ ² superscripts",
    "emoji 👍🏽 👨‍👩‍👧 🇫🇷 and symbols ∑∫ → ≠ ©®™",
    "it'S THEY'LL we'VE don't I'm you'd",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" * 4 + " " + "ab" * 100 + " " + "1" * 50,
    "def f(x):\n    return x ** 2  # comment\n\n\nclass A:\n    pass\n",
    "\u00a0\u2009\u3000 unusual spaces \u200b zero width",
)


class HFTokenizerError(TokenizerError):
    """A tokenizer that HF `tokenizers` cannot reproduce exactly, or the extra is missing."""


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise HFTokenizerError("tokenizer.json export needs tokenizers: pip install 'gptkit[hf]'") from None
    return tokenizers


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map of the 256 bytes to printable characters (what HF's ByteLevel uses)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = {b: b for b in printable}, 0
    for b in range(256):
        if b not in codes:
            codes[b] = 256 + extra
            extra += 1
    return {b: chr(c) for b, c in codes.items()}


def _unicode(token: bytes) -> str:
    table = byte_to_unicode()
    return "".join(table[b] for b in token)


def to_hf_tokenizer(tokenizer: Tokenizer):
    """A `tokenizers.Tokenizer` that gives this tokenizer's ids (policy "all"), proven on the probe texts;
    HFTokenizerError with the reason otherwise."""
    if isinstance(tokenizer, CharTokenizer):
        raise HFTokenizerError("a character tokenizer is not byte-level BPE; tokenizer.json covers BPE tokenizers")
    if tokenizer.pattern not in HF_PATTERNS:
        raise HFTokenizerError("its split pattern is not gpt2's, gpt4's or minbpe's, and HF's regex engine "
                               "(Oniguruma) may split text differently from Python's regex module")
    names = sorted(tokenizer.special_tokens)
    for a in names:
        for b in names:
            if a != b and a in b:
                raise HFTokenizerError(f"special tokens {a!r} and {b!r} overlap; which one wins is each library's own")
    tk = _tokenizers()
    special_ids = set(tokenizer.special_tokens.values())
    vocab = {_unicode(token): idx for idx, token in tokenizer.vocab.items() if idx not in special_ids}
    if len(vocab) != len(tokenizer.vocab) - len(tokenizer.special_tokens):
        raise HFTokenizerError("two of its tokens spell the same bytes, which a vocabulary by string cannot hold")
    for name, idx in tokenizer.special_tokens.items():  # in the vocabulary at their ids, so HF keeps them there
        if name in vocab:
            raise HFTokenizerError(f"special token {name!r} spells the same as ordinary token {vocab[name]}")
        vocab[name] = idx
    pairs = sorted(tokenizer.merges.items(), key=lambda item: item[1])
    merges = [(_unicode(tokenizer.vocab[a]), _unicode(tokenizer.vocab[b])) for (a, b), _ in pairs]
    hf = tk.Tokenizer(tk.models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    byte_level = tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    pattern = HF_PATTERNS[tokenizer.pattern]
    hf.pre_tokenizer = tk.pre_tokenizers.Sequence(
        [tk.pre_tokenizers.Split(tk.Regex(pattern), behavior="isolated", invert=False), byte_level]
    ) if pattern else byte_level
    hf.decoder = tk.decoders.ByteLevel()
    hf.add_special_tokens([tk.AddedToken(name, special=True, normalized=False, single_word=False, lstrip=False,
                                         rstrip=False) for name in sorted(tokenizer.special_tokens,
                                                                         key=tokenizer.special_tokens.get)])
    for name, idx in tokenizer.special_tokens.items():
        if hf.token_to_id(name) != idx:
            raise HFTokenizerError(f"special token {name!r} would get id {hf.token_to_id(name)}, not {idx}")
    specials = "".join(f"x{name}y " for name in names)
    for text in (*PROBES, specials + PROBES[0]):
        ours = tokenizer.encode(text, allowed_special="all", backend="python")
        theirs = hf.encode(text, add_special_tokens=False).ids
        if ours != theirs:
            raise HFTokenizerError(f"tokenizers gives other ids than ours on {text[:40]!r}; not exported")
    return hf


def save_hf_tokenizer(tokenizer: Tokenizer, directory: str | os.PathLike,
                      model_max_length: int | None = None) -> list[Path]:
    """Write tokenizer.json and tokenizer_config.json (AutoTokenizer loads them) into `directory`; the paths."""
    hf = to_hf_tokenizer(tokenizer)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / "tokenizer.json", hf.to_str(pretty=True) + "\n")
    eos = ENDOFTEXT if ENDOFTEXT in tokenizer.special_tokens else None
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
              "add_prefix_space": False, "bos_token": eos, "eos_token": eos, "unk_token": None,
              "model_max_length": model_max_length or 1_000_000_000_000_000_019_884_624_838_656}
    atomic_write_text(directory / "tokenizer_config.json", json.dumps(config, indent=2) + "\n")
    return [directory / "tokenizer.json", directory / "tokenizer_config.json"]


def save_tiktoken_ranks(tokenizer: Tokenizer, path: str | os.PathLike) -> Path:
    """tiktoken's rank file (base64 token, rank per line) of a tokenizer that to_tiktoken() proves exact."""
    encoding = tokenizer.to_tiktoken()
    ranks = encoding._mergeable_ranks  # tiktoken keeps them here; the file format is theirs
    lines = [f"{base64.b64encode(token).decode()} {rank}" for token, rank in sorted(ranks.items(), key=lambda t: t[1])]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return Path(path)


def export_tokenizer(tokenizer: Tokenizer, directory: str | os.PathLike,
                     model_max_length: int | None = None) -> tuple[list[Path], list[str]]:
    """tokenizer.json and tokenizer_config.json (refused unless exact), and tokenizer.tiktoken when tiktoken
    can give the same ids (else a note says why it was left out), into a new or empty directory (or beside a
    model export); the paths written and the notes."""
    written = save_hf_tokenizer(tokenizer, directory, model_max_length)
    notes = []
    try:
        written.append(save_tiktoken_ranks(tokenizer, Path(directory) / "tokenizer.tiktoken"))
    except TokenizerError as e:
        notes.append(f"no tokenizer.tiktoken: {e}")
    return written, notes
