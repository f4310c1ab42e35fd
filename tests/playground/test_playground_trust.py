"""What the playground trusts, against a real server: only its own host names and its own page's origin, only JSON
POSTs, ids nobody can guess, a bound on heavy work, and runs whose files carry markup or wrong types answered as
plain, checked values (or their error). The page's side (no HTML from data, the CSP) is in test_playground_browser.py.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playground_runs import PAYLOAD, make_hostile_runs
from starlette.testclient import TestClient

import playground.app
from minbpe import TokenizerError
from minbpe.pretrained import bundled_encoding
from playground import Limits, PlaygroundConfig, PlaygroundServer, create_app
from playground.guard import SECURITY_HEADERS

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def runs(playground_runs):
    return playground_runs


@pytest.fixture(scope="module")
def server(runs):
    server = PlaygroundServer(PlaygroundConfig(runs.root, device="cpu", limits=Limits(generations=2)), "127.0.0.1", 0)
    with server.in_background():
        yield server


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.address.rstrip("/"), timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def hostile_root(runs, tmp_path_factory):
    """The hostile runs (playground_runs.make_hostile_runs)."""
    return make_hostile_runs(runs.root / "gpt", tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def hostile(hostile_root):
    """A client of a server on the hostile runs."""
    server = PlaygroundServer(PlaygroundConfig(hostile_root, device="cpu"), "127.0.0.1", 0)
    with server.in_background(), httpx.Client(base_url=server.address.rstrip("/"), timeout=60) as client:
        yield client


def test_every_answer_carries_the_security_headers(client):
    answers = [client.get("/"), client.get("/static/app.js"), client.get("/api/runs"), client.get("/nowhere"),
               client.post("/api/encode", json={"tokenizer": "nope", "text": "x"}),
               client.get("/", headers={"Host": "evil.example"})]
    assert [a.status_code for a in answers] == [200, 200, 200, 404, 404, 403]
    for answer in answers:
        assert {name: answer.headers.get(name) for name in SECURITY_HEADERS} == {
            "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                       "frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff"}, answer.url


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}",
                                  "localhost.evil.example", "10.0.0.1:{port}", "127.0.0.1@evil.example", ""])
def test_a_foreign_host_name_is_refused(client, server, host):
    """A DNS-rebinding page's requests carry its own name as the Host: none is answered, GET or POST."""
    host = host.format(port=server.port)
    for answer in (client.get("/api/runs", headers={"Host": host}),
                   client.post("/api/encode", json={"tokenizer": "gpt2", "text": "x"}, headers={"Host": host})):
        assert answer.status_code == 403
        assert answer.json()["error"].startswith("this server answers only to 127.0.0.1, ::1, localhost")


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "127.0.0.1", "localhost:{port}", "LOCALHOST", "[::1]:{port}"])
def test_its_own_host_names_are_answered(client, server, host):
    answer = client.get("/api/status", headers={"Host": host.format(port=server.port)})
    assert answer.status_code == 200 and answer.json()["generations"] == 0


@pytest.mark.parametrize(("listens_on", "host", "answered"), [
    ("devbox.lan", "devbox.lan:8000", True),
    ("devbox.lan", "other.lan:8000", False),
    ("0.0.0.0", "192.168.1.5:8000", True),  # every address of the machine: any address, never a name
    ("0.0.0.0", "evil.example:8000", False),
    ("::", "[fe80::1]:8000", True),
    ("192.168.1.5", "192.168.1.6:8000", False),
])
def test_the_host_it_listens_on_is_answered(listens_on, host, answered):
    with TestClient(create_app(PlaygroundConfig(None), listens_on), base_url=f"http://{host}") as client:
        assert client.get("/api/status").status_code == (200 if answered else 403)


