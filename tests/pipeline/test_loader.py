"""The loader: shards checked against the manifest, random and sequential windows, DDP shares, CUDA transfer."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import main
from conftest import ROOT
from pipeline.loader import RandomBatches, TokenData, eval_batches
from pipeline.manifest import ManifestError
from pipeline.prepare import PrepareConfig, prepare
from pipeline.shards import ShardError

TAYLOR = ROOT / "data" / "taylorswift.txt"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Taylor Swift's article, one token per character, in 30,000-token shards; val = its last 10%."""
    out = tmp_path_factory.mktemp("data") / "taylor"
    prepare(PrepareConfig([str(TAYLOR)], str(out), "char", shard_tokens=30_000, val_fraction=0.1))
    return out


def all_tokens(data: TokenData) -> np.ndarray:
    return np.concatenate([np.asarray(s) for s in data.shards])


def is_window(data: TokenData, row: np.ndarray) -> bool:
    """Whether row occurs in one shard."""
    n = len(row)
    return any(
        (np.lib.stride_tricks.sliding_window_view(np.asarray(s), n) == row).all(axis=1).any()
        for s in data.shards if len(s) >= n
    )


def test_random_batches(prepared):
    data = TokenData(prepared, "train")
    assert len(data.shards) == 6 and data.tokens == sum(len(s) for s in data.shards)
    batches = RandomBatches(data, batch_size=8, block_size=64, seed=1)
    x, y = next(batches)
    assert x.shape == y.shape == (8, 64) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    for row in torch.cat([x, y[:, -1:]], dim=1).numpy():
        assert is_window(data, row)
    again = RandomBatches(data, batch_size=8, block_size=64, seed=1)
    assert torch.equal(next(again)[0], x)
    assert not torch.equal(next(RandomBatches(data, batch_size=8, block_size=64, seed=2))[0], x)
    second = next(batches)
    again.step = 1  # resuming from a step number
    assert torch.equal(next(again)[0], second[0])


def test_every_window_is_equally_likely(tmp_path):
    """A chi-square test of the windows drawn over 130 batches against the uniform distribution over every start
    of every shard: shards of 50, 50, 50, 50 and 30 tokens hold 30, 30, 30, 30 and 10 windows of 21 tokens, 130
    in all, each expected 1,000 times. A correct loader fails it with probability 1e-6 (over seeds; seed 0 is
    fixed here, so the test is deterministic); a loader that never drew one shard's last window (expected 1,000
    times, drawn 0) would add about 1,000 to a statistic whose 1e-6 critical value is about 220."""
    text = tmp_path / "t.txt"
    text.write_text("".join(chr(ord("a") + i % 26) for i in range(230)))
    prepare(PrepareConfig([str(text)], str(tmp_path / "data"), "char", shard_tokens=50, val_fraction=0.0,
                          delimiter=None))
    data = TokenData(tmp_path / "data", "train")
    assert [len(s) for s in data.shards] == [50, 50, 50, 50, 30]
    windows = [len(s) - 20 for s in data.shards]  # starts 0 .. len - 21: block_size 20 plus the next token
    batches = RandomBatches(data, batch_size=1000, block_size=20, seed=0)
    shard, start = map(np.concatenate, zip(*(batches.windows_at(step) for step in range(130)), strict=True))
    assert ((start >= 0) & (start < np.take(windows, shard))).all()
    observed = np.bincount(np.cumsum([0] + windows[:-1])[shard] + start, minlength=sum(windows))
    expected = len(start) / sum(windows)
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    p_value = torch.special.gammaincc(torch.tensor((sum(windows) - 1) / 2, dtype=torch.float64),
                                      torch.tensor(chi2 / 2, dtype=torch.float64))  # P(chi2 with 129 d.f. > chi2)
    assert p_value > 1e-6, (chi2, observed)


def test_ranks_get_disjoint_shares_of_the_global_batch(prepared):
    data = TokenData(prepared, "train")
    whole = RandomBatches(data, batch_size=8, block_size=32, seed=5, rank=0, world_size=1)
    ranks = [RandomBatches(data, batch_size=4, block_size=32, seed=5, rank=r, world_size=2) for r in range(2)]
    for _ in range(3):
        x, _ = next(whole)
        parts = [next(r)[0] for r in ranks]
        assert torch.equal(torch.cat(parts), x)
        starts = [set(zip(*r.windows_at(r.step - 1), strict=True)) for r in ranks]
        assert len(starts[0]) == 4 and len(starts[1]) == 4 and not starts[0] & starts[1]
    with pytest.raises(ValueError, match="rank must be in"):
        RandomBatches(data, 4, 32, rank=2, world_size=2)


