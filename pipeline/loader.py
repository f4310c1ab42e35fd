"""The loader: (x, y) batches for training and evaluation from a prepared data directory.

    from pipeline.loader import TokenData, RandomBatches, eval_batches
    train = TokenData("data/corpus", "train")               # memory-mapped, checked against the manifest
    batches = RandomBatches(train, batch_size=12, block_size=1024, seed=1337, device="cuda")
    x, y = next(batches)                                      # int64 (batch_size, block_size); y = x shifted by one
    for x, y in eval_batches(TokenData("data/corpus", "val"), 12, 1024): ...

Every shard is memory-mapped, never read whole, after checking it against the
manifest: the magic number, the dtype (header version), the token count (header
and file size) and, unless verify=False, its sha256. The manifest's tokenizer record
is checked first against the tokenizer it names (TokenizerInfo.load): its vocab_size
sizes a model's embedding table, so an edited one must not get that far. Any
mismatch is a ShardError or ManifestError that names the file.

Training windows are random: a window is block_size + 1 consecutive tokens of
one shard (x its first block_size, y its last), every start position of every
shard equally likely. Batch k is a function of (seed, k) alone, so a run is
reproducible and resumes exactly from a step number (`RandomBatches.step`).

Distributed training: rank r of world_size (default: torch.distributed's, when
it is initialised) draws the same batch_size x world_size windows as every other
rank and keeps its own batch_size of them, so the ranks' streams are disjoint
and together they are exactly what one process would see with the global batch.
Evaluation windows are sequential and do not overlap (stride block_size, so each
token is predicted once); window i goes to rank i % world_size, and every rank
gets the same number of batches.

On CUDA the batch is copied into pinned (page-locked) memory and sent with
non_blocking=True, and the next batch is prepared while the current one is in use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from gptkit_base.errors import ConfigError
from gptkit_base.files import file_sha256
from minbpe.core import counted

from .manifest import Manifest, ManifestError, load_tokenizer
from .shards import DTYPE_NAMES, ShardError, open_tokens, read_header, version_of_dtype


def distributed_rank(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """(rank, world_size): the given ones, else torch.distributed's when initialised, else (0, 1)."""
    if rank is None or world_size is None:
        initialised = torch.distributed.is_available() and torch.distributed.is_initialized()
        rank = rank if rank is not None else torch.distributed.get_rank() if initialised else 0
        world_size = world_size if world_size is not None else torch.distributed.get_world_size() if initialised else 1
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank must be in [0, world_size), got rank {rank} of {world_size}")
    return rank, world_size


