"""The playground's JSON API against a real server (uvicorn in a thread): ids equal to the library's and tiktoken's,
the tiktoken check, runs and their curves (live), streamed samples equal to the library's, stop, and every bound."""

from __future__ import annotations

import json
import math
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest
import torch
from click.testing import CliRunner

import minbpe
from cli import main
from conftest import ROOT
from gpt.checkpoint import checkpoint_tokenizer, load_checkpoint, load_model
from gpt.generate import SampleConfig, stream_text
from minbpe.base import Tokenizer
from minbpe.core import show_piece
from minbpe.pretrained import bundled_encoding
from playground import Limits, PlaygroundConfig, PlaygroundServer

JSON = {"Content-Type": "application/json"}  # what a body sent as content= needs (json= sets it)
TEXT = "Hello world! naïve café 日本語 🎉\n\n  indented\tcode = 42 <|endoftext|> ROMEO: the end"


@pytest.fixture(scope="module")
def runs(playground_runs):
    return playground_runs


@pytest.fixture(scope="module")
def client(runs):
    server = PlaygroundServer(PlaygroundConfig(runs.root, [runs.tokenizer], device="cpu",
                                               limits=Limits(generations=1)), "127.0.0.1", 0)
    with server.in_background(), httpx.Client(base_url=server.address.rstrip("/"), timeout=60) as client:
        yield client


def events(response: httpx.Response) -> list[tuple[str, dict]]:
    """The server-sent events of a finished stream, as (name, data)."""
    found = []
    for frame in response.text.split("\n\n"):
        if frame.strip():
            name, data = frame.split("\n")
            found.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return found


def test_tokenizers_offered(client):
    names = client.get("/api/tokenizers").json()["tokenizers"]
    # the train-gpt run on the char tokenizer and the one on the trained BPE both have tokenizers of their own
    assert names == ["gpt2", "gpt4", "shakes", "run:gpt", "run:nested/bpe"]


@pytest.mark.parametrize("name", ["gpt2", "gpt4"])
def test_pretrained_ids_are_tiktokens(client, name):
    """gpt2 / gpt4 give tiktoken's own ids (its Encoding over the official rank files), and the spans are the text."""
    got = client.post("/api/encode", json={"tokenizer": name, "text": TEXT}).json()
    expected = bundled_encoding({"gpt2": "gpt2", "gpt4": "cl100k_base"}[name]).encode(TEXT, allowed_special="all")
    assert got["ids"] == expected
    assert "".join(got["spans"]) == TEXT
    assert got["count"] == len(expected) and got["bytes"] == len(TEXT.encode())
    assert math.isclose(got["bytes_per_token"], len(TEXT.encode()) / len(expected))
    # some token of the emoji ends inside the character: its span is empty and the next one holds it
    assert "" in got["spans"]
    plain = "Every token of this text is whole characters."
    spans = client.post("/api/encode", json={"tokenizer": name, "text": plain}).json()["spans"]
    encoding = bundled_encoding({"gpt2": "gpt2", "gpt4": "cl100k_base"}[name])
    assert spans == [encoding.decode([i]) for i in encoding.encode(plain)]


def test_file_and_run_tokenizers_give_the_librarys_ids(client, runs):
    shakes = minbpe.load(runs.tokenizer)
    for name, tokenizer in [("shakes", shakes), ("run:nested/bpe", shakes)]:
        got = client.post("/api/encode", json={"tokenizer": name, "text": TEXT}).json()
        assert got["ids"] == tokenizer.encode(TEXT, "all", backend="python")
        assert got["pieces"] == {str(i): show_piece(tokenizer.vocab[i]) for i in set(got["ids"])}
        assert "".join(got["spans"]) == TEXT
    char = checkpoint_tokenizer(runs.root / "gpt", load_checkpoint(runs.root / "gpt"))
    text = "ROMEO: What, ho!"
    got = client.post("/api/encode", json={"tokenizer": "run:gpt", "text": text}).json()
    assert got["ids"] == char.encode(text) and len(got["ids"]) == len(text) and got["unknown"] == 0


