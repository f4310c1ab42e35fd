"""Worker processes that stop when they are told to, whatever signal handlers their parent has.

The parallel paths (tokenizer training's chunk counting, batch encoding, prepare's encoding)
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

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

CAN_BLOCK = hasattr(signal, "pthread_sigmask")


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
