"""prepare --engine ray: on a real local Ray of 2 CPUs, the local engine's very bytes; resume after a kill; bad input
named. One Ray for the module (conftest.ray_cluster), which prepare uses as it finds it."""

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_cli import error_line

from cli import main
from conftest import ROOT, TINYSHAKESPEARE
from minbpe import get_tokenizer
from pipeline import prepare as prepare_mod
from pipeline import ray_engine
from pipeline.encode import piece_cuts
from pipeline.prepare import PrepareConfig, PrepareError, prepare
from pipeline.sources import Corpus, SourceError

ray = pytest.importorskip("ray", reason="the Ray engine's tests need Ray (pip install -e '.[ray]')")

TAYLOR = ROOT / "data" / "taylorswift.txt"
SETTINGS = {"shard_tokens": 40_000, "val_fraction": 0.3, "seed": 5}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Text, JSONL and Parquet files. The first (one document in two pieces) takes longer than the next five
    together, so its task ends after theirs: committing units as they finish would change the bytes. The last
    takes three times as long as the first: it is still being written when the first is committed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("corpus")
    lines = [p for p in TAYLOR.read_text(encoding="utf-8").splitlines() if p.strip()]  # 975
    (root / "a_shakespeare.txt").write_bytes(TINYSHAKESPEARE.read_bytes())
    (root / "b_taylor.txt").write_bytes(TAYLOR.read_bytes())
    (root / "c.jsonl").write_text("".join(json.dumps({"text": p}) + "\n" for p in lines[:300]), encoding="utf-8")
    pq.write_table(pa.table({"text": lines[300:600]}), root / "d.parquet")
    (root / "e_empty.txt").write_text("")  # a unit of no pieces
    (root / "f.jsonl").write_text("".join(json.dumps({"text": p}) + "\n" for p in lines[600:]), encoding="utf-8")
    (root / "g_big.txt").write_bytes(TINYSHAKESPEARE.read_bytes() * 3)
    return root


@pytest.fixture(autouse=True)
def small_units(monkeypatch):
    """Units of 1 MiB (the driver cuts the files into units): the corpus's last file makes four."""
    monkeypatch.setattr(ray_engine, "UNIT_BYTES", 1 << 20)


@pytest.fixture(scope="module")
def local(corpus, tmp_path_factory) -> Path:
    """The corpus prepared by the local engine: what the Ray engine must write."""
    out = tmp_path_factory.mktemp("local") / "out"
    prepare(PrepareConfig([str(corpus)], str(out), "gpt2", **SETTINGS))
    return out


def assert_same_output(out: Path, local: Path, engine: str = "ray", val: bool = True) -> None:
    """The same files, byte for byte, and the same manifest but for when and by which engine it was made (and
    documents in the val split, unless `val` is False: one document goes to train)."""
    names = sorted(os.listdir(local))
    assert sorted(os.listdir(out)) == names and len(names) > 5
    for name in names:
        if name != "manifest.json":
            assert (out / name).read_bytes() == (local / name).read_bytes(), name
    made, expected = (json.loads((d / "manifest.json").read_text()) for d in (out, local))
    assert (made.pop("engine"), expected.pop("engine")) == (engine, "local")
    for m in (made, expected):
        del m["created"]
    assert made == expected and (expected["splits"]["val"]["documents"] > 0) == val


def test_ray_writes_the_local_engines_bytes(ray_cluster, corpus, local, tmp_path):
    out = tmp_path / "out"
    result = prepare(PrepareConfig([str(corpus)], str(out), "gpt2", engine="ray", **SETTINGS))
    assert result.manifest.engine == "ray"
    assert_same_output(out, local)  # and no units, state or temporaries left


@pytest.mark.parametrize("separator", ["file", "line", "blank-line"])
def test_a_large_file_is_cut_into_units_that_give_the_local_engines_pieces(ray_cluster, separator, tmp_path):
    """One 3.3 MB text file: four units for four tasks; their pieces, one unit after the other, are the pieces the
    local engine reads (so its saved state means the same to both), and the shards are the local engine's."""
    text = TINYSHAKESPEARE.read_text(encoding="utf-8") * 3
    (tmp_path / "big.txt").write_text(text.replace("\n\n", "\r\n\r\n", 40), encoding="utf-8", newline="")
    corpus = Corpus([str(tmp_path / "big.txt")], doc_separator=separator)
    units = corpus.units(piece_cuts(get_tokenizer("gpt2")), 1 << 20)
    assert len(units) == 4 and units[0].start == 0 and units[-1].end == len(text.encode("utf-8")) + 80
    assert all(a.end == b.start for a, b in itertools.pairwise(units))
    cuts = piece_cuts(get_tokenizer("gpt2"))
    assert [p for unit in units for p in corpus.pieces(cuts, unit=unit)] == list(corpus.pieces(cuts))
    outs = {}
    for engine in ("local", "ray"):
        outs[engine] = tmp_path / engine
        prepare(PrepareConfig([str(tmp_path / "big.txt")], str(outs[engine]), "gpt2", engine=engine,
                              doc_separator=separator, **SETTINGS))
    assert_same_output(outs["ray"], outs["local"], val=separator != "file")


