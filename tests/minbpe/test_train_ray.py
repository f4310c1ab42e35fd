"""train-tokenizer --engine ray: on a real local Ray of 2 CPUs (conftest.ray_cluster), the chunk counts of the text
and the local engine's very merges and files, from units that cut files where no chunk changes; bad input named."""

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_cli import error_line

from cli import main
from conftest import ROOT, TINYSHAKESPEARE
from minbpe import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, RegexTokenizer, ray_count, reference
from minbpe import base as base_mod
from minbpe.core import TokenizerError

pytest.importorskip("ray", reason="the Ray engine's tests need Ray (pip install -e '.[ray]')")

SPECIAL = "<|endoftext|>"
UNIT = 50_000  # Tiny Shakespeare makes 23 units: many ends to agree on


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[str]:
    """Files of every kind a unit meets: many units (Tiny Shakespeare), documents between special tokens with
    text beyond ASCII across unit ends, an empty file, and a long file with no line break (one unit)."""
    root = tmp_path_factory.mktemp("corpus")
    taylor = (ROOT / "data" / "taylorswift.txt").read_text(encoding="utf-8")
    docs = [f"Dokument {i}: naïve café — 東京 {i * 7}\n\n{taylor[i * 900 : (i + 1) * 900]}" for i in range(120)]
    files = {
        "a_shakespeare.txt": TINYSHAKESPEARE.read_text(encoding="utf-8"),
        "b_docs.txt": SPECIAL.join(docs),
        "c_empty.txt": "",
        "d_one_line.txt": "words without a break " * 6_000,
    }
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8", newline="")
    return [str(root / name) for name in files]


@pytest.fixture
def small_units(monkeypatch):
    monkeypatch.setattr(ray_count, "UNIT_BYTES", UNIT)


@pytest.mark.parametrize("pattern", [GPT4_SPLIT_PATTERN, GPT2_SPLIT_PATTERN], ids=["gpt4", "gpt2"])
def test_ray_counts_every_chunk_once(ray_cluster, corpus, small_units, pattern):
    assert len(ray_count.file_units(corpus, UNIT)) == 29
    expected = Counter()
    for path in corpus:
        expected.update(reference.chunks(Path(path).read_text(encoding="utf-8"), pattern, [SPECIAL]))
    seen = []
    got = ray_count.ray_count_files(corpus, pattern, [SPECIAL], "strict", None, progress=seen.append)
    assert got == expected
    assert sum(seen) == sum(Path(p).stat().st_size for p in corpus)


def test_ray_learns_the_local_engines_merges_and_files(ray_cluster, corpus, small_units, tmp_path):
    runner = CliRunner()
    for engine in ("local", "ray"):
        args = ["train-tokenizer", "--vocab-size", "1500", "--special", SPECIAL, "--output", str(tmp_path / engine),
                "--engine", engine, *[a for p in corpus for a in ("--input", p)]]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "learned 1,243 merges" in result.stdout
    assert (tmp_path / "ray.model").read_bytes() == (tmp_path / "local.model").read_bytes()
    assert (tmp_path / "ray.vocab").read_bytes() == (tmp_path / "local.vocab").read_bytes()


def test_a_bad_unit_fails_with_the_local_engines_error(ray_cluster, corpus, small_units, tmp_path):
    """A byte that is not UTF-8 deep in the file (in a later unit): the same line as the local engine's, with its
    offset in the file, and no output written."""
    bad = tmp_path / "bad.txt"
    data = TINYSHAKESPEARE.read_bytes()
    bad.write_bytes(data[:200_003] + b"\xff" + data[200_003:])
    lines = []
    for engine in ("local", "ray"):
        result = CliRunner().invoke(main, ["train-tokenizer", "--input", corpus[1], "--input", str(bad),
                                           "--vocab-size", "300", "--output", str(tmp_path / engine),
                                           "--engine", engine])
        lines.append(error_line(result))
    assert lines[0] == lines[1]
    assert f"{bad}: invalid UTF-8 at byte offset 200003" in lines[1]
    assert not list(tmp_path.glob("*.model"))


def test_refusals_are_one_line(tmp_path, monkeypatch):
    path = str(ROOT / "data" / "taylorswift.txt")

    def refusal(*args: str) -> str:
        result = CliRunner().invoke(main, ["train-tokenizer", "--input", path, "--vocab-size", "300",
                                           "--output", str(tmp_path / "tok"), *args])
        return error_line(result)

    assert "a basic tokenizer (no pattern) reads each file as one chunk: use --engine local" in \
        refusal("--type", "basic", "--engine", "ray")
    assert "--workers 2 is for the local engine" in refusal("--engine", "ray", "--workers", "2")
    assert "--ray-address is for --engine ray" in refusal("--ray-address", "head:6379")
    monkeypatch.setattr(base_mod, "has_ray", lambda: False)  # as if Ray were not installed
    assert 'pip install -e ".[ray]"' in refusal("--engine", "ray")
    with pytest.raises(TokenizerError, match="engine must be 'local' or 'ray'"):
        RegexTokenizer().train_from_files([path], 300, engine="spark")
    assert not list(tmp_path.iterdir())
