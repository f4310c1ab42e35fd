"""The playground's web app (Starlette): one page and a small JSON API.

    app = create_app(PlaygroundConfig(runs=Path("out"), tokenizers=[Path("mytok.model")]))

    GET  /                     the page (static/index.html, app.js, style.css: no build step, no CDN)
    GET  /api/tokenizers       the tokenizers offered, the special-token policies, the limits
    POST /api/encode           {"tokenizer", "text", "allowed_special"} -> ids, spans, count, bytes per token
    POST /api/check            the same body -> whether tiktoken gives the exact Python path's ids
    GET  /api/runs             the runs under --runs: kind, step, model, settings (or the error reading it)
    GET  /api/curves?run=NAME  a run's loss (and bits per byte) against step, read afresh each time
    POST /api/generate         {"run", "prompt", "temperature", "top_k", "top_p", "max_new_tokens", "seed"}
                               -> server-sent events: start {id}, piece {text}..., then end {reason} or error
    POST /api/generate/ID/stop stop that generation (closing the stream stops it too)
    GET  /api/status           the generations running

Nothing outside the runs and the tokenizer files is read: a run or tokenizer is looked up by the
name the page was given, never by a path from the request. Every input is bounded (Limits) and a
request past a bound, or malformed, gets a 4xx with {"error": "..."}; a run that cannot be read
shows its error in its own entry while the rest of the page works. Only this server's host names,
its own page's origin and JSON POSTs are answered (guard.py).

Each handler is a module-level function of the request alone: what the app holds (the runs, the
tokenizers, the bounds, the generations in flight) is one PlaygroundState, kept as
`app.state.playground` and found with state_of(request), so a handler can be read, or called in a
test with a state and a request of its own, without the rest of the app. ROUTES maps paths to them.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gpt.checkpoint import LATEST
from gpt.generate import SampleConfig
from gpt.runs import RunSampler, run_curves
from gptkit_base.errors import GptkitError
from minbpe import Tokenizer
from minbpe.core import POLICIES, AllowedSpecial

from .cache import VersionCache
from .generations import Busy, Generation, Generations
from .guard import Guard
from .runs import RunIndex
from .tokens import TokenizerShelf, encode_spans, twin_check

STATIC = Path(__file__).parent / "static"


@dataclass
class Limits:
    """What one request may ask for."""

    text_chars: int = 2_000_000  # characters of text to encode
    check_chars: int = 200_000  # characters the tiktoken check runs the exact Python path on
    max_new_tokens: int = 2_000  # tokens of one sample
    prompt_chars: int = 10_000
    generations: int = 2  # samples being generated at once
    heavy_requests: int = 2  # tiktoken checks and encodes of long texts being answered at once
    heavy_text_chars: int = 100_000  # an encode of a longer text is a heavy request
    body_bytes: int = 8_000_000  # a request body (the text is JSON-escaped, so it may grow)


@dataclass
class PlaygroundConfig:
    runs: Path | None = None  # a directory of train-gpt / train-char runs
    tokenizers: list[Path] = field(default_factory=list)  # .model files
    device: str = "auto"  # where samples are generated
    limits: Limits = field(default_factory=Limits)
    loaded_models: int = 2  # models kept loaded for sampling


class RequestError(Exception):
    """A request the server refuses: an HTTP status and the reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HeavyWork:
    """The expensive requests being answered, at most `limit` at once; past it a 429 rather than a queue, so
    nobody can stack up minutes of work. Taken and given back on the event loop, so no lock is needed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.running >= self.limit:
            raise RequestError(429, f"{self.limit} heavy request(s) (tiktoken checks, long texts) are being answered, "
                                    "the most this server allows: wait and try again")
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1


class Samplers:
    """Models loaded for sampling, the most recently used few; a run whose checkpoint changed is loaded again."""

    def __init__(self, size: int, device: str) -> None:
        self.device = device
        self._loaded: VersionCache[RunSampler] = VersionCache(size)

    def get(self, run_dir: Path) -> RunSampler:
        return self._loaded.get(run_dir, (run_dir / LATEST).stat().st_mtime_ns,
                                lambda: RunSampler(run_dir, self.device))


class PlaygroundState:
    """What the handlers share: the runs, the tokenizers, the bounds and the work in flight. One per app, kept as
    `app.state.playground`; a handler finds it from its request (state_of), so a test can give one a state of its
    own. Building it loads every --tokenizer file: a bad one raises TokenizerError before serving."""

    def __init__(self, config: PlaygroundConfig) -> None:
        self.config = config
        self.limits = config.limits
        self.index = RunIndex(config.runs)
        self.shelf = TokenizerShelf(config.tokenizers, self.index)
        self.shelf.check_files()
        self.generations = Generations(self.limits.generations)
        self.heavy = HeavyWork(self.limits.heavy_requests)
        self.samplers = Samplers(config.loaded_models, config.device)

    def find_run(self, name: Any) -> Path:
        """The run of that name under --runs (a name the index lists, never a path): RequestError 404 otherwise."""
        path = self.index.runs().get(name) if isinstance(name, str) else None
        if path is None:
            raise RequestError(404, f"no run {name!r} under {self.config.runs}" if self.config.runs else
                               "no runs: start the server with --runs DIR")
        return path

    def tokenizer(self, name: Any) -> Tokenizer:
        """The tokenizer the page offers under that name: RequestError 404 for any other."""
        try:
            if not isinstance(name, str):
                raise KeyError(name)
            return self.shelf.get(name)
        except KeyError:
            raise RequestError(404, f"no tokenizer {name!r}; there are: {', '.join(self.shelf.names())}") from None


def state_of(request: Request) -> PlaygroundState:
    """The state of the app that received the request."""
    return request.app.state.playground


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")


async def tokenizers(request: Request) -> Response:
    state = state_of(request)
    names = await run_in_threadpool(state.shelf.names)
    return JSONResponse({"tokenizers": names, "policies": list(POLICIES), "limits": asdict(state.limits)})


async def encode(request: Request) -> Response:
    state = state_of(request)
    name, text, policy = text_request(await read_body(request, state.limits.body_bytes), state.limits.text_chars)
    with state.heavy.slot() if len(text) > state.limits.heavy_text_chars else nullcontext():
        encoded = await run_in_threadpool(lambda: encode_spans(state.tokenizer(name), text, policy))
    return JSONResponse({"tokenizer": name, **encoded.as_json()})


async def check(request: Request) -> Response:
    state = state_of(request)
    name, text, policy = text_request(await read_body(request, state.limits.body_bytes), state.limits.text_chars)
    with state.heavy.slot():
        result = await run_in_threadpool(lambda: twin_check(state.tokenizer(name), text, policy,
                                                            state.limits.check_chars))
    return JSONResponse({"tokenizer": name, **result.as_json()})


async def run_list(request: Request) -> Response:
    state = state_of(request)
    root = state.config.runs
    runs = await run_in_threadpool(lambda: [run_entry(state.index, n, p) for n, p in state.index.runs().items()])
    return JSONResponse({"root": str(root) if root else None, "runs": runs})


async def curves(request: Request) -> Response:
    path = state_of(request).find_run(request.query_params.get("run"))
    read = await run_in_threadpool(run_curves, path)
    # a run that diverged logs nan / inf losses, which JSON cannot carry: they are sent as null (not drawn)
    finite = {name: [(step, value if math.isfinite(value) else None) for step, value in points]
              for name, points in read.items()}
    return JSONResponse({"run": request.query_params["run"], **finite})


async def generate(request: Request) -> Response:
    state = state_of(request)
    body = await read_body(request, state.limits.body_bytes)
    path = state.find_run(body.get("run"))
    prompt, sampling, seed = sample_request(body, state.limits)
    # a checkpoint that cannot load is a 400, before streaming
    sampler = await run_in_threadpool(state.samplers.get, path)
    try:
        generation, queue = state.generations.start(partial(first_sample, sampler, prompt, sampling, seed))
    except Busy as e:
        raise RequestError(429, str(e)) from None
    start = {"id": generation.id, "run": body["run"], "warning": sampler.warning}
    return StreamingResponse(sample_events(generation, queue, start), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def stop(request: Request) -> Response:
    return JSONResponse({"stopped": state_of(request).generations.stop(request.path_params["generation"])})


async def status(request: Request) -> Response:
    state = state_of(request)
    return JSONResponse({"generations": state.generations.running, "limit": state.limits.generations})


async def refused(request: Request, exc: Exception) -> Response:
    """A RequestError: its status, and its reason as {"error": ...}."""
    assert isinstance(exc, RequestError)
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


async def bad_value(request: Request, exc: Exception) -> Response:
    """The library's refusals (a special token the policy does not allow, a damaged metrics log...): a 400. Any
    other exception is a bug: a 500, with its traceback in the server's log."""
    return JSONResponse({"error": str(exc)}, status_code=400)


