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
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
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

from gpt.char.runs import RunSampler, run_curves
from gpt.checkpoint import LATEST
from gpt.generate import SampleConfig
from minbpe import Tokenizer
from minbpe.core import POLICIES, AllowedSpecial

from .cache import VersionCache
from .generations import Busy, Generations
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


def create_app(config: PlaygroundConfig, host: str = "127.0.0.1") -> Starlette:
    """The web app, answering to the loopback names and `host` (the address it listens on). Loads every
    --tokenizer file first: a bad one raises TokenizerError before serving."""
    index = RunIndex(config.runs)
    shelf = TokenizerShelf(config.tokenizers, index)
    shelf.check_files()
    limits = config.limits
    generations = Generations(limits.generations)
    heavy = HeavyWork(limits.heavy_requests)
    samplers = Samplers(config.loaded_models, config.device)

    def find_run(name: Any) -> Path:
        path = index.runs().get(name) if isinstance(name, str) else None
        if path is None:
            raise RequestError(404, f"no run {name!r} under {config.runs}" if config.runs else
                               "no runs: start the server with --runs DIR")
        return path

    async def body_of(request: Request) -> dict:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limits.body_bytes:
                raise RequestError(413, f"the request is over {limits.body_bytes:,} bytes")
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

    def text_request(body: dict) -> tuple[str, str, AllowedSpecial]:
        name, text = body.get("tokenizer"), body.get("text")
        policy = body.get("allowed_special", "all")
        if not isinstance(text, str):
            raise RequestError(400, "give the text to encode as a string: {\"tokenizer\": ..., \"text\": ...}")
        if len(text) > limits.text_chars:
            raise RequestError(413, f"the text is {len(text):,} characters; the most is {limits.text_chars:,}")
        if policy not in POLICIES:
            raise RequestError(400, f"allowed_special must be one of {', '.join(POLICIES)}")
        return name, text, policy

    def tokenizer(name: Any) -> Tokenizer:
        try:
            if not isinstance(name, str):
                raise KeyError(name)
            return shelf.get(name)
        except KeyError:
            raise RequestError(404, f"no tokenizer {name!r}; there are: {', '.join(shelf.names())}") from None

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def tokenizers(request: Request) -> Response:
        names = await run_in_threadpool(shelf.names)
        return JSONResponse({"tokenizers": names, "policies": list(POLICIES), "limits": asdict(limits)})

    async def encode(request: Request) -> Response:
        name, text, policy = text_request(await body_of(request))
        with heavy.slot() if len(text) > limits.heavy_text_chars else nullcontext():
            encoded = await run_in_threadpool(lambda: encode_spans(tokenizer(name), text, policy))
        return JSONResponse({"tokenizer": name, **encoded.as_json()})

    async def check(request: Request) -> Response:
        name, text, policy = text_request(await body_of(request))
        with heavy.slot():
            result = await run_in_threadpool(lambda: twin_check(tokenizer(name), text, policy, limits.check_chars))
        return JSONResponse({"tokenizer": name, **result.as_json()})

    async def run_list(request: Request) -> Response:
        return JSONResponse({"root": str(config.runs) if config.runs else None,
                             "runs": await run_in_threadpool(lambda: [run_entry(index, n, p)
                                                                      for n, p in index.runs().items()])})

    async def curves(request: Request) -> Response:
        path = find_run(request.query_params.get("run"))
        read = await run_in_threadpool(run_curves, path)
        # a run that diverged logs nan / inf losses, which JSON cannot carry: they are sent as null (not drawn)
        finite = {name: [(step, value if math.isfinite(value) else None) for step, value in points]
                  for name, points in read.items()}
        return JSONResponse({"run": request.query_params["run"], **finite})

    async def generate(request: Request) -> Response:
        body = await body_of(request)
        path = find_run(body.get("run"))
        prompt = body.get("prompt") or ""
        if not isinstance(prompt, str) or len(prompt) > limits.prompt_chars:
            raise RequestError(400 if not isinstance(prompt, str) else 413,
                               f"the prompt must be a string of at most {limits.prompt_chars:,} characters")
        sampling = sample_config(body, limits.max_new_tokens)
        seed = body.get("seed", 1337)
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
            raise RequestError(400, "seed must be a whole number from 0 to 2**63 - 1")
        sampler = await run_in_threadpool(samplers.get, path)  # a checkpoint that cannot load: a 400, before streaming
        try:
            generation, queue = generations.start(partial(first_sample, sampler, prompt, sampling, seed))
        except Busy as e:
            raise RequestError(429, str(e)) from None

        async def events() -> Any:
            try:
                yield event("start", {"id": generation.id, "run": body["run"], "warning": sampler.warning})
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
            finally:  # the page went away (or the stream ended): stop the work
                generation.stop.set()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def stop(request: Request) -> Response:
        return JSONResponse({"stopped": generations.stop(request.path_params["generation"])})

    async def status(request: Request) -> Response:
        return JSONResponse({"generations": generations.running, "limit": limits.generations})

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestError)
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    routes = [
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
    ]
    app = Starlette(routes=routes, exception_handlers={RequestError: refused, ValueError: bad_value},
                    middleware=[Middleware(Guard, host=host)])
    app.state.generations = generations
    return app


async def bad_value(request: Request, exc: Exception) -> Response:
    """The library's refusals (a special token the policy does not allow, a damaged metrics log...): a 400."""
    return JSONResponse({"error": str(exc)}, status_code=400)


def run_entry(index: RunIndex, name: str, path: Path) -> dict:
    """A run as the page lists it, or the error that reading it gave."""
    try:
        info = index.info(path)
    except (ValueError, OSError) as e:
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
    except ValueError as e:
        raise RequestError(400, str(e)) from None


def first_sample(sampler: RunSampler, prompt: str, sampling: SampleConfig, seed: int) -> Iterator[str]:
    """The pieces of one sample (called in a generation's worker)."""
    return next(sampler.samples(prompt, sampling, 1, seed))


def event(name: str, data: dict) -> str:
    """One server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