def test_eval_batches_cover_every_window_once(prepared):
    data = TokenData(prepared, "val")
    single = list(eval_batches(data, batch_size=16, block_size=50, rank=0, world_size=1))
    x = torch.cat([b[0] for b in single])
    y = torch.cat([b[1] for b in single])
    assert torch.equal(x[:, 1:], y[:, :-1])
    tokens = torch.from_numpy(all_tokens(data).astype(np.int64))
    assert torch.equal(x.flatten(), tokens[: x.numel()])  # stride block_size: each token predicted once
    assert x.numel() > len(tokens) - 100
    shares = [list(eval_batches(data, 16, 50, rank=r, world_size=3)) for r in range(3)]
    assert len({len(s) for s in shares}) == 1
    got = sorted(tuple(row.tolist()) for s in shares for b in s for row in b[0])
    windows = sorted(tuple(row.tolist()) for row in x)
    assert len(got) == len(windows) // 3 * 3 and set(got) <= set(windows) and len(set(got)) == len(got)
    assert len(list(eval_batches(data, 16, 50, max_batches=2))) == 2


def test_windows_that_do_not_fit(prepared):
    data = TokenData(prepared, "val")
    with pytest.raises(ValueError, match="no window of block_size \\+ 1 = 100001 tokens fits"):
        RandomBatches(data, 4, 100_000)
    with pytest.raises(ValueError, match="no window"):
        next(eval_batches(data, 4, 100_000))


@pytest.fixture
def copy(prepared, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(prepared, target)
    return target


def test_wrong_magic(copy):
    with open(copy / "train_000001.bin", "r+b") as f:
        f.write(np.int32(12345).tobytes())
    with pytest.raises(ShardError, match="train_000001.bin: not a token shard .magic number 12345, expected 20240520"):
        TokenData(copy, "train")


def test_wrong_dtype(copy):
    with open(copy / "val_000000.bin", "r+b") as f:
        f.seek(4)
        f.write(np.int32(2).tobytes())
    with pytest.raises(ShardError, match="val_000000.bin: .* bytes, but its header says .* uint32 tokens"):
        TokenData(copy, "val")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["dtype"] = "uint32"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="train_000000.bin: holds uint16 tokens .header version 1., but the manifest"):
        TokenData(copy, "train")


def test_wrong_count_and_truncation(copy):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["splits"]["train"]["shards"][2]["tokens"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="train_000002.bin: holds 30,000 tokens, but the manifest says 30,001"):
        TokenData(copy, "train")
    with open(copy / "val_000000.bin", "r+b") as f:
        f.truncate(2000)
    with pytest.raises(ShardError, match="val_000000.bin: 2,000 bytes, but its header says .* the file is truncated"):
        TokenData(copy, "val")


def test_wrong_checksum(copy):
    with open(copy / "train_000003.bin", "r+b") as f:
        f.seek(5000)
        f.write(b"\x01\x00")
    with pytest.raises(ShardError, match="train_000003.bin: sha256 differs from the manifest's"):
        TokenData(copy, "train")
    assert TokenData(copy, "train", verify=False).tokens > 0  # verify=False checks headers and sizes only


@pytest.mark.parametrize("spec", ["char", "gpt2"])
def test_an_edited_vocab_size_is_refused_before_a_model_is_sized_by_it(tmp_path, spec):
    """train-gpt sizes its embedding table from the manifest's vocab_size: it must be the tokenizer's own."""
    text = tmp_path / "t.txt"
    text.write_text("Some words to train on. " * 200, encoding="utf-8")
    prepare(PrepareConfig([str(text)], str(tmp_path / "data"), spec, val_fraction=0.2))
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    own = manifest["tokenizer"]["vocab_size"]
    assert own == (50257 if spec == "gpt2" else 15) and TokenData(tmp_path / "data").vocab_size == own
    for edited in (10, 10**9):
        (tmp_path / "data" / "manifest.json").write_text(json.dumps(
            {**manifest, "tokenizer": {**manifest["tokenizer"], "vocab_size": edited}}))
        line = (f"{tmp_path / 'data'}: the tokenizer record's vocab_size is {edited}, but the tokenizer ({spec}) has "
                f"{own}; the record was edited or damaged")
        with pytest.raises(ManifestError) as refused:
            TokenData(tmp_path / "data", "train")
        assert str(refused.value) == line
    result = CliRunner().invoke(main, ["train-gpt", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                                       "--device", "cpu"])
    assert result.exit_code == 1 and result.stderr.strip().splitlines()[-1] == f"Error: {line}"


def test_not_prepared(tmp_path):
    with pytest.raises(ManifestError, match="no manifest.json; prepare the directory first"):
        TokenData(tmp_path)


@pytest.mark.cuda
def test_cuda_pinned_async_transfer(prepared):
    data = TokenData(prepared, "train")
    on_cpu = RandomBatches(data, 8, 64, seed=3)
    on_gpu = RandomBatches(data, 8, 64, seed=3, device="cuda")
    for _ in range(3):
        x, y = next(on_gpu)
        assert x.is_cuda and y.is_cuda
        cx, cy = next(on_cpu)
        assert torch.equal(x.cpu(), cx) and torch.equal(y.cpu(), cy)
    x, _ = next(eval_batches(TokenData(prepared, "val"), 4, 32, device="cuda"))
    assert x.is_cuda
