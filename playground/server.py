"""Serving the playground: bind the address first (so a taken port is one clear error), then run uvicorn on it."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from .app import PlaygroundConfig, create_app


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.1, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PlaygroundServer:
    """The app, bound to host:port (port 0: a free port, see .port). OSError if the address cannot be bound."""

    def __init__(self, config: PlaygroundConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.app = create_app(config, host)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self.socket = socket.create_server((host, port), family=family)
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            raise OSError(f"cannot serve on {host}:{port} ({reason}): give another --port or --host") from None
        self.host = host
        self.port = self.socket.getsockname()[1]
        self.uvicorn = uvicorn.Server(uvicorn.Config(self.app, log_level="warning"))

    @property
    def address(self) -> str:
        return f"http://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}/"

    def run(self) -> None:
        """Serve until interrupted (Ctrl-C), or until stop() from another thread."""
        self.uvicorn.run(sockets=[self.socket])

    def stop(self) -> None:
        self.uvicorn.should_exit = True

    @contextmanager
    def in_background(self, timeout: float = 30) -> Iterator[PlaygroundServer]:
        """Serve from a thread for the with-block (tests, benchmarks), ready once the block starts."""
        thread = threading.Thread(target=self.run, daemon=True, name="playground")
        thread.start()
        deadline = time.monotonic() + timeout
        while not self.uvicorn.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the playground did not start on {self.address}")
            time.sleep(0.02)
        try:
            yield self
        finally:
            self.stop()
            thread.join(10)