class TokenData:
    """One split (train or val) of a prepared directory: its shards, memory-mapped and checked.

    `vocab_size` is the tokenizer's every id, special tokens included (the manifest's
    tokenizer.vocab_size): the size of the embedding table a model of this data needs.
    """

    def __init__(self, directory: str | os.PathLike, split: str = "train", verify: bool = True) -> None:
        self.directory = Path(directory)
        self.manifest = Manifest.load(directory)
        self.manifest.tokenizer.load(directory)  # the record must be its tokenizer's (vocab_size above all)
        if split not in self.manifest.splits:
            raise ManifestError(f"{directory}: no split {split!r} (splits: {', '.join(self.manifest.splits)})")
        self.split = split
        info = self.manifest.splits[split]
        version = version_of_dtype(self.manifest.dtype)
        self.shards: list[np.ndarray] = []
        for shard in info.shards:
            path = self.directory / shard.file
            got_version, count = read_header(path)
            if got_version != version:
                raise ShardError(
                    f"{path}: holds {DTYPE_NAMES[got_version]} tokens (header version {got_version}), "
                    f"but the manifest says {self.manifest.dtype}"
                )
            if count != shard.tokens:
                raise ShardError(f"{path}: holds {count:,} tokens, but the manifest says {shard.tokens:,}")
            if verify and file_sha256(path) != shard.sha256:
                raise ShardError(f"{path}: sha256 differs from the manifest's; the file is corrupt or was replaced")
            self.shards.append(open_tokens(path))
        self.tokens = info.tokens
        self.bytes = info.bytes
        self.vocab_size = self.manifest.tokenizer.vocab_size

    def preview(self, shard: int = 0, n_tokens: int = 64) -> list[str]:
        """What `gptkit inspect` shows below the summary, a line each: the first n_tokens ids of one of the split's
        shards, and their text."""
        if not 0 <= shard < len(self.shards):
            raise ConfigError(f"{self.split} has {counted(len(self.shards), 'shard')}; --shard must be below that")
        ids = self.shards[shard][:n_tokens].tolist()
        file = self.manifest.splits[self.split].shards[shard].file
        return [f"\nfirst {len(ids)} tokens of {file}:", " ".join(map(str, ids)), "decoded:",
                load_tokenizer(self.directory, self.manifest).decode(ids)]

    def windows(self, block_size: int) -> np.ndarray:
        """How many windows of block_size + 1 tokens start in each shard."""
        if block_size < 1:
            raise ConfigError(f"block_size must be at least 1, got {block_size}")
        return np.array([max(len(s) - block_size, 0) for s in self.shards], dtype=np.int64)

    def gather(self, block_size: int, starts: np.ndarray, shard_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x, y (int64 numpy arrays) for windows at `starts` in the shards `shard_ids`."""
        rows = np.stack([self.shards[s][i : i + block_size + 1] for s, i in zip(shard_ids, starts, strict=True)])
        rows = rows.astype(np.int64)
        return rows[:, :-1], rows[:, 1:]

    def _no_windows(self, block_size: int) -> ConfigError:
        longest = max((len(s) for s in self.shards), default=0)
        return ConfigError(
            f"{self.directory} {self.split}: no window of block_size + 1 = {block_size + 1} tokens fits in a shard "
            f"(the longest holds {longest:,}); use a smaller block_size"
            + (" or prepare with a --val-fraction above 0" if self.split == "val" and not self.shards else "")
        )


def to_device(x: np.ndarray, y: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensors on `device`; on CUDA through pinned memory, asynchronously."""
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    if device.type == "cuda":
        return xt.pin_memory().to(device, non_blocking=True), yt.pin_memory().to(device, non_blocking=True)
    return xt.to(device), yt.to(device)


class RandomBatches:
    """Random training windows, deterministic from (seed, step), disjoint across ranks.

    Iterating yields (x, y) forever; `step` is the number of the next batch and
    may be set to resume a run.
    """

    def __init__(
        self,
        data: TokenData,
        batch_size: int,
        block_size: int,
        seed: int = 1337,
        device: str | torch.device = "cpu",
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.data, self.batch_size, self.block_size, self.seed = data, batch_size, block_size, seed
        self.device = torch.device(device)
        self.rank, self.world_size = distributed_rank(rank, world_size)
        self._windows = data.windows(block_size)
        if self._windows.sum() == 0:
            raise data._no_windows(block_size)
        self._ends = np.cumsum(self._windows)  # window w lies in the first shard whose end exceeds it
        self.step = 0
        self._next: tuple[int, tuple[torch.Tensor, torch.Tensor]] | None = None

    def windows_at(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(shard, start) of this rank's windows in batch `step`."""
        rng = np.random.default_rng([self.seed, step])
        drawn = rng.integers(0, self._ends[-1], size=self.batch_size * self.world_size)
        mine = drawn[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
        shard = np.searchsorted(self._ends, mine, side="right")
        return shard, mine - (self._ends[shard] - self._windows[shard])

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        shard, start = self.windows_at(step)
        return to_device(*self.data.gather(self.block_size, start, shard), self.device)

    def __iter__(self) -> RandomBatches:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._next is not None and self._next[0] == self.step:
            x, y = self._next[1]
        else:
            x, y = self.batch(self.step)
        self.step += 1
        # on CUDA, start the next batch's copy now, so it overlaps with the work on this one
        self._next = (self.step, self.batch(self.step)) if self.device.type == "cuda" else None
        return x, y


def eval_batches(
    data: TokenData,
    batch_size: int,
    block_size: int,
    device: str | torch.device = "cpu",
    rank: int | None = None,
    world_size: int | None = None,
    max_batches: int | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Sequential, non-overlapping windows (stride block_size) of every shard, this rank's share.

    Every rank yields the same number of batches (the last may be smaller): the
    windows are cut to a multiple of world_size.
    """
    rank, world_size = distributed_rank(rank, world_size)
    device = torch.device(device)
    counts = [max((len(s) - 1) // block_size, 0) for s in data.shards]
    shard_ids = np.repeat(np.arange(len(counts)), counts)
    starts = np.concatenate([np.arange(n) * block_size for n in counts]) if counts else np.zeros(0, dtype=np.int64)
    usable = len(starts) // world_size * world_size
    if usable == 0:
        raise data._no_windows(block_size)
    shard_ids, starts = shard_ids[rank:usable:world_size], starts[rank:usable:world_size]
    n = len(starts) if max_batches is None else min(len(starts), max_batches * batch_size)
    for i in range(0, n, batch_size):
        yield to_device(*data.gather(block_size, starts[i : i + batch_size], shard_ids[i : i + batch_size]), device)