@pytest.mark.parametrize(("origin", "status"), [
    (None, 200),  # not from a browser page (curl, a script)
    ("http://127.0.0.1:{port}", 200),
    ("http://localhost:{port}", 200),
    ("http://evil.example", 403),
    ("http://127.0.0.1:{other}", 403),  # another local web app
    ("https://127.0.0.1:{port}", 403),
    ("null", 403),  # a sandboxed frame, a file:// page
])
def test_a_post_from_another_page_is_refused(client, server, origin, status):
    headers = {} if origin is None else {"Origin": origin.format(port=server.port, other=server.port + 1)}
    answer = client.post("/api/encode", json={"tokenizer": "gpt2", "text": "hello"}, headers=headers)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert "are not answered: use this server's page" in answer.json()["error"]
    else:
        assert answer.json()["count"] == 1


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonp"])
def test_a_post_that_is_not_json_is_refused_and_starts_nothing(client, content_type):
    """A page on another site can send text/plain without asking the browser first: such a body is never read."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    answer = client.post("/api/generate", content=b'{"run": "gpt", "max_new_tokens": 2000}', headers=headers)
    assert answer.status_code == 415 and "Content-Type: application/json" in answer.json()["error"]
    assert "event: start" not in answer.text and client.get("/api/status").json()["generations"] == 0
    stop = client.post("/api/generate/1/stop", headers=headers)
    assert stop.status_code == 415


def test_json_with_parameters_is_json(client):
    answer = client.post("/api/encode", content=b'{"tokenizer": "gpt2", "text": "hello"}',
                         headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert answer.status_code == 200 and answer.json()["ids"] == [31373]


def test_generation_ids_cannot_be_guessed(client):
    """Two generations: their ids are long random strings, and stopping by guessed ids stops neither."""
    request = {"run": "gpt", "max_new_tokens": 300}
    with client.stream("POST", "/api/generate", json=request) as first, \
            client.stream("POST", "/api/generate", json=request) as second:
        streams = [first.iter_lines(), second.iter_lines()]
        ids = []
        for lines in streams:
            assert next(lines) == "event: start"
            ids.append(json.loads(next(lines).removeprefix("data: "))["id"])
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{22,}", i) for i in ids) and ids[0] != ids[1], ids
        for guess in ("0", "1", "2", "3"):
            assert client.post(f"/api/generate/{guess}/stop", json={}).json() == {"stopped": False}
        for lines in streams:
            end = json.loads("\n".join(lines).split("event: end\ndata: ")[1].split("\n")[0])
            assert end["reason"] == "done" and end["pieces"] == 300


def test_heavy_requests_are_bounded(monkeypatch):
    """With one heavy request allowed, a tiktoken check held in the server makes a second check, and an encode of a
    long text, a 429; a short encode is answered; once the first ends, checks are answered again."""
    entered, release = threading.Event(), threading.Event()
    real, calls = playground.app.twin_check, []

    def held_first(*args):  # the first check waits in the server until the test lets it go
        calls.append(args)
        if len(calls) == 1:
            entered.set()
            assert release.wait(120)
        return real(*args)

    monkeypatch.setattr(playground.app, "twin_check", held_first)
    server = PlaygroundServer(PlaygroundConfig(None, limits=Limits(heavy_requests=1, heavy_text_chars=100)),
                              "127.0.0.1", 0)
    check, gpt2 = {"tokenizer": "gpt2", "text": "hello world"}, bundled_encoding("gpt2")
    with server.in_background(), httpx.Client(base_url=server.address.rstrip("/"), timeout=120) as client, \
            ThreadPoolExecutor(1) as pool:
        try:
            first = pool.submit(httpx.post, server.address + "api/check", json=check, timeout=120)  # its own client
            assert entered.wait(120)
            busy = client.post("/api/check", json=check)
            assert busy.status_code == 429 and "1 heavy request(s)" in busy.json()["error"]
            long = client.post("/api/encode", json={"tokenizer": "gpt2", "text": "ab " * 34})
            assert long.status_code == 429
            short = client.post("/api/encode", json={"tokenizer": "gpt2", "text": "ab " * 33})
            assert short.status_code == 200 and short.json()["ids"] == gpt2.encode("ab " * 33)
        finally:
            release.set()
        assert first.result().status_code == 200 and first.result().json()["same"] is True
        assert client.post("/api/check", json=check).json()["same"] is True
        assert client.post("/api/encode", json={"tokenizer": "gpt2", "text": "ab " * 34}).json()["ids"] == \
            gpt2.encode("ab " * 34)
    assert len(calls) == 2  # the refused check never ran


def test_runs_with_wrong_fields_are_error_entries(hostile):
    """A checkpoint's fields are checked, not passed on: a step that is markup or negative, a setting that is a record
    or NaN each make that run an error entry; a run whose name and settings are markup is listed as the text."""
    listed = {run["name"]: run for run in hostile.get("/api/runs").json()["runs"]}
    assert sorted(listed) == sorted([PAYLOAD, "step-markup", "step-negative", "setting-nested", "setting-nan",
                                     "loss-markup", "no-step"])
    errors = {name: run.get("error") for name, run in listed.items()}
    assert "step ('<img src=x o...=1;alert(1)\">') is not a whole number >= 0" in errors["step-markup"]
    assert "step (-1) is not a whole number >= 0" in errors["step-negative"]
    assert "setting 'nested' ({'a': 1}) is not a plain value" in errors["setting-nested"]
    assert "setting 'lr' (nan) is not a plain value" in errors["setting-nan"]
    readable = listed[PAYLOAD]
    assert "error" not in readable and readable["step"] == 20 and readable["kind"] == "gpt"
    assert readable["settings"]["data"] == PAYLOAD and readable["settings"][PAYLOAD] == 1
    assert errors["loss-markup"] is None and errors["no-step"] is None  # their checkpoints are fine; their logs are not


@pytest.mark.parametrize(("run", "event"), [("loss-markup", "step"), ("no-step", "eval")])
def test_a_damaged_log_row_is_a_400_naming_its_line(hostile, hostile_root, run, event):
    log = hostile_root / run / "metrics.jsonl"
    answer = hostile.get("/api/curves", params={"run": run})
    assert answer.status_code == 400
    # the bad row is the log's last line (make_hostile_runs appends it)
    assert answer.json()["error"] == (f"{log} line {len(log.read_text().splitlines())}: a {event} row needs a "
                                      "whole-number step and losses that are numbers or null; repair or remove "
                                      "that line")
    assert hostile.get("/api/curves", params={"run": PAYLOAD}).status_code == 200


@pytest.mark.parametrize("raised, status", [
    (TokenizerError("the text holds <|endoftext|>, which the policy does not allow"), 400),  # the library's refusal
    (ValueError("a bug inside the library"), 500),  # not a user's doing: not dressed as a 400
])
def test_only_the_librarys_refusals_are_400s(monkeypatch, raised, status):
    def broken(*args):
        raise raised

    monkeypatch.setattr(playground.app, "encode_spans", broken)
    with TestClient(create_app(PlaygroundConfig(None)), base_url="http://127.0.0.1",
                    raise_server_exceptions=False) as client:
        answer = client.post("/api/encode", json={"tokenizer": "gpt2", "text": "hello"})
    assert answer.status_code == status
    if status == 400:
        assert answer.json() == {"error": str(raised)}
