"""gptkit's local web playground (`gptkit serve`): see tokens, compare tokenizers, watch runs, stream samples.

    from playground import PlaygroundConfig, PlaygroundServer
    server = PlaygroundServer(PlaygroundConfig(runs=Path("out")), "127.0.0.1", 8000)
    server.run()

The modules: tokens (the tokenizers offered, token spans, the tiktoken check), runs (the runs and
their settings), cache (values loaded once per file version), generations
(samples generated in worker threads, bounded and stoppable), guard (which hosts, origins and
requests are answered; the headers on every answer), app (the Starlette routes and the page under
static/), server (binding and uvicorn). It is the layer above gpt.char and below the
CLI, and needs the serve extra (starlette, uvicorn).
"""

from __future__ import annotations

from .app import Limits, PlaygroundConfig, create_app
from .server import PlaygroundServer, is_loopback

__all__ = ["Limits", "PlaygroundConfig", "PlaygroundServer", "create_app", "is_loopback"]