ROUTES = (
    Route("/", page),
    Route("/api/tokenizers", tokenizers),
    Route("/api/encode", encode, methods=["POST"]),
    Route("/api/check", check, methods=["POST"]),
    Route("/api/runs", run_list),
    Route("/api/curves", curves),
    Route("/api/generate", generate, methods=["POST"]),
    Route("/api/generate/{generation}/stop", stop, methods=["POST"]),
    Route("/api/status", status),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
)


def create_app(config: PlaygroundConfig, host: str = "127.0.0.1") -> Starlette:
    """The web app, answering to the loopback names and `host` (the address it listens on). Loads every
    --tokenizer file first: a bad one raises TokenizerError before serving."""
    state = PlaygroundState(config)
    app = Starlette(routes=ROUTES, exception_handlers={RequestError: refused, GptkitError: bad_value},
                    middleware=[Middleware(Guard, host=host)])
    app.state.playground = state
    return app


async def read_body(request: Request, max_bytes: int) -> dict:
    """The request's JSON object, read up to max_bytes (413 past it); RequestError 400 for anything else."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > max_bytes:
            raise RequestError(413, f"the request is over {max_bytes:,} bytes")
    try:
        body = json.loads(data, parse_float=finite_float, parse_constant=not_a_number)
    except RecursionError:
        raise RequestError(400, "the request body is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RequestError(400, "the request body is not JSON") from None
    except ValueError:  # a whole number of more digits than Python converts (sys.get_int_max_str_digits)
        raise RequestError(400, "the request body has a number too long to read") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return body


def text_request(body: dict, max_chars: int) -> tuple[Any, str, AllowedSpecial]:
    """The tokenizer name (looked up later), text and special-token policy of an encode or check request."""
    name, text = body.get("tokenizer"), body.get("text")
    policy = body.get("allowed_special", "all")
    if not isinstance(text, str):
        raise RequestError(400, "give the text to encode as a string: {\"tokenizer\": ..., \"text\": ...}")
    if len(text) > max_chars:
        raise RequestError(413, f"the text is {len(text):,} characters; the most is {max_chars:,}")
    if policy not in POLICIES:
        raise RequestError(400, f"allowed_special must be one of {', '.join(POLICIES)}")
    return name, text, policy


def sample_request(body: dict, limits: Limits) -> tuple[str, SampleConfig, int]:
    """The prompt, sampling settings and seed of a generate request, each checked (RequestError says which)."""
    prompt = body.get("prompt") or ""
    if not isinstance(prompt, str) or len(prompt) > limits.prompt_chars:
        raise RequestError(400 if not isinstance(prompt, str) else 413,
                           f"the prompt must be a string of at most {limits.prompt_chars:,} characters")
    sampling = sample_config(body, limits.max_new_tokens)
    seed = body.get("seed", 1337)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise RequestError(400, "seed must be a whole number from 0 to 2**63 - 1")
    return prompt, sampling, seed


async def sample_events(generation: Generation, queue: asyncio.Queue, start: dict) -> AsyncIterator[str]:
    """A generation's server-sent events: start, a piece per piece of text, then end (or error) with its counts.
    However the stream ends (done, or the page went away), the work is told to stop."""
    try:
        yield event("start", start)
        while True:
            kind, value = await queue.get()
            if kind == "piece":
                yield event("piece", {"text": value})
                continue
            report = {"reason": value} if kind == "end" else {"error": value}
            yield event(kind, {**report, "pieces": generation.pieces,
                               "first_piece_ms": None if generation.first_piece_s is None
                               else round(generation.first_piece_s * 1000, 1)})
            return
    finally:
        generation.stop.set()


def run_entry(index: RunIndex, name: str, path: Path) -> dict:
    """A run as the page lists it, or the error that reading it gave."""
    try:
        info = index.info(path)
    except (GptkitError, OSError) as e:
        return {"name": name, "error": str(e)}
    return {"name": name, **asdict(info)}


def finite_float(literal: str) -> float:
    """A JSON number of a request (json.loads reads 1e999 as inf, which no setting can take)."""
    value = float(literal)
    if not math.isfinite(value):
        raise RequestError(400, f"the request has the number {literal[:40]}, too large to use: give a finite number")
    return value


def not_a_number(literal: str) -> float:
    """NaN, Infinity and -Infinity, which json.loads reads though JSON has no such values."""
    raise RequestError(400, f"the request has {literal}, which is not a JSON number: give a finite number")


def sample_config(body: dict, max_tokens: int) -> SampleConfig:
    """The sampling settings of a generate request, each checked (RequestError 400 says which is wrong)."""
    def number(key: str, default: float | None, kind: type) -> Any:
        value = body.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise RequestError(400, f"{key} must be a {'whole number' if kind is int else 'number'}")
        try:
            return kind(value)
        except OverflowError:  # float() of a whole number of hundreds of digits
            raise RequestError(400, f"{key} is too large") from None

    tokens = number("max_new_tokens", 200, int)
    if not 1 <= tokens <= max_tokens:
        raise RequestError(413 if tokens > max_tokens else 400, f"max_new_tokens must be from 1 to {max_tokens:,}")
    try:
        return SampleConfig(max_new_tokens=tokens, temperature=number("temperature", 1.0, float),
                            top_k=number("top_k", None, int) or None, top_p=number("top_p", None, float))
    except GptkitError as e:
        raise RequestError(400, str(e)) from None


def first_sample(sampler: RunSampler, prompt: str, sampling: SampleConfig, seed: int) -> Iterator[str]:
    """The pieces of one sample (called in a generation's worker)."""
    return next(sampler.samples(prompt, sampling, 1, seed))


def event(name: str, data: dict) -> str:
    """One server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
