import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# last: benchmarks/playground.py must not shadow the playground package
sys.path.append(str(ROOT / "benchmarks"))
# One torch thread here and in every process a test starts: the models the tests train are tiny, where a second
# thread only waits (and spins against other work on a busy machine: a 20-step train-gpt took 37 s with two
# threads and 3 s with one), and the machine's second core is the background's (Background).
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def taylorswift() -> str:
    return (ROOT / "data" / "taylorswift.txt").read_text(encoding="utf-8")


TINYSHAKESPEARE = ROOT / "data" / "tinyshakespeare.txt"


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray of 2 CPUs for a test module (starting Ray takes seconds), which the engines use as they find it;
    its address, for a second driver."""
    import logging

    ray = pytest.importorskip("ray", reason="the Ray engines' tests need Ray (pip install -e '.[ray]')")
    sigterm = signal.getsignal(signal.SIGTERM)
    context = ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                       logging_level=logging.WARNING)
    signal.signal(signal.SIGTERM, sigterm)  # ray.init's would outlive the module (as pytest's own, the default)
    yield context.address_info["address"]
    ray.shutdown()


def shakespeare_data(root: Path, n_chars: int) -> Path:
    """The GPT tests' data: Tiny Shakespeare's first n_chars in root/shakespeare.txt, prepared character-level
    into root/char with the last 10% for validation."""
    from pipeline.prepare import PrepareConfig, prepare

    text = root / "shakespeare.txt"
    text.write_text(TINYSHAKESPEARE.read_text(encoding="utf-8")[:n_chars], encoding="utf-8")
    prepare(PrepareConfig([str(text)], str(root / "char"), "char", val_fraction=0.1, delimiter=None))
    return root / "char"


def randomized(model: torch.nn.Module) -> torch.nn.Module:
    """Every weight random, in eval mode: zero-initialised projections and unit norm gains would hide a weight
    that is misplaced, so each one is made to matter (the vectors stay near 1)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2 + (1.0 if p.dim() == 1 else 0.0))
    return model.eval()


def free_port() -> int:
    """A TCP port nothing listens on now, for a torchrun rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_file(name: str) -> Path:
    """The bundled tiktoken rank file (r50k_base / cl100k_base); test_tiktoken checks its sha256 is tiktoken's."""
    return ROOT / "minbpe" / "data" / f"{name}.tiktoken"


def pytest_collection_modifyitems(config, items):
    """Tests marked cuda skip, with the reason, where there is no CUDA GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (where there is one: pytest -m cuda, or benchmarks/gpu_check.py)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def playground_runs(tmp_path_factory):
    """The runs the playground's tests serve (tests/playground/playground_runs.py), made once per session."""
    from playground_runs import make_runs  # tests/playground is on sys.path once a test there is collected

    return make_runs(tmp_path_factory.mktemp("playground"))


class Stopped(Exception):
    """The session ended before this background work did (a test failed under -x, or Ctrl-C)."""


class Background:
    """Work a test only waits on, done by processes of its own: started with the session, in order, one job at a
    time on the core the tests leave free (they run with one torch thread), and one more while a test waits.

    A module that has such work defines start_in_background(background, items, tmp_path_factory), which submits
    it for its selected items; its tests then take the result(key). stop() at the session's end kills what still
    runs and drops the rest, so a session never waits on work it will not check.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._width, self._running, self._stopped = 1, 0, False
        self._processes: set[subprocess.Popen] = set()
        self._pool = ThreadPoolExecutor(2)
        self._jobs: dict[object, Future] = {}

    def submit(self, key: object, work: Callable[..., Any], *args: Any) -> None:
        self._jobs[key] = self._pool.submit(self._in_turn, work, *args)

    def result(self, key: object) -> Any:
        """The job's result (or its exception), once done: meanwhile this process's core is the jobs' too."""
        with self._changed:
            self._width += 1
            self._changed.notify_all()
        try:
            return self._jobs[key].result()
        finally:
            with self._changed:
                self._width -= 1

    def _in_turn(self, work: Callable[..., Any], *args: Any) -> Any:
        with self._changed:
            self._changed.wait_for(lambda: self._stopped or self._running < self._width)
            if self._stopped:
                raise Stopped(work.__name__)
            self._running += 1
        try:
            return work(*args)
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def run(self, argv: list[str], timeout: float, **popen: Any) -> subprocess.CompletedProcess:
        """subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **popen), ended by stop()."""
        with self._changed:
            if self._stopped:
                raise Stopped(argv[0])
            # a session of its own: stop() ends the processes it starts (a shell's commands) with it
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       start_new_session=True, **popen)
            self._processes.add(process)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            process.communicate()
            raise
        finally:
            with self._changed:
                self._processes.discard(process)
        return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
            for process in self._processes:
                _kill(process)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _kill(process: subprocess.Popen) -> None:
    """Kill the process and every process it started (its session's group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # ended and reaped already
        pass


@pytest.fixture(scope="session", autouse=True)
def background(request, tmp_path_factory) -> Iterator[Background]:
    """The session's Background, its work submitted by each selected test module's start_in_background, in the
    order the tests run."""
    runner = Background()
    modules: dict[Any, list[pytest.Item]] = {}
    for item in request.session.items:
        modules.setdefault(getattr(item, "module", None), []).append(item)
    for module, items in modules.items():
        if hasattr(module, "start_in_background"):
            module.start_in_background(runner, items, tmp_path_factory)
    try:
        yield runner
    finally:
        runner.stop()
