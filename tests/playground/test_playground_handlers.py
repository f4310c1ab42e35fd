"""The playground's handlers called alone: each gets a PlaygroundState and a starlette Request built here, with no
app, routing, guard or server around it, and its answer (or its RequestError) is checked against what the library
and the request's own values say it must be."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response

from minbpe.pretrained import bundled_encoding
from playground.app import (
    Limits,
    PlaygroundConfig,
    PlaygroundState,
    RequestError,
    curves,
    encode,
    generate,
    status,
    stop,
)


def request_for(state: PlaygroundState, method: str = "GET", body: object = None, query: str = "",
                path_params: dict | None = None) -> Request:
    """A request as Starlette hands it to a handler, from an app whose only content is `state`."""
    data = b"" if body is None else json.dumps(body).encode()
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": data, "more_body": False}

    app_state = State()
    app_state.playground = state
    scope = {"type": "http", "method": method, "path": "/", "headers": [(b"content-type", b"application/json")],
             "query_string": query.encode(), "path_params": path_params or {}, "app": _App(app_state)}
    return Request(scope, receive)


class _App:
    """What a handler sees of its app: its state."""

    def __init__(self, state: State) -> None:
        self.state = state


def answer(response: Response) -> dict:
    return json.loads(response.body)


def test_encode_answers_tiktokens_ids():
    state = PlaygroundState(PlaygroundConfig(None))
    text = "Hello world! naïve 🎉"
    got = answer(asyncio.run(encode(request_for(state, "POST", {"tokenizer": "gpt2", "text": text}))))
    expected = bundled_encoding("gpt2").encode(text)
    assert got["tokenizer"] == "gpt2" and got["ids"] == expected
    assert "".join(got["spans"]) == text and got["count"] == len(expected) and got["bytes"] == len(text.encode())


def test_encode_refusals_carry_their_status():
    """Each refusal is a RequestError with the status the app's error handler sends: an unknown tokenizer 404, a text
    over the bound 413, a long text while the heavy slots are taken 429 (a short one is still answered)."""
    state = PlaygroundState(PlaygroundConfig(None, limits=Limits(text_chars=50, heavy_text_chars=10,
                                                                 heavy_requests=1)))

    def refusal(body: dict) -> RequestError:
        with pytest.raises(RequestError) as refused:
            asyncio.run(encode(request_for(state, "POST", body)))
        return refused.value

    unknown = refusal({"tokenizer": "nope", "text": "x"})
    assert unknown.status == 404 and str(unknown) == "no tokenizer 'nope'; there are: gpt2, gpt4"
    too_long = refusal({"tokenizer": "gpt2", "text": "x" * 51})
    assert too_long.status == 413 and "the most is 50" in str(too_long)
    state.heavy.running = 1  # another heavy request is being answered
    assert refusal({"tokenizer": "gpt2", "text": "x" * 11}).status == 429
    short = answer(asyncio.run(encode(request_for(state, "POST", {"tokenizer": "gpt2", "text": "x" * 10}))))
    assert short["ids"] == bundled_encoding("gpt2").encode("x" * 10)


def test_curves_send_a_diverged_loss_as_null(tmp_path: Path):
    run = tmp_path / "runs" / "mine"
    run.mkdir(parents=True)
    (run / "latest.pt").write_bytes(b"")  # what marks a run folder; curves read only its log
    rows = [{"event": "step", "step": 1, "train_loss": 2.5}, {"event": "step", "step": 2, "train_loss": float("nan")},
            {"event": "eval", "step": 2, "val_loss": 2.75}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    state = PlaygroundState(PlaygroundConfig(tmp_path / "runs"))
    got = answer(asyncio.run(curves(request_for(state, query="run=mine"))))
    assert got["run"] == "mine" and got["train"] == [[1, 2.5], [2, None]] and got["val"] == [[2, 2.75]]
    with pytest.raises(RequestError) as refused:
        asyncio.run(curves(request_for(state, query="run=../runs/mine")))
    assert refused.value.status == 404


def test_status_and_stop_read_the_generations():
    state = PlaygroundState(PlaygroundConfig(None, limits=Limits(generations=3)))
    assert answer(asyncio.run(status(request_for(state)))) == {"generations": 0, "limit": 3}
    nobody = request_for(state, "POST", {}, path_params={"generation": "some-id"})
    assert answer(asyncio.run(stop(nobody))) == {"stopped": False}


def test_generate_streams_one_sample_and_frees_its_slot(playground_runs):
    """The char run's sample: start with the run's name, one piece (a name), end done; then no generation runs."""
    state = PlaygroundState(PlaygroundConfig(playground_runs.root, device="cpu"))

    async def stream() -> list[tuple[str, dict]]:
        response = await generate(request_for(state, "POST", {"run": "names", "prompt": "em", "seed": 3}))
        events = []
        async for frame in response.body_iterator:
            name, data = frame.strip().split("\n")
            events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
        return events

    events = asyncio.run(stream())
    assert [name for name, _ in events] == ["start", "piece", "end"]
    assert events[0][1]["run"] == "names" and events[1][1]["text"].isalpha()
    assert events[2][1]["reason"] == "done" and events[2][1]["pieces"] == 1
    deadline = time.monotonic() + 10  # the worker gives its slot back just after sending the end
    while state.generations.running:
        assert time.monotonic() < deadline, "the finished generation kept its slot"
        time.sleep(0.02)