def test_characters_a_char_tokenizer_lacks_are_spans_without_an_id(client, runs):
    """Shakespeare has no é, 日 or 🎉: the char run's panel shows them as characters its model cannot read (id null,
    a span each), the rest as the ids encode gives, not an error."""
    char = checkpoint_tokenizer(runs.root / "gpt", load_checkpoint(runs.root / "gpt"))
    text = "café 日本 🎉!"
    got = client.post("/api/encode", json={"tokenizer": "run:gpt", "text": text}).json()
    unknown = {i for i, c in enumerate(text) if c not in char.chars}
    assert unknown == {3, 5, 6, 8}
    assert got["spans"] == list(text)
    assert got["ids"] == [None if i in unknown else char.encode(c)[0] for i, c in enumerate(text)]
    assert (got["count"], got["unknown"], got["bytes"]) == (6, 4, len(text.encode()))
    assert set(got["pieces"]) == {str(i) for i in got["ids"] if i is not None}


def test_special_token_policy(client):
    text = "a <|endoftext|> b"
    ids = {policy: client.post("/api/encode", json={"tokenizer": "gpt2", "text": text,
                                                           "allowed_special": policy})
           for policy in ("all", "none", "none_raise")}
    assert 50256 in ids["all"].json()["ids"]
    assert ids["none"].json()["ids"] == bundled_encoding("gpt2").encode_ordinary(text)
    assert ids["none_raise"].status_code == 400 and "<|endoftext|>" in ids["none_raise"].json()["error"]


def test_tiktoken_check(client, monkeypatch):
    for name in ("gpt2", "gpt4", "shakes", "run:nested/bpe"):
        check = client.post("/api/check", json={"tokenizer": name, "text": TEXT}).json()
        assert check["checked"] and check["same"] is True, (name, check)
    assert client.post("/api/check", json={"tokenizer": "gpt4", "text": TEXT}).json()["twin"] == "cl100k_base"
    char = client.post("/api/check", json={"tokenizer": "run:gpt", "text": "abc"}).json()
    assert char["twin"] is None and not char["checked"] and "CharTokenizer" in char["why"]
    # the check runs the exact Python path: break it, and the check says so (the fast path alone would not)
    real = Tokenizer._encode_ordinary
    monkeypatch.setattr(Tokenizer, "_encode_ordinary", lambda self, text: real(self, text)[:-1] + [0])
    broken = client.post("/api/check", json={"tokenizer": "shakes", "text": "hello there"}).json()
    assert broken["same"] is False and broken["first_mismatch"] is not None


def test_runs_and_a_damaged_one(client):
    listed = {run["name"]: run for run in client.get("/api/runs").json()["runs"]}
    assert sorted(listed) == ["broken", "gpt", "names", "nested/bpe"]
    assert "not a readable checkpoint" in listed["broken"]["error"]
    assert listed["gpt"]["kind"] == "gpt" and listed["gpt"]["step"] == 20 and listed["gpt"]["tokenizer"] == "char"
    assert listed["gpt"]["settings"]["n_embd"] == 32
    assert listed["names"]["kind"] == "char" and listed["names"]["settings"]["model"] == "bigram-counts"
    assert listed["nested/bpe"]["tokenizer"] == "regex" and listed["nested/bpe"]["settings"]["arch"] == "modern"


def test_curves_follow_the_metrics_log(client, runs):
    log = runs.root / "gpt" / "metrics.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    curves = client.get("/api/curves", params={"run": "gpt"}).json()
    assert curves["train"] == [[r["step"], r["train_loss"]] for r in rows if r["event"] == "step"]
    assert curves["val"] == [[r["step"], r["val_loss"]] for r in rows if r["event"] == "eval"]
    assert curves["val_bpb"] == [[r["step"], r["val_bpb"]] for r in rows if r["event"] == "eval"]
    assert [step for step, _ in curves["val"]] == [0, 10, 20]
    # a run that is training appends rows (the last one may be torn): the next read has them
    before = log.read_text()
    try:
        with open(log, "a") as f:  # the second row: a run that diverged (json writes nan as NaN; the page gets null)
            f.write(json.dumps({"event": "step", "step": 25, "train_loss": 1.25, "lr": 1e-3}) + "\n" +
                    json.dumps({"event": "step", "step": 30, "train_loss": float("nan"), "lr": 1e-3}) +
                    "\n{\"event\": \"st")
        assert client.get("/api/curves", params={"run": "gpt"}).json()["train"][-2:] == [[25, 1.25], [30, None]]
        with open(log, "a") as f:
            f.write("\nnot json\n")
        damaged = client.get("/api/curves", params={"run": "gpt"})
        assert damaged.status_code == 400 and "metrics.jsonl line" in damaged.json()["error"]
    finally:
        log.write_text(before)
    char = client.get("/api/curves", params={"run": "names"}).json()
    assert char["train"] == [] and char["val"] == []  # counts take no steps


