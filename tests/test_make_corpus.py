"""benchmarks/make_corpus.py: a bench corpus from the user's own sources, the same bytes every time, which the
benchmarks' harness reads."""

import hashlib
import lzma
import re

import harness
import make_corpus


def sources(tmp_path):
    prose = tmp_path / "prose"
    (prose / "b").mkdir(parents=True)
    (prose / "b" / "two.txt").write_text("Second text.\n")
    (prose / "a.txt").write_text("First text,\nin two lines.")  # no final line break: one is added
    (prose / ".hidden.txt").write_text("never read\n")
    (prose / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    code = tmp_path / "lib"
    (code / "site-packages" / "pkg").mkdir(parents=True)
    (code / "site-packages" / "pkg" / "x.py").write_text("installed = True\n")
    (code / "mod.py").write_text("import os\n")
    (code / "notes.txt").write_text("not code\n")
    return prose, code


def make(tmp_path, capsys, out, *extra):
    prose, code = sources(tmp_path)
    argv = ["--out", str(out), "--prose", str(prose), "--code", str(code), "--prose-mb", "0.0002", "--code-mb",
            "0.00005", *extra]
    status = make_corpus.main(argv)
    return status, capsys.readouterr()


def text(path):
    with lzma.open(path) as f:
        return f.read()


def test_a_corpus_is_its_sources_in_order_repeated_to_size(tmp_path, capsys):
    status, said = make(tmp_path, capsys, tmp_path / "bench")
    assert status == 0, said.err
    prose, code = text(tmp_path / "bench" / "prose.txt.xz"), text(tmp_path / "bench" / "code.txt.xz")
    once = b"First text,\nin two lines.\n\nSecond text.\n"  # sorted paths, a blank line between files
    assert len(prose) <= 200 and prose.endswith(b"\n") and len(prose) > 200 - len(once)
    assert (once + b"\n") * 4 == prose[: 4 * (len(once) + 1)]
    assert code.startswith(b"import os\n\nimport os\n") and len(code) <= 50 and code.endswith(b"\n")
    assert code.replace(b"import os\n", b"").strip(b"\n") == b""  # only mod.py: no .txt, nothing installed
    shown = dict(re.findall(r"^(\w+)\b.*sha256 ([0-9a-f]{64})$", said.out, re.M))
    assert shown == {"prose": hashlib.sha256(prose).hexdigest(), "code": hashlib.sha256(code).hexdigest(),
                     "corpus": hashlib.sha256(prose + code).hexdigest()}
    assert "1 not UTF-8 left out" in said.out


def test_the_same_sources_give_the_same_bytes(tmp_path, capsys):
    make(tmp_path / "one", capsys, tmp_path / "one" / "bench")
    make(tmp_path / "two", capsys, tmp_path / "two" / "bench")
    for name in harness.BENCH_PARTS:
        assert (tmp_path / "one" / "bench" / name).read_bytes() == (tmp_path / "two" / "bench" / name).read_bytes()


def test_an_existing_corpus_is_kept_without_overwrite(tmp_path, capsys):
    out = tmp_path / "bench"
    out.mkdir()
    (out / "prose.txt.xz").write_bytes(b"mine")
    status, said = make(tmp_path, capsys, out)
    assert status == 1 and "give --overwrite" in said.err and (out / "prose.txt.xz").read_bytes() == b"mine"
    status, said = make(tmp_path / "again", capsys, out, "--overwrite")
    assert status == 0 and (out / "code.txt.xz").exists()


def test_the_harness_reads_the_corpus_it_makes(tmp_path, capsys, monkeypatch):
    make(tmp_path, capsys, tmp_path / "bench")
    monkeypatch.setattr(harness, "BENCH_DIR", tmp_path / "bench")
    monkeypatch.setattr(harness, "CORPUS", tmp_path / "cache" / "corpus.txt")
    path, _ = harness.prepare_corpus()
    parts = [text(tmp_path / "bench" / name) for name in harness.BENCH_PARTS]
    assert path.read_bytes() == b"".join(parts)


def test_without_a_corpus_the_harness_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "BENCH_DIR", tmp_path / "nothing")
    path, why = harness.prepare_corpus()
    assert path is None and "benchmarks/make_corpus.py --out DIR" in why and "GPTKIT_BENCH_DIR=DIR" in why
