"""Samples being generated for the page: each in a thread of its own, a bounded number at once, stoppable.

A sample comes token by token from a Python generator (gpt.runs.RunSampler). A worker thread
pulls it and hands each piece of text to the event loop through an asyncio queue, so the server
stays free while the model runs. Stopping sets an Event that the worker checks before every token:
the work ends within one token's time, whether the page pressed stop or went away. A generation
holds its slot until its worker has really finished, so the bound counts work, not connections.
Its id is random, so no other page can stop it by guessing.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


class Busy(RuntimeError):
    """As many generations as allowed are running."""


@dataclass
class Generation:
    id: str
    stop: threading.Event = field(default_factory=threading.Event)
    pieces: int = 0  # text pieces produced so far (a GPT: one per token that completes a character)
    started: float = field(default_factory=time.perf_counter)
    first_piece_s: float | None = None  # seconds from the start to the first piece


class Generations:
    """The generations in flight, at most `limit` at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active: dict[str, Generation] = {}
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._active)

    def start(self, make_pieces: Callable[[], Iterator[str]]) -> tuple[Generation, asyncio.Queue]:
        """Start a worker on the pieces that make_pieces() returns (called in the worker). The queue gets
        ("piece", text) items, then one ("end", reason) or ("error", message)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        with self._lock:
            if len(self._active) >= self.limit:
                raise Busy(f"{self.limit} generation(s) are running, the most this server allows: stop one or wait")
            generation = Generation(secrets.token_urlsafe(16))
            self._active[generation.id] = generation
        worker = threading.Thread(target=self._work, args=(generation, make_pieces, loop, queue), daemon=True,
                                  name=f"generation-{generation.id}")
        worker.start()
        return generation, queue

    def stop(self, generation_id: str) -> bool:
        """Ask a generation to stop; False if no such generation is running."""
        with self._lock:
            generation = self._active.get(generation_id)
        if generation is None:
            return False
        generation.stop.set()
        return True

    def _work(self, generation: Generation, make_pieces: Callable[[], Iterator[str]], loop: asyncio.AbstractEventLoop,
              queue: asyncio.Queue) -> None:
        def send(item: tuple[str, str]) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop has closed (the server is shutting down)
                generation.stop.set()

        try:
            pieces = make_pieces()
            while not generation.stop.is_set():
                piece = next(pieces, None)
                if piece is None:
                    break
                if generation.first_piece_s is None:
                    generation.first_piece_s = time.perf_counter() - generation.started
                generation.pieces += 1
                send(("piece", piece))
            send(("end", "stopped" if generation.stop.is_set() else "done"))
        except Exception as e:  # a model that cannot load or run: the page shows the message
            send(("error", str(e) or type(e).__name__))
        finally:
            with self._lock:
                del self._active[generation.id]
