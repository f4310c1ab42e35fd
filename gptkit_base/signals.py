"""Signals: how a run stops on Ctrl-C or SIGTERM, and worker processes that stop when they are told to.

Stopping. Ctrl-C raises KeyboardInterrupt; `stop_on_sigterm()` makes SIGTERM (kill, a scheduler
stopping the job) raise `Terminated`, a KeyboardInterrupt, so both stop a command the same way: its
with-blocks unwind (a run keeps its last checkpoint, prepare its finished shards, the lock file goes).
A training loop holds both signals during a step (`HeldSignals`) and delivers them at the next step
boundary, so what it saves is a state some step made.

Workers. The parallel paths (tokenizer training's chunk counting, batch encoding, prepare's encoding)
fork worker processes, and stop them with SIGTERM (Pool.terminate, Process.terminate) when the
work ends, fails or is interrupted. A forked worker inherits its parent's Python signal handlers:
the CLI's SIGTERM handler raises an exception, and Ctrl-C reaches every process of the terminal's
group. A SIGTERM that lands in a worker before its interpreter has settled after the fork can be
lost, and the parent then waits for that worker for ever (prepare hung so about once in 20 runs).

So workers are forked with SIGTERM blocked (`forking()`), and each worker first takes the
default actions (`in_worker`): SIGTERM ends it at once, Ctrl-C is ignored (it is the parent's to
handle: the parent stops its workers), and only then is SIGTERM unblocked, so a SIGTERM sent while
it started is delivered then, with the default action. Where there is no pthread_sigmask
(Windows), workers are spawned, start with the default handlers, and nothing is needed.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

CAN_BLOCK = hasattr(signal, "pthread_sigmask")


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, a scheduler stopping the job), raised where the program is: it stops as on Ctrl-C, its
    with-blocks unwinding (a run keeps its last checkpoint, prepare its finished shards, and the lock file goes)."""


def stop_on_sigterm() -> Callable[[], None]:
    """Raise Terminated in this process on SIGTERM (until the returned function puts the old handler back)."""
    pid = os.getpid()

    def terminate(signum: int, frame: Any) -> None:
        if os.getpid() != pid:  # a forked worker (multiprocessing) inherited this: it ends as SIGTERM ends it
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    return lambda: signal.signal(signal.SIGTERM, previous)


class HeldSignals:
    """Ctrl-C (SIGINT) and SIGTERM held, while the block runs, until the loop is at a step boundary.

    A signal that lands mid-step would leave a state no step ever made (weights updated, their moving
    average not yet): so the loop asks `pending` after each step, saves the last completed one, then
    `deliver()`s the signal to the handler it had (Python's KeyboardInterrupt, Terminated, or the
    default end of the process). Only the main thread can take signals, so elsewhere (and for a signal
    that is ignored) nothing is held.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.pending: int | None = None
        self.previous: dict[int, Any] = {}

    def _hold(self, signum: int, frame: Any) -> None:
        self.pending = self.pending or signum

    def __enter__(self) -> HeldSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                if signal.getsignal(signum) not in (signal.SIG_IGN, None):
                    self.previous[signum] = signal.signal(signum, self._hold)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def deliver(self) -> None:
        """Put the handlers back and raise the held signal again, for its own handler."""
        signum, self.pending = self.pending, None
        self.__exit__()
        if signum is not None:
            signal.raise_signal(signum)  # its Python handler runs before this returns


@contextmanager
def forking() -> Iterator[set[signal.Signals] | None]:
    """Fork workers inside this block: SIGTERM is blocked in this thread meanwhile. Yields the signal mask to
    give each worker's in_worker (None where signals cannot be blocked)."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}) if CAN_BLOCK else None
    try:
        yield mask
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def in_worker(mask: set[signal.Signals] | None, function: Callable[..., Any], *args: Any) -> Any:
    """Run function(*args) in a worker forked inside forking(), with the default SIGTERM action and Ctrl-C
    ignored (a Pool's initializer or a Process's target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if mask is not None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return function(*args)