def library_sample(run_dir, prompt, cfg, seed) -> str:
    model, state = load_model(run_dir)
    tokenizer = checkpoint_tokenizer(run_dir, state)
    return "".join(stream_text(model, tokenizer, prompt, cfg, torch.Generator().manual_seed(seed)))


@pytest.mark.parametrize("run", ["gpt", "nested/bpe"])  # GPT-2's blocks on characters, the modern ones on BPE
def test_generate_streams_the_librarys_sample(client, runs, run):
    request = {"run": run, "prompt": "ROMEO:", "max_new_tokens": 40, "temperature": 0.9, "top_k": 20, "seed": 7}
    got = events(client.post("/api/generate", json=request))
    assert got[0] == ("start", {"id": got[0][1]["id"], "run": run, "warning": None})
    assert got[-1][0] == "end" and got[-1][1]["reason"] == "done" and got[-1][1]["pieces"] == 40
    text = "".join(data["text"] for name, data in got if name == "piece")
    expected = library_sample(runs.root / run, "ROMEO:", SampleConfig(40, 0.9, 20), 7)
    assert text == expected and len(text) >= 40


def test_generate_from_a_char_run(client):
    got = events(client.post("/api/generate", json={"run": "names", "prompt": "em", "seed": 3}))
    pieces = [data["text"] for name, data in got if name == "piece"]
    assert len(pieces) == 1 and pieces[0].isalpha() and got[-1][1]["reason"] == "done"


def test_stop_ends_the_work_and_one_at_a_time(client):
    """With a limit of one generation, a second is refused while the first runs; stop ends it within a token."""
    request = {"run": "gpt", "max_new_tokens": 2000, "temperature": 1.0}
    with client.stream("POST", "/api/generate", json=request) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "event: start"
        generation = json.loads(next(lines).removeprefix("data: "))["id"]
        assert client.get("/api/status").json()["generations"] == 1
        refused = client.post("/api/generate", json=request)
        assert refused.status_code == 429 and "stop one or wait" in refused.json()["error"]
        assert client.post(f"/api/generate/{generation}/stop", json={}).json() == {"stopped": True}
        rest = "\n".join(lines)
    end = json.loads(rest.split("event: end\ndata: ")[1].split("\n")[0])
    assert end["reason"] == "stopped" and end["pieces"] < 2000
    deadline = time.monotonic() + 5
    while client.get("/api/status").json()["generations"]:
        assert time.monotonic() < deadline, "the stopped generation kept running"
        time.sleep(0.05)
    assert client.post(f"/api/generate/{generation}/stop", json={}).json() == {"stopped": False}


def test_closing_the_stream_stops_the_work(client):
    with client.stream("POST", "/api/generate", json={"run": "gpt", "max_new_tokens": 2000}) as stream:
        assert next(stream.iter_lines()) == "event: start"
    deadline = time.monotonic() + 5
    while client.get("/api/status").json()["generations"]:
        assert time.monotonic() < deadline, "a generation nobody reads kept running"
        time.sleep(0.05)


@pytest.mark.parametrize(("path", "body", "status", "says"), [
    ("/api/encode", {"tokenizer": "nope", "text": "x"}, 404, "no tokenizer 'nope'"),
    ("/api/encode", {"tokenizer": "gpt2"}, 400, "give the text"),
    ("/api/encode", {"tokenizer": "gpt2", "text": "x", "allowed_special": "some"}, 400, "allowed_special"),
    ("/api/encode", {"tokenizer": "gpt2", "text": "x" * 2_000_001}, 413, "the most is 2,000,000"),
    ("/api/encode", ["not", "an", "object"], 400, "JSON object"),
    ("/api/generate", {"run": "../gpt"}, 404, "no run '../gpt'"),
    ("/api/generate", {"run": "broken"}, 400, "not a readable checkpoint"),
    ("/api/generate", {"run": "gpt", "max_new_tokens": 2001}, 413, "from 1 to 2,000"),
    ("/api/generate", {"run": "gpt", "max_new_tokens": 0}, 400, "from 1 to 2,000"),
    ("/api/generate", {"run": "gpt", "temperature": "hot"}, 400, "temperature must be a number"),
    ("/api/generate", {"run": "gpt", "top_p": 1.5}, 400, "top_p must be in (0, 1]"),
    ("/api/generate", {"run": "gpt", "seed": -1}, 400, "seed"),
    ("/api/generate", {"run": "gpt", "prompt": "x" * 10_001}, 413, "prompt"),
])
def test_bad_requests_get_a_clear_4xx(client, path, body, status, says):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]


