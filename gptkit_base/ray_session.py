"""Ray, the engine beyond one machine, as both of its users meet it: prepare's units and the tokenizer's counting.

    with ray_session(address) as ray:          # connected to a cluster, or Ray started on this machine's CPUs
        result = get_task(ray, ref, [path], SourceError, rerun)   # its failure: one line naming its file

Ray is an extra (`.[ray]`): it is imported here only inside these functions, so nothing that does not run an
engine of Ray's ever imports it, and `NEEDS_RAY` is the one line that says how to get it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from typing import Any

from .errors import GptkitError

NEEDS_RAY = '--engine ray needs Ray, an extra: pip install -e ".[ray]" (or pip install ray)'


class EngineError(GptkitError, RuntimeError):
    """Ray could not finish a task for a reason that is not its input's (a lost node, an output directory the
    nodes do not share); the work done is kept where it can be, and the message says what to do."""


def has_ray() -> bool:
    """Whether Ray is installed (without importing it: that takes a second)."""
    return find_spec("ray") is not None


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """The `ray` module, initialized: the Ray this process already uses; else connected to `address`; else started
    on this machine's CPUs (so a laptop runs the code path a cluster runs). Ray is shut down at the end only if it
    was started here."""
    import ray

    started = not ray.is_initialized()
    if started:
        sigterm = signal.getsignal(signal.SIGTERM)
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
        if threading.current_thread() is threading.main_thread():
            # ray.init sets its own handler (exit at once); the caller's stops a run as Ctrl-C does
            # (gptkit_base.signals): the work done is kept, the tasks are cancelled, and Ray is shut down below
            signal.signal(signal.SIGTERM, sigterm)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def get_task(ray: Any, ref: Any, paths: Sequence[str], input_error: type[GptkitError], rerun: str) -> Any:
    """A task's result. A task that failed on its input (a GptkitError or an OSError: what the local engine
    raises for the same file) raises that error, on one line naming its file (the task's inputs are `paths`;
    the error becomes an `input_error` that names them if its message names none); a task Ray lost (a node
    died, retries ran out) raises EngineError, ending with `rerun` (what running the command again does)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = e.cause
        if isinstance(cause, (GptkitError, OSError)):
            if any(path in str(cause) for path in paths):
                raise cause from None
            raise input_error(f"{', '.join(paths)}: {cause}") from None
        raise  # a bug: keep Ray's traceback
    except ray.exceptions.RayError as e:
        raise EngineError(f"{', '.join(paths)}: Ray lost its task ({type(e).__name__}); {rerun}") from None
