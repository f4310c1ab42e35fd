"""prepare: shards that hold exactly the tokenizer's ids, a pinned val split, resume, and clear errors on bad input."""

import base64
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tiktoken

import minbpe
from conftest import ROOT, TINYSHAKESPEARE, rank_file
from minbpe import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, CharTokenizer, RegexTokenizer
from pipeline import encode as encode_mod
from pipeline import prepare as prepare_mod
from pipeline import sources as sources_mod
from pipeline.prepare import PrepareConfig, PrepareError, prepare, val_documents
from pipeline.shards import ShardWriter

TAYLOR = ROOT / "data" / "taylorswift.txt"
EOT = "<|endoftext|>"


# --- an independent reader, written from the format description alone -----------


def read_shard(path) -> np.ndarray:
    """llm.c's format: 256 little-endian int32 (magic 20240520, version 1 = uint16 / 2 = uint32, count), tokens."""
    raw = open(path, "rb").read()
    header = np.frombuffer(raw[:1024], dtype="<i4")
    assert header[0] == 20240520 and not header[3:].any()
    tokens = np.frombuffer(raw[1024:], dtype={1: "<u2", 2: "<u4"}[int(header[1])])
    assert len(tokens) == header[2]
    return tokens


def read_split(directory, split: str) -> np.ndarray:
    manifest = json.loads((directory / "manifest.json").read_text())
    shards = [read_shard(directory / s["file"]) for s in manifest["splits"][split]["shards"]]
    return np.concatenate(shards) if shards else np.zeros(0, dtype=np.int64)


def documents(tokens: np.ndarray, delimiter: int) -> list[list[int]]:
    """A split's tokens cut at the delimiters: one id list per document, delimiter first."""
    starts = np.flatnonzero(tokens == delimiter).tolist() + [len(tokens)]
    assert starts[0] == 0
    return [tokens[a:b].tolist() for a, b in zip(starts, starts[1:], strict=False)]


def local_encoding(name: str, pattern: str, specials: dict[str, int]) -> tiktoken.Encoding:
    """A tiktoken Encoding from the bundled rank file (tiktoken's own loader is not used: no network)."""
    lines = rank_file(name).read_text().splitlines()
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in lines if line)}
    return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, taylorswift) -> str:
    """A trained RegexTokenizer with <|endoftext|>, saved: a .model file for prepare."""
    tok = RegexTokenizer()
    tok.train(taylorswift, 300)
    tok.register_special_tokens({EOT: 300})
    prefix = tmp_path_factory.mktemp("tok") / "small"
    tok.save(str(prefix))
    return str(prefix) + ".model"


def write_docs(path, docs: list[str], sep: str = "\n\n") -> None:
    path.write_bytes(sep.join(docs).encode("utf-8"))


DOCS = [
    "First document.\nIt has two lines.",
    "Unicode: naïve café 안녕하세요 😉 and digits 1234567",
    f"A literal {EOT} inside a document is ordinary text",
    "trailing spaces   \nand\ttabs\r\nand CRLF",
    "x",
]


# --- exact ids, the delimiter, order, workers ---------------------------------------