def test_bodies_and_paths_outside_the_bounds(client, runs):
    assert client.post("/api/encode", content=b"{not json", headers=JSON).status_code == 400
    assert client.post("/api/encode", content=b"x" * 8_000_001, headers=JSON).status_code == 413
    assert client.get("/api/curves", params={"run": "../runs/gpt"}).status_code == 404
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py"):
        assert client.get(path).status_code == 404
    assert client.get("/static/app.js").status_code == 200


@pytest.mark.parametrize(("body", "says"), [
    (b'{"run": "gpt", "max_new_tokens": Infinity}', "Infinity, which is not a JSON number"),
    (b'{"run": "gpt", "max_new_tokens": 1e999}', "1e999, too large to use"),
    (b'{"run": "gpt", "temperature": NaN}', "NaN, which is not a JSON number"),
    (b'{"run": "gpt", "top_p": -Infinity}', "-Infinity, which is not a JSON number"),
    (b'{"run": "gpt", "temperature": 1' + b"0" * 400 + b"}", "temperature is too large"),
    (b'{"run": "gpt", "max_new_tokens": 1' + b"0" * 5000 + b"}", "a number too long to read"),  # Python reads 4,300
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    (b'{"text": ' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
])
def test_bodies_python_reads_but_no_setting_can_take_are_one_line(client, body, says):
    """json.loads reads NaN, Infinity and 1e999 (as inf) and recurses on nesting: each is a 400 that says why, not
    a 500 from OverflowError (int(inf)) or RecursionError."""
    response = client.post("/api/generate", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]


def test_a_bad_tokenizer_file_stops_the_server_before_it_starts(tmp_path):
    bad = tmp_path / "bad.model"
    bad.write_text("not a model\n")
    with pytest.raises(minbpe.TokenizerError, match="bad.model"):
        PlaygroundServer(PlaygroundConfig(None, [bad]), "127.0.0.1", 0)


def test_serve_command_mistakes_are_one_line(tmp_path):
    """A taken port, a bad tokenizer file and a missing web stack each end in one Error: line."""
    def serve(*args: str):
        result = CliRunner().invoke(main, ["serve", *args], catch_exceptions=False)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        return result.stderr.strip().splitlines()[-1]

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert serve("--port", str(port)) == (f"Error: cannot serve on 127.0.0.1:{port} (Address already in use): "
                                              "give another --port or --host")
    bad = tmp_path / "bad.model"
    bad.write_text("nope\n")
    assert "bad.model" in serve("--tokenizer", str(bad), "--port", "0")
    # a fresh process where starlette cannot be imported, as if the serve extra were not installed
    missing = subprocess.run([sys.executable, "-c", "import sys; sys.modules['starlette'] = None; import cli; "
                              "cli.main(['serve', '--port', '0'])"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 1 and missing.stderr.strip().splitlines() == [
        "Error: the playground needs the web stack (starlette is not installed): pip install 'gptkit[serve]'"]


def test_serve_warns_when_others_can_reach_it(monkeypatch):
    monkeypatch.setattr(PlaygroundServer, "run", lambda self: None)
    local = CliRunner().invoke(main, ["serve", "--port", "0"], catch_exceptions=False)
    assert local.exit_code == 0 and "warning" not in local.stderr
    assert re.match(r"gptkit playground at http://127\.0\.0\.1:\d+/ \(Ctrl-C to stop\)", local.stderr)
    wide = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0"], catch_exceptions=False)
    assert wide.exit_code == 0 and "warning: listening on 0.0.0.0: anyone who can reach this machine" in wide.stderr
