"""Token shards: llm.c's `.bin` files, written crash-safely and read back memory-mapped.

A shard is a header of 256 little-endian int32, then the tokens:

    header[0]    20240520 (the magic number)
    header[1]    1: the tokens are uint16; 2: they are uint32
    header[2]    the number of tokens
    header[3:]   0

then header[2] little-endian tokens. This is the format of llm.c's and
modded-nanogpt's data scripts, so shards move between them and gptkit. The dtype
comes from the vocabulary: uint16 holds ids up to 65,535, so any tokenizer with a
larger id gets uint32 (nanoGPT's prepare scripts write uint16 whatever the
vocabulary, which silently wraps larger ids).

A `ShardWriter` appends one split's tokens into numbered shards of a fixed size.
The shard being filled lives under a temporary name (`train_000003.bin.tmp`, with
a zero header); only when it is complete does it get its header, an fsync and its
final name, so a file with a final name is always whole. The writer's `state()`
is what a resumed run needs to carry on from where the last one stopped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gptkit_base.errors import ConfigError, GptkitError
from gptkit_base.files import file_sha256

MAGIC = 20240520
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
VERSION_DTYPES = {1: np.dtype("<u2"), 2: np.dtype("<u4")}
DTYPE_NAMES = {1: "uint16", 2: "uint32"}
COPY_TOKENS = 1 << 20  # tokens moved per step when a shard is cut (bounds memory)


class ShardError(GptkitError, ValueError):
    """A shard file that is not what its manifest says: the message names the file and the fault."""


def version_for_vocab(n_vocab: int) -> int:
    """The header version for a vocabulary: 1 (uint16) if every id fits in 16 bits, else 2 (uint32)."""
    if n_vocab <= 0:
        raise ShardError(f"vocabulary size must be positive, got {n_vocab}")
    if n_vocab > 1 << 32:
        raise ShardError(f"vocabulary of {n_vocab:,} tokens: ids do not fit in uint32")
    return 1 if n_vocab <= 1 << 16 else 2


def version_of_dtype(name: str) -> int:
    """The header version of a dtype name ('uint16' or 'uint32')."""
    for version, dtype_name in DTYPE_NAMES.items():
        if dtype_name == name:
            return version
    raise ShardError(f"unknown token dtype {name!r}: expected one of {sorted(DTYPE_NAMES.values())}")


def make_header(n_tokens: int, version: int) -> bytes:
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:3] = MAGIC, version, n_tokens
    return header.tobytes()


def read_header(path: str | os.PathLike) -> tuple[int, int]:
    """(version, token count) of a shard; ShardError if it is not a whole shard."""
    try:
        with open(path, "rb") as f:
            raw = f.read(HEADER_BYTES)
    except OSError as e:
        raise ShardError(f"{path}: cannot read shard ({e.strerror})") from None
    if len(raw) < HEADER_BYTES:
        raise ShardError(f"{path}: {len(raw)} bytes, shorter than the {HEADER_BYTES}-byte shard header")
    magic, version, count = np.frombuffer(raw, dtype="<i4", count=3).tolist()
    if magic != MAGIC:
        raise ShardError(f"{path}: not a token shard (magic number {magic}, expected {MAGIC})")
    if version not in VERSION_DTYPES:
        raise ShardError(f"{path}: unknown shard version {version} (1 = uint16 tokens, 2 = uint32)")
    size = os.path.getsize(path)
    expected = HEADER_BYTES + count * VERSION_DTYPES[version].itemsize
    if size != expected:
        raise ShardError(
            f"{path}: {size:,} bytes, but its header says {count:,} {DTYPE_NAMES[version]} tokens "
            f"({expected:,} bytes); the file is truncated or corrupt"
        )
    return version, count


def open_tokens(path: str | os.PathLike) -> np.ndarray:
    """The tokens of a shard, memory-mapped (read-only), after checking its header."""
    version, count = read_header(path)
    if count == 0:
        return np.zeros(0, dtype=VERSION_DTYPES[version])
    return np.memmap(path, dtype=VERSION_DTYPES[version], mode="r", offset=HEADER_BYTES, shape=(count,))


@dataclass
class ShardInfo:
    """One shard as the manifest records it. `bytes`: UTF-8 bytes of the text its tokens spell."""

    file: str
    tokens: int
    documents: int  # documents that start in this shard
    bytes: int
    sha256: str


class ResumeError(GptkitError, ValueError):
    """The files on disk do not match the saved state; the run starts over."""


class ShardWriter:
    """Appends one split's tokens to numbered shards of `shard_tokens` tokens each.

    `token_bytes[id]` is the UTF-8 length of a token's text (0 for the delimiter),
    so each shard records the bytes of text it holds, which bits-per-byte needs.
    """

    def __init__(self, directory: Path, split: str, version: int, shard_tokens: int, token_bytes: np.ndarray):
        if shard_tokens < 1:
            raise ConfigError(f"shard size must be at least 1 token, got {shard_tokens}")
        self.directory = Path(directory)
        self.split = split
        self.version = version
        self.dtype = VERSION_DTYPES[version]
        self.shard_tokens = shard_tokens
        self.token_bytes = token_bytes
        self.shards: list[ShardInfo] = []
        self._file = None  # the open .tmp file of the shard being filled
        self._open = {"tokens": 0, "documents": 0, "bytes": 0}

    # --- names ---------------------------------------------------------------

    def name(self, index: int) -> str:
        return f"{self.split}_{index:06d}.bin"

    def _paths(self, index: int) -> tuple[Path, Path]:
        final = self.directory / self.name(index)
        return final, final.with_name(final.name + ".tmp")

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.shards) + self._open["tokens"]

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards) + self._open["bytes"]

    # --- writing -------------------------------------------------------------

    def append(self, ids: np.ndarray, doc_starts: np.ndarray) -> None:
        """Append tokens; doc_starts are the offsets in `ids` where a document begins."""
        ids = np.asarray(ids, dtype=self.dtype)
        while len(ids):
            if self._file is None:
                self._start_shard()
            room = self.shard_tokens - self._open["tokens"]
            part = ids[:room]
            self._file.write(part.tobytes())
            self._open["tokens"] += len(part)
            self._open["bytes"] += int(self.token_bytes[part].sum())
            self._open["documents"] += int(np.count_nonzero(doc_starts < room))
            ids, doc_starts = ids[room:], doc_starts[doc_starts >= room] - room
            if self._open["tokens"] == self.shard_tokens:
                self._complete_shard()

    def _start_shard(self) -> None:
        _, tmp = self._paths(len(self.shards))
        self._file = open(tmp, "wb")
        self._file.write(bytes(HEADER_BYTES))  # the real header is written when the shard is complete
        self._open = {"tokens": 0, "documents": 0, "bytes": 0}

    def _complete_shard(self) -> None:
        final, tmp = self._paths(len(self.shards))
        f, self._file = self._file, None
        f.seek(0)
        f.write(make_header(self._open["tokens"], self.version))
        f.flush()
        os.fsync(f.fileno())
        f.close()
        self.shards.append(ShardInfo(final.name, sha256=file_sha256(tmp), **self._open))
        os.replace(tmp, final)
        self._open = {"tokens": 0, "documents": 0, "bytes": 0}

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def finish(self) -> list[ShardInfo]:
        """Complete the last, partly filled shard; the split's shards."""
        if self._file is not None and self._open["tokens"]:
            self._complete_shard()
        self.close()
        return self.shards

    def reset(self) -> None:
        """Forget everything (the files are the caller's to delete)."""
        self.close()
        self.shards = []
        self._open = {"tokens": 0, "documents": 0, "bytes": 0}

    def close(self) -> None:
        """Close the open file without completing it (a later run may resume it)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    # --- resuming ------------------------------------------------------------

    def state(self) -> dict:
        return {"shards": [asdict(s) for s in self.shards], "open": dict(self._open)}

    def resume(self, state: dict) -> None:
        """Continue from a saved state: check the completed shards, cut the open one back to its saved length.

        A shard completed after the state was saved (the run stopped between the
        rename and the next save) is taken back as the open shard; files beyond it
        are deleted. Anything else that does not match raises ResumeError.
        """
        try:
            self.shards = [ShardInfo(**s) for s in state["shards"]]
            opened = {k: int(state["open"][k]) for k in ("tokens", "documents", "bytes")}
        except (KeyError, TypeError, ValueError) as e:
            raise ResumeError(f"the saved state is malformed ({e})") from None
        for i, shard in enumerate(self.shards):
            final, _ = self._paths(i)
            try:
                whole = shard.file == final.name and read_header(final) == (self.version, shard.tokens)
            except ShardError:
                whole = False
            if not whole:
                raise ResumeError(f"{final} does not match the saved state")
        index = len(self.shards)
        final, tmp = self._paths(index)
        keep = {self._paths(i)[0] for i in range(index)}
        if opened["tokens"]:
            if not tmp.exists() and final.exists():
                os.replace(final, tmp)
            size = HEADER_BYTES + opened["tokens"] * self.dtype.itemsize
            if not tmp.is_file() or tmp.stat().st_size < size:
                raise ResumeError(f"{tmp} is missing or shorter than the saved state says")
            self._file = open(tmp, "r+b")
            self._file.truncate(size)
            self._file.seek(size)
            keep.add(tmp)
        self._open = opened
        for path in self.directory.glob(f"{self.split}_*.bin*"):
            if path not in keep:
                path.unlink()

    # --- moving tokens between splits (a one-document corpus) ----------------

    def take_over(self, other: ShardWriter) -> None:
        """Become the owner of every (completed) shard of `other`, which must be finished; self must be empty."""
        assert self.tokens == 0 and other._file is None and other._open["tokens"] == 0
        for i, shard in enumerate(other.shards):
            final, _ = self._paths(i)
            os.replace(other.directory / shard.file, final)
            self.shards.append(ShardInfo(final.name, shard.tokens, shard.documents, shard.bytes, shard.sha256))
        other.shards = []

    def cut(self, keep: int, into: ShardWriter) -> None:
        """Move every token after the first `keep` to the end of `into`. Self must be finished."""
        assert self._file is None and self._open["tokens"] == 0
        shards, self.shards = self.shards, []
        start = 0
        for shard in shards:
            path = self.directory / shard.file
            if start + shard.tokens <= keep:
                self.shards.append(shard)
            else:
                first = max(keep - start, 0)
                tokens = open_tokens(path)
                for block in _blocks(tokens, first):
                    into.append(block, np.zeros(0, dtype=np.int64))
                if first:  # the shard the cut falls in keeps its head, under the same name
                    self._start_shard()
                    for block in _blocks(tokens[:first], 0):
                        self._file.write(block.tobytes())
                        self._open["bytes"] += int(self.token_bytes[block].sum())
                    self._open["tokens"], self._open["documents"] = first, shard.documents
                    self._complete_shard()
                else:
                    path.unlink()
                del tokens
            start += shard.tokens


def _blocks(tokens: np.ndarray, start: int) -> Iterator[np.ndarray]:
    for i in range(start, len(tokens), COPY_TOKENS):
        yield np.array(tokens[i : i + COPY_TOKENS])