def test_gpt2_shards_hold_tiktokens_ids_per_document(tmp_path):
    enc = local_encoding("r50k_base", GPT2_SPLIT_PATTERN, {EOT: 50256})
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a_shakespeare.txt").write_bytes(TINYSHAKESPEARE.read_bytes())  # > 1 MB: 2 pieces
    (corpus / "b_taylor.txt").write_bytes(TAYLOR.read_bytes())
    write_docs(corpus / "c_docs.txt", DOCS)
    (corpus / ".hidden.txt").write_text("skipped")
    texts = [open(corpus / n, encoding="utf-8", newline="").read() for n in ("a_shakespeare.txt", "b_taylor.txt",
                                                                                "c_docs.txt")]
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        result = prepare(PrepareConfig([str(corpus)], str(out), "gpt2", workers=workers, shard_tokens=50_000,
                                       val_fraction=0.5, seed=3))
        outs[workers] = out
        m = result.manifest
        assert m.dtype == "uint16" and m.delimiter == {"token": EOT, "id": 50256}
        assert m.tokenizer.type == "gpt2" and m.tokenizer.vocab_size == 50257 and m.tokenizer.sha256 is None
    # the split of each document follows the seeded rule, and each document holds tiktoken's ids
    expected = {"train": [], "val": []}
    for i, text in enumerate(texts):
        expected["val" if val_documents([i], 3, 0.5)[0] else "train"].append([50256, *enc.encode_ordinary(text)])
    assert expected["train"] and expected["val"]
    for split in ("train", "val"):
        assert documents(read_split(outs[1], split), 50256) == expected[split]
    # N = 1 and N = 2 workers write the same bytes
    names = sorted(p.name for p in outs[1].iterdir() if p.suffix == ".bin")
    assert len(names) > 2 and names == sorted(p.name for p in outs[2].iterdir() if p.suffix == ".bin")
    for name in names:
        assert (outs[1] / name).read_bytes() == (outs[2] / name).read_bytes()
    # the manifest's per-shard figures are the files'
    manifest = json.loads((outs[1] / "manifest.json").read_text())
    for split in ("train", "val"):
        info = manifest["splits"][split]
        for shard in info["shards"]:
            assert shard["sha256"] == sha256(outs[1] / shard["file"])
            assert shard["tokens"] == len(read_shard(outs[1] / shard["file"])) <= 50_000
        assert info["documents"] == len(expected[split])
        assert info["bytes"] == sum(len(texts[i].encode()) for i in range(3) if (split == "val") == val_documents(
            [i], 3, 0.5)[0])
    assert sorted(os.listdir(outs[1])) == sorted(["manifest.json", *names])  # no state or temporary left


def test_uint32_shards_for_gpt4(tmp_path):
    enc = local_encoding("cl100k_base", GPT4_SPLIT_PATTERN, {EOT: 100257})
    write_docs(tmp_path / "docs.txt", DOCS)
    out = tmp_path / "out"
    result = prepare(PrepareConfig([str(tmp_path / "docs.txt")], str(out), "gpt4", doc_separator="blank-line",
                                   val_fraction=0))
    assert result.manifest.dtype == "uint32"
    tokens = read_split(out, "train")
    assert tokens.dtype == np.dtype("<u4") and tokens.max() > 65535
    assert documents(tokens, 100257) == [[100257, *enc.encode_ordinary(d)] for d in DOCS]


def test_uint32_when_an_id_passes_65535(tmp_path, taylorswift):
    tok = CharTokenizer()
    tok.train(taylorswift)
    tok.register_special_tokens({EOT: 70_000})
    tok.save(str(tmp_path / "wide"))
    out = tmp_path / "out"
    prepare(PrepareConfig([str(TAYLOR)], str(out), str(tmp_path / "wide.model"), val_fraction=0))
    tokens = read_split(out, "train")
    assert tokens.dtype == np.dtype("<u4")
    assert tokens.tolist() == [70_000, *tok.encode(taylorswift)]  # 70,000 would wrap to 4,464 in uint16


# --- the validation split -------------------------------------------------------------