KILL_SCRIPT = """
import os, signal, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from gptkit_base.signals import stop_on_sigterm
from pipeline import prepare as m, ray_engine
ray_engine.UNIT_BYTES = 1 << 20  # as the tests' driver cuts the units
stop_on_sigterm()  # as the CLI does: ray.init must not take SIGTERM from it
ours = signal.getsignal(signal.SIGTERM)
units = Path({out!r}) / ".ray-units"
def progress(p):  # once the first batch is committed (and with it shards completed: the state is saved)
    if p.phase == "tokenize":
        if signal.getsignal(signal.SIGTERM) is not ours:
            sys.exit("prepare took the SIGTERM handler")
        while not any(units.glob("000009.ids.*.tmp")):  # the last unit's task has begun writing
            if (units / "000009.pieces").exists():  # (and not ended already: the test says so)
                break
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGKILL)
m.prepare(m.PrepareConfig([{corpus!r}], {out!r}, "gpt2", engine="ray", ray_address={address!r}, **{settings!r}),
          progress)
"""


def test_a_killed_run_resumes_skipping_the_units_done(ray_cluster, corpus, local, tmp_path):
    out = tmp_path / "out"
    # a second driver on the module's cluster, killed mid-run: Ray kills its tasks in flight with it, here the
    # last unit's
    script = KILL_SCRIPT.format(root=str(ROOT), corpus=str(corpus), out=str(out), address=ray_cluster,
                                settings=SETTINGS)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    units = out / ".ray-units"
    assert (out / ".prepare-state.json").is_file() and (units / "000000.pieces").is_file()
    assert not (units / "000009.pieces").exists() and any(units.glob("000009.ids.*.tmp"))  # killed mid-write
    shutil.copytree(out, tmp_path / "by_local")  # the local engine resumes it too
    prepare(PrepareConfig([str(corpus)], str(tmp_path / "by_local"), "gpt2", **SETTINGS))
    assert_same_output(tmp_path / "by_local", local, engine="local")
    done = {p.name: p.stat() for p in units.iterdir() if p.suffix in (".ids", ".pieces")
            and (units / f"{p.stem}.pieces").is_file()}
    seen = {}

    def progress(p):
        if p.phase == "tokenize" and not seen:  # the units before the run carries on
            seen.update({name: (units / name).stat() for name in done})

    resumed = prepare(PrepareConfig([str(corpus)], str(out), "gpt2", engine="ray", ray_address=ray_cluster, **SETTINGS),
                      progress)
    assert resumed.resumed_shards >= 1
    assert {n: (s.st_ino, s.st_mtime_ns) for n, s in seen.items()} == {
        n: (s.st_ino, s.st_mtime_ns) for n, s in done.items()}  # not written again
    assert_same_output(out, local)


def test_a_bad_input_fails_the_run_naming_it(ray_cluster, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_bytes(TAYLOR.read_bytes())
    (corpus / "b.jsonl").write_text('{"text": "fine"}\n{"text": broken\n')
    (corpus / "c.txt").write_text("also fine")
    errors = {}
    for engine in ("local", "ray"):
        with pytest.raises(SourceError) as caught:
            prepare(PrepareConfig([str(corpus)], str(tmp_path / engine), "gpt2", engine=engine))
        errors[engine] = str(caught.value)
        assert not (tmp_path / engine).exists()  # a fresh run that failed leaves nothing
    assert errors["ray"] == errors["local"] and f"{corpus / 'b.jsonl'} line 2: not valid JSON" in errors["ray"]
    result = CliRunner().invoke(main, ["prepare", "--input", str(corpus), "--tokenizer", "gpt2", "--output",
                                       str(tmp_path / "cli"), "--engine", "ray"], catch_exceptions=False)
    assert "b.jsonl line 2: not valid JSON" in error_line(result)


def test_units_the_driver_cannot_see_fail_the_run(ray_cluster, tmp_path, monkeypatch):
    """As when --output is not on a filesystem the nodes share: the tasks' files are not where the driver looks."""
    monkeypatch.setattr(ray_engine, "_read_unit", lambda units, index, dtype: None)
    with pytest.raises(ray_engine.EngineError, match="tinyshakespeare.txt finished, but its files are missing or "
                       "damaged here; the output directory must be on a filesystem every node shares"):
        prepare(PrepareConfig([str(TINYSHAKESPEARE)], str(tmp_path / "out"), "gpt2", engine="ray"))
    assert not (tmp_path / "out").exists()  # a fresh run that failed leaves nothing


def test_what_the_ray_engine_refuses(tmp_path, monkeypatch):
    def refusal(*args: str) -> str:
        return error_line(CliRunner().invoke(main, ["prepare", "--input", str(TAYLOR), "--tokenizer", "gpt2",
                                                    *args], catch_exceptions=False))

    out = str(tmp_path / "out")
    assert "--workers 2 is for the local engine" in refusal("--output", out, "--engine", "ray", "--workers", "2")
    assert "--output rel/out is a relative path" in refusal("--output", "rel/out", "--engine", "ray",
                                                            "--ray-address", "head:6379")
    assert "--ray-address is for --engine ray" in refusal("--output", out, "--ray-address", "head:6379")
    with pytest.raises(PrepareError, match="hf:x: --engine ray reads files, not Hugging Face datasets"):
        prepare(PrepareConfig(["hf:x"], out, "gpt2", engine="ray"))
    monkeypatch.setattr(prepare_mod, "has_ray", lambda: False)  # as if Ray were not installed
    assert 'pip install -e ".[ray]"' in refusal("--output", out, "--engine", "ray")
    assert not (tmp_path / "out").exists() and not Path("rel").exists()


def test_the_core_commands_never_import_ray(tmp_path):
    script = ("import sys, cli, pipeline.prepare, pipeline.ray_engine, gptkit.data_commands\n"
              "assert 'ray' not in sys.modules, 'ray was imported'\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
