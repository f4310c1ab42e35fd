"""Tokenizer files: minbpe's `.model` v1 format (BPE) and our character format, with the readable `.vocab`.

A BPE `.model` file (minbpe v1, so models move both ways between this package and minbpe):

    minbpe v1
    <split pattern, empty for none>
    <number of special tokens>
    <special token> <id>          one line each
    <id0> <id1>                   one line per merge; merge i makes token 256 + i

A character `.model` file is the line `minbpe-char v1`, then one JSON object
{"chars": the characters in code-point order (ids 0..n-1), "special_tokens": {name: id}}.

Beside each, `.vocab` lists every token for people ([bytes] id, and for a merge its two parts); it is
never read back. Readers check everything and raise TokenizerError naming the file and the line;
writers replace a file whole or not at all (gptkit_base.files).
"""

from __future__ import annotations

import json
import os

import regex

from gptkit_base.files import atomic_write_text

from .core import TokenizerError, check_special_tokens, render_token

MODEL_HEADER = "minbpe v1"
CHAR_HEADER = "minbpe-char v1"
# Bounds on what a .model file may build. Each merge can double a token's length, so a file of a few
# hundred bytes could ask for tokens of 2**60 bytes: the reader adds up lengths before it builds any
# bytes. A real tokenizer's tokens are short (a basic tokenizer trained on one repeated character
# doubles its longest token per merge, still far below these).
MAX_TOKEN_BYTES = 1 << 24
MAX_VOCAB_BYTES = 1 << 28

Merges = dict[tuple[int, int], int]


def model_kind(path: str | os.PathLike) -> str:
    """Which tokenizer a file holds, by its first lines: "char", "basic" (no pattern) or "regex".

    A file that is neither char nor basic is called "regex"; reading it checks the header.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(64).split(b"\n", 2)
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read tokenizer file ({e.strerror})") from None
    if head[0] == CHAR_HEADER.encode():
        return "char"
    if len(head) > 1 and head[1] == b"":
        return "basic"
    return "regex"


def read_tokenizer_file(path: str | os.PathLike) -> str:
    """The text of a tokenizer file, or a TokenizerError that says why it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read tokenizer file ({e.strerror})") from None
    except UnicodeDecodeError:
        raise TokenizerError(f"{path}: not a tokenizer .model file (not UTF-8 text)") from None


def read_model_file(path: str | os.PathLike) -> tuple[str, dict[str, int], Merges]:
    """Parse and check a minbpe v1 .model file: (pattern, special tokens, merges)."""
    lines = read_tokenizer_file(path).split("\n")
    if lines[0] != MODEL_HEADER:
        raise TokenizerError(
            f"{path}: not a minbpe .model file (first line {lines[0][:40]!r}, expected {MODEL_HEADER!r})"
        )

    def bad(lineno: int, what: str) -> TokenizerError:
        return TokenizerError(f"{path} line {lineno}: {what}; the file is corrupt or truncated")

    if lines[-1] != "":  # every writer ends each line: a file cut mid-line would read as another tokenizer
        raise bad(len(lines), "the last line is incomplete (no line end)")
    lines.pop()

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
    merges: Merges = {}
    lengths = [1] * 256  # each token's length in bytes, added up before any bytes are built
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
        lengths.append(lengths[pair[0]] + lengths[pair[1]])
        if lengths[-1] > MAX_TOKEN_BYTES:
            raise bad(lineno, f"merge {pair} makes a token of {lengths[-1]:,} bytes (at most {MAX_TOKEN_BYTES:,})")
        merges[pair] = idx
    if sum(lengths) > MAX_VOCAB_BYTES:
        raise TokenizerError(f"{path}: its tokens add up to {sum(lengths):,} bytes (at most {MAX_VOCAB_BYTES:,}); "
                             "the file is corrupt or not a real tokenizer")
    try:
        check_special_tokens(special_tokens, 256 + len(merges))
    except TokenizerError as e:
        raise TokenizerError(f"{path}: {e}") from None
    return pattern, special_tokens, merges


def write_model_file(
    file_prefix: str, pattern: str, special_tokens: dict[str, int], merges: Merges, vocab: dict[int, bytes]
) -> None:
    """Write file_prefix.model (minbpe v1, loadable by minbpe) and file_prefix.vocab."""
    lines = [MODEL_HEADER, pattern, str(len(special_tokens))]
    lines += [f"{special} {idx}" for special, idx in special_tokens.items()]
    lines += [f"{p0} {p1}" for p0, p1 in merges]
    atomic_write_text(file_prefix + ".model", "\n".join(lines) + "\n")
    write_vocab_file(file_prefix + ".vocab", vocab, merges)


def read_char_file(path: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
    """Parse and check a character tokenizer's .model file: (characters, special tokens)."""
    header, _, body = read_tokenizer_file(path).partition("\n")
    if header != CHAR_HEADER:
        raise TokenizerError(f"{path}: not a CharTokenizer file (first line {header[:40]!r}, expected {CHAR_HEADER!r})")
    try:
        data = json.loads(body)
        chars, special_tokens = data["chars"], data["special_tokens"]
        if not isinstance(chars, str) or not isinstance(special_tokens, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise TokenizerError(
            f"{path} line 2: expected a JSON object with 'chars' and 'special_tokens'; the file is corrupt or truncated"
        ) from None
    if list(chars) != sorted(set(chars)):
        raise TokenizerError(f"{path} line 2: 'chars' must be distinct characters in code-point order")
    try:
        check_special_tokens(special_tokens, len(chars))
    except TokenizerError as e:
        raise TokenizerError(f"{path}: {e}") from None
    return list(chars), special_tokens


def write_char_file(
    file_prefix: str, chars: list[str], special_tokens: dict[str, int], vocab: dict[int, bytes]
) -> None:
    """Write file_prefix.model (the header line, then JSON) and file_prefix.vocab."""
    body = json.dumps({"chars": "".join(chars), "special_tokens": special_tokens})
    atomic_write_text(file_prefix + ".model", f"{CHAR_HEADER}\n{body}\n")
    write_vocab_file(file_prefix + ".vocab", vocab, {})


def write_vocab_file(path: str, vocab: dict[int, bytes], merges: Merges) -> None:
    """The readable listing: `[token] id` per token, `[part0][part1] -> [token] id` for a merge."""
    parts = {idx: pair for pair, idx in merges.items()}
    rows = []
    for idx, token in vocab.items():
        s = render_token(token)
        if idx in parts:
            p0, p1 = parts[idx]
            rows.append(f"[{render_token(vocab[p0])}][{render_token(vocab[p1])}] -> [{s}] {idx}")
        else:
            rows.append(f"[{s}] {idx}")
    atomic_write_text(path, "\n".join(rows) + "\n")