def test_one_document_is_split_by_tokens(tmp_path, taylorswift):
    out = tmp_path / "out"
    result = prepare(PrepareConfig([str(TAYLOR)], str(out), "char", val_fraction=0.1, shard_tokens=40_000))
    tok = minbpe.load(out / "tokenizer.model")  # the char tokenizer was saved with the shards
    assert isinstance(tok, CharTokenizer) and tok.special_tokens == {EOT: len(tok.chars)}
    everything = [tok.special_tokens[EOT], *tok.encode(taylorswift)]
    train, val = read_split(out, "train").tolist(), read_split(out, "val").tolist()
    assert train + val == everything
    assert len(train) == int(len(everything) * 0.9)
    assert result.manifest.val == {"method": "last-tokens", "fraction": 0.1}
    assert len(result.manifest.splits["train"].shards) == -(-len(train) // 40_000)
    assert tok.decode(val) == taylorswift[-len(val) :]


def test_one_document_that_was_drawn_for_val(tmp_path, taylorswift):
    seed = next(s for s in range(100) if val_documents([0], s, 0.3)[0])
    out = tmp_path / "out"
    prepare(PrepareConfig([str(TAYLOR)], str(out), "char", val_fraction=0.3, seed=seed, shard_tokens=50_000))
    tok = minbpe.load(out / "tokenizer.model")
    train, val = read_split(out, "train").tolist(), read_split(out, "val").tolist()
    assert train + val == [tok.special_tokens[EOT], *tok.encode(taylorswift)]
    assert len(train) == int((len(train) + len(val)) * 0.7)


def test_val_documents_stay_when_data_is_added(tmp_path, small_model):
    docs = [f"document number {i}: " + "lorem ipsum " * (i % 7) for i in range(200)]
    write_docs(tmp_path / "a.txt", docs, "\n")
    write_docs(tmp_path / "b.txt", [d.upper() for d in docs], "\n")
    for name, inputs in (("small", ["a.txt"]), ("big", ["a.txt", "b.txt"])):
        prepare(PrepareConfig([str(tmp_path / i) for i in inputs], str(tmp_path / name), small_model,
                              doc_separator="line", val_fraction=0.1))
    small, big = (documents(read_split(tmp_path / n, "val"), 300) for n in ("small", "big"))
    assert 5 < len(small) < len(big) and big[: len(small)] == small


def test_val_first_shard(tmp_path, small_model, taylorswift):
    out = tmp_path / "out"
    result = prepare(PrepareConfig([str(TAYLOR)], str(out), small_model, val_first_shard=True, shard_tokens=10_000))
    tok = minbpe.load(small_model)
    val, train = read_split(out, "val").tolist(), read_split(out, "train").tolist()
    assert len(val) == 10_000 and val + train == [300, *tok.encode(taylorswift)]
    assert result.manifest.val == {"method": "first-shard", "tokens": 10_000}
    assert result.manifest.splits["val"].documents == 1 and result.manifest.splits["train"].documents == 0
    with pytest.raises(PrepareError, match="fit in the first shard"):
        prepare(PrepareConfig([str(TAYLOR)], str(tmp_path / "o2"), small_model, val_first_shard=True))
    assert not (tmp_path / "o2").exists()


# --- crash safety ----------------------------------------------------------------------

KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {root!r})
from pipeline import encode, prepare as m
encode.BATCH_CHARS = 20_000
batches = [0]
def progress(p):
    batches[0] += p.phase == "tokenize"
    if batches[0] == 4:
        os.kill(os.getpid(), signal.SIGKILL)
m.prepare(m.PrepareConfig([{input!r}], {out!r}, {model!r}, workers=2, shard_tokens=30_000, val_fraction=0.2,
                          doc_separator="line"), progress)
"""


def test_resume_after_a_kill_mid_shard(tmp_path, small_model, monkeypatch):
    corpus = tmp_path / "corpus.txt"
    write_docs(corpus, [TAYLOR.read_text(encoding="utf-8")] * 3)
    out = tmp_path / "out"
    script = KILL_SCRIPT.format(root=str(ROOT), input=str(corpus), out=str(out), model=small_model)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    left = sorted(os.listdir(out))
    assert "manifest.json" not in left and ".prepare-state.json" in left
    assert "train_000000.bin" in left and any(n.endswith(".bin.tmp") for n in left)  # killed mid-shard
    for tmp in out.glob("*.tmp"):  # tokens written after the last saved state: must be cut away
        with open(tmp, "ab") as f:
            f.write(b"\xff" * 1000)
    # the same interrupted run as an older gptkit left it: its state counts pieces cut by other rules
    older = tmp_path / "older"
    shutil.copytree(out, older)
    state = json.loads((older / ".prepare-state.json").read_text())
    del state["piece_layout"]
    (older / ".prepare-state.json").write_text(json.dumps(state))
    monkeypatch.setattr(encode_mod, "BATCH_CHARS", 20_000)
    config = PrepareConfig([str(corpus)], str(out), small_model, shard_tokens=30_000, val_fraction=0.2,
                           doc_separator="line")
    resumed = prepare(config)
    assert resumed.resumed_shards >= 1 and resumed.started_over is None
    restarted = prepare(PrepareConfig([str(corpus)], str(older), small_model, shard_tokens=30_000, val_fraction=0.2,
                                      doc_separator="line"))
    assert "as an older gptkit did" in restarted.started_over and restarted.resumed_shards == 0
    fresh = prepare(PrepareConfig([str(corpus)], str(tmp_path / "fresh"), small_model, shard_tokens=30_000,
                                  val_fraction=0.2, doc_separator="line"))
    for done in (out, older):
        assert prepare(PrepareConfig([str(corpus)], str(done), small_model, shard_tokens=30_000, val_fraction=0.2,
                                     doc_separator="line")).manifest.splits == fresh.manifest.splits
        assert sorted(os.listdir(done)) == sorted(os.listdir(tmp_path / "fresh"))
        for name in os.listdir(done):
            if name.endswith(".bin"):
                assert (done / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()
    again = prepare(config)  # complete: nothing to do
    assert again.up_to_date


def test_writer_takes_back_a_shard_completed_after_the_last_save(tmp_path):
    token_bytes = np.ones(10, dtype=np.int64)
    w = ShardWriter(tmp_path, "train", 1, 4, token_bytes)
    w.append(np.array([1, 2, 3]), np.array([0]))
    w.flush()
    saved = w.state()
    w.append(np.array([4, 5, 6]), np.array([1]))  # completes shard 0 (renamed), opens shard 1
    w.close()
    assert (tmp_path / "train_000000.bin").exists()
    again = ShardWriter(tmp_path, "train", 1, 4, token_bytes)
    again.resume(saved)
    assert not (tmp_path / "train_000000.bin").exists() and again.tokens == 3
    again.append(np.array([4, 5, 6]), np.array([1]))
    again.finish()
    assert [read_shard(tmp_path / n).tolist() for n in ("train_000000.bin", "train_000001.bin")] == [[1, 2, 3, 4],
                                                                                                     [5, 6]]
    assert [s.documents for s in again.shards] == [1, 1]  # the second document starts at 5


# --- refusing to mix -------------------------------------------------------------------


def test_refuses_another_tokenizer_or_settings(tmp_path, small_model, taylorswift):
    out = tmp_path / "out"
    prepare(PrepareConfig([str(TAYLOR)], str(out), small_model))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    other = RegexTokenizer()
    other.train(taylorswift, 290)
    other.register_special_tokens({EOT: 290})
    other.save(str(tmp_path / "other"))
    for spec in (str(tmp_path / "other.model"), "char"):
        with pytest.raises(PrepareError, match="tokens of two tokenizers cannot share a directory"):
            prepare(PrepareConfig([str(TAYLOR)], str(out), spec))
    with pytest.raises(PrepareError, match="other settings .shard_tokens differ"):
        prepare(PrepareConfig([str(TAYLOR)], str(out), small_model, shard_tokens=1000))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.md").write_text("mine")
    with pytest.raises(PrepareError, match="not a gptkit data directory"):
        prepare(PrepareConfig([str(TAYLOR)], str(tmp_path / "mine"), small_model))


def test_refuses_to_resume_with_another_tokenizer(tmp_path, small_model):
    out = tmp_path / "out"

    def stop(p):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare(PrepareConfig([str(TAYLOR)], str(out), small_model), stop)
    assert (out / ".prepare-state.json").exists()
    with pytest.raises(PrepareError, match="holds an interrupted run with tokenizer regex"):
        prepare(PrepareConfig([str(TAYLOR)], str(out), "char"))
    assert prepare(PrepareConfig([str(TAYLOR)], str(out), small_model)).manifest.splits["train"].tokens > 0


# --- bad input -------------------------------------------------------------------------


def test_empty_input(tmp_path, small_model):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("\n\n\n\n")
    for name, separator in (("empty.txt", "file"), ("blank.txt", "blank-line")):
        out = tmp_path / f"out_{name}"
        with pytest.raises(PrepareError, match=f"holds no documents .*{name} is empty"):
            prepare(PrepareConfig([str(tmp_path / name)], str(out), small_model, doc_separator=separator))
        assert not out.exists()


def test_unreadable_inputs(tmp_path, small_model, monkeypatch):
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    with pytest.raises(ValueError, match="dangling.txt: cannot read the file"):
        prepare(PrepareConfig([str(tmp_path / "dangling.txt")], str(tmp_path / "out"), small_model))
    with pytest.raises(ValueError, match="nope.txt: no such file or directory"):
        prepare(PrepareConfig([str(tmp_path / "nope.txt")], str(tmp_path / "out"), small_model))
    with pytest.raises(ValueError, match=r"\*.md: no file matches"):
        prepare(PrepareConfig([str(tmp_path / "*.md")], str(tmp_path / "out"), small_model))
    assert not (tmp_path / "out").exists()
    # a file this user may not read: what open() raises then (EACCES), made so here because root, as CI runs,
    # reads a chmod 0 file
    locked = tmp_path / "locked.txt"
    locked.write_text("secret")

    def refuse(path, *args, **kwargs):
        if os.fspath(path) == str(locked):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(sources_mod, "open", refuse, raising=False)  # the module's open, before the builtin
    with pytest.raises(ValueError, match="locked.txt: cannot read the file .Permission denied"):
        prepare(PrepareConfig([str(locked)], str(tmp_path / "out"), small_model))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("change", ["append", "remove"])
def test_an_input_that_changes_during_the_run_fails_it(tmp_path, small_model, change):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TAYLOR.read_text(encoding="utf-8"), encoding="utf-8")
    size = corpus.stat().st_size

    def edit_once(progress) -> None:  # another program writes the file while it is being tokenized
        if progress.phase == "tokenize" and corpus.exists() and corpus.stat().st_size == size:
            if change == "append":
                with open(corpus, "a", encoding="utf-8") as f:
                    f.write("A verse written while prepare was reading.\n")
            else:
                corpus.unlink()

    out = tmp_path / "out"
    expected = "changed while it was being prepared" if change == "append" else "went away while"
    with pytest.raises(PrepareError, match=f"^{re.escape(str(corpus))} {expected}"):
        prepare(PrepareConfig([str(corpus)], str(out), small_model), edit_once)
    assert not out.exists()  # no manifest over shards of a text it does not describe


def test_non_utf8_input(tmp_path, small_model):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good text\n" * 50 + b"caf\xe9\n")
    out = tmp_path / "out"
    with pytest.raises(UnicodeError, match="bad.txt: invalid UTF-8 at byte offset 503"):
        prepare(PrepareConfig([str(bad)], str(out), small_model))
    assert not out.exists()  # nothing half-written
    prepare(PrepareConfig([str(bad)], str(out), small_model, errors="replace", val_fraction=0))
    tok = minbpe.load(small_model)
    assert tok.decode(read_split(out, "train").tolist()).endswith("caf\ufffd\n")
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(UnicodeError, match="bad.jsonl line 2: invalid UTF-8 at byte offset 28"):
        prepare(PrepareConfig([str(jsonl)], str(tmp_path / "o2"), small_model))


def test_missing_delimiter(tmp_path, taylorswift):
    tok = RegexTokenizer()
    tok.train(taylorswift, 260)
    tok.save(str(tmp_path / "plain"))
    with pytest.raises(PrepareError, match=re.escape(f"no special token '{EOT}'") + ".*--delimiter none"):
        prepare(PrepareConfig([str(TAYLOR)], str(tmp_path / "out"), str(tmp_path / "plain.model")))
    assert not (tmp_path / "out").exists()
    prepare(PrepareConfig([str(TAYLOR)], str(tmp_path / "out"), str(tmp_path / "plain.model"), delimiter=None,
                          val_fraction=0))
    assert read_split(tmp_path / "out", "train").tolist() == tok.encode(taylorswift)


def test_jsonl_parquet_and_text_inputs_together(tmp_path, small_model):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in DOCS[:2]))
    pq.write_table(pa.table({"text": DOCS[2:4]}), tmp_path / "b.parquet")
    (tmp_path / "c.txt").write_bytes(DOCS[4].encode())
    out = tmp_path / "out"
    prepare(PrepareConfig([str(tmp_path / n) for n in ("a.jsonl", "b.parquet", "c.txt")], str(out), small_model,
                          val_fraction=0))
    tok = minbpe.load(small_model)
    assert documents(read_split(out, "train"), 300) == [[300, *tok.encode_ordinary(d)] for d in DOCS]


def test_val_documents_are_a_seeded_uniform_draw():
    picked = val_documents(np.arange(200_000), seed=1337, fraction=0.05)
    assert abs(picked.mean() - 0.05) < 0.002
    assert (val_documents(np.arange(200_000), seed=1, fraction=0.05) != picked).mean() > 0.05
    assert not val_documents(np.arange(1000), 1337, 0.0).any()
    assert (val_documents(np.arange(100_000, 100_010), 1337, 0.05) == picked[100_000:100_010]).all()


def test_output_inside_an_input_directory(tmp_path, small_model):
    (tmp_path / "a.txt").write_text("text")
    with pytest.raises(PrepareError, match="is inside the input directory"):
        prepare(PrepareConfig([str(tmp_path)], str(tmp_path / "data"), small_model))


PEAK_RSS = """
import sys
from pipeline.prepare import PrepareConfig, prepare
prepare(PrepareConfig([sys.argv[1]], sys.argv[2], "char", doc_separator="blank-line"))
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])  # peak RSS in kB of this process image
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="peak RSS is read from Linux's /proc")
def test_memory_does_not_grow_with_the_corpus(tmp_path):
    """prepare streams: its peak memory (VmHWM of a fresh process; ru_maxrss would keep the forking pytest's) on
    Tiny Shakespeare x 16 is within half a byte per added character of that on x 4. A run that held the text
    (1 byte per ASCII character) or its tokens (2 bytes per character, uint16) would add at least 3N bytes for the
    3N more characters (N = 4.5 MB), twice the 6.7 MB allowed; measured growth: 0.05 to 1.7 MB."""
    text = TINYSHAKESPEARE.read_text(encoding="utf-8")  # speeches apart by blank lines: many documents
    peaks, sizes = [], []
    for copies in (4, 16):
        corpus = tmp_path / f"x{copies}.txt"
        corpus.write_text(text * copies, encoding="utf-8")
        sizes.append(corpus.stat().st_size)
        child = subprocess.run([sys.executable, "-c", PEAK_RSS, str(corpus), str(tmp_path / f"out{copies}")],
                               cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert child.returncode == 0, child.stderr[-2000:]
        peaks.append(int(child.stdout.split()[-1]) * 1024)
    assert peaks[1] - peaks[0] < (sizes[1] - sizes[0]) / 2, (peaks, sizes)


def test_char_run_interrupted_then_resumed(tmp_path, monkeypatch):
    monkeypatch.setattr(encode_mod, "BATCH_CHARS", 20_000)
    monkeypatch.setattr(prepare_mod, "SAVE_SECONDS", 0)
    calls = []

    def stop_at_the_fifth_batch(p):
        calls.append(p.phase)
        if calls.count("tokenize") == 5:
            raise KeyboardInterrupt

    config = PrepareConfig([str(TAYLOR)], str(tmp_path / "out"), "char", shard_tokens=30_000, doc_separator="line")
    with pytest.raises(KeyboardInterrupt):
        prepare(config, stop_at_the_fifth_batch)
    assert "scan" in calls and (tmp_path / "out" / "tokenizer.model").exists()
    resumed = prepare(config)
    assert resumed.resumed_shards == 3
    fresh = prepare(PrepareConfig([str(TAYLOR)], str(tmp_path / "fresh"), "char", shard_tokens=30_000,
                                  doc_separator="line"))
    assert resumed.manifest.splits == fresh.manifest.splits
    assert resumed.manifest.tokenizer.sha256 == fresh.manifest.tokenizer.sha256


def test_lone_surrogates_are_encoded_as_tiktoken_does(tmp_path):
    enc = local_encoding("r50k_base", GPT2_SPLIT_PATTERN, {EOT: 50256})
    docs = ["broken \ud800 pair", "fine"]  # JSON can carry a lone surrogate; tiktoken reads it as U+FFFD
    (tmp_path / "s.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    prepare(PrepareConfig([str(tmp_path / "s.jsonl")], str(tmp_path / "out"), "gpt2", val_fraction=0))
    assert documents(read_split(tmp_path / "out", "train"), 50256) == [[50256, *enc.encode_ordinary(d)] for d in docs]


def test_one_writer_per_data_directory(tmp_path):
    from gptkit_base.files import DirectoryBusy, exclusive_directory

    text = tmp_path / "t.txt"
    text.write_text("Some words. " * 100, encoding="utf-8")
    config = PrepareConfig([str(text)], str(tmp_path / "data"), "gpt2", val_fraction=0.0, workers=1)
    with exclusive_directory(tmp_path / "data"):
        with pytest.raises(DirectoryBusy, match=f"{tmp_path / 'data'} is in use by another gptkit process"):
            prepare(config)
    assert not (tmp_path / "data").exists()  # made by the holder, left empty, removed with it
    prepare(config)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["manifest.json", "train_000000.bin"]
