"""gptkit_base.signals: SIGTERM stops a command as Ctrl-C does, a training step holds both to its end, and
worker processes end on the SIGTERM that stops them, whatever handler their parent has.

Every parallel path forks its workers: tokenizer training's chunk counting, batch encoding and
prepare's encoding. Under the CLI's SIGTERM handler (it raises in the parent), a worker that
inherited it once lost the pool's SIGTERM and prepare waited for it for ever, about once in 20 runs.
Each path's workers must take SIGTERM with the default action, unblocked, and leave Ctrl-C to the parent.
"""

import signal
from collections import Counter

import pytest

from minbpe import RegexTokenizer
from minbpe import base as base_mod
from minbpe import trainer as trainer_mod
from pipeline import encode as encode_mod

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signals only")


def how_signals_are_taken() -> tuple:
    """In a worker: its SIGTERM handler, whether SIGTERM is blocked, its SIGINT handler."""
    blocked = signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, ())
    return signal.getsignal(signal.SIGTERM), blocked, signal.getsignal(signal.SIGINT)


def count_how_signals_are_taken(pattern, special, tasks, results) -> None:  # in place of trainer._count_worker
    while tasks.get() is not None:
        pass
    results.put(Counter([how_signals_are_taken()]))


def report_how_signals_are_taken(*args) -> tuple:  # in place of an encoder: what the worker computes
    return how_signals_are_taken()


def in_each_parallel_path(monkeypatch) -> set:
    monkeypatch.setattr(trainer_mod, "_count_worker", count_how_signals_are_taken)
    monkeypatch.setattr(trainer_mod, "BATCH_CHARS", 1)  # a batch per block: the workers take them
    monkeypatch.setattr(base_mod, "_worker_encode", report_how_signals_are_taken)
    seen = set(trainer_mod.count_chunks(["a b"] * 8, r"\w+", workers=2))
    seen |= set(RegexTokenizer().encode_batch(["a", "b", "c"], workers=2, backend="python"))
    seen |= set(encode_mod.encode_pieces([("x", True)] * 8, report_how_signals_are_taken, workers=2))
    return seen


def test_workers_end_on_sigterm_whatever_this_process_handles(monkeypatch):
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)  # as the CLI's handler does, in spirit
    try:
        seen = in_each_parallel_path(monkeypatch)
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # this process keeps its handler ...
        assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, ())  # ... and takes SIGTERM again
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == {(signal.SIG_DFL, False, signal.SIG_IGN)}



class NotStopped(Exception):
    """Raised by the handler a test installs first: a signal that reaches it was neither taken over nor held (and
    a broken test fails instead of stopping the test run itself)."""


def not_stopped(signum: int, frame) -> None:
    raise NotStopped(signum)


def test_sigterm_stops_as_ctrl_c_does_until_the_old_handler_is_back():
    from gptkit_base.signals import Terminated, stop_on_sigterm

    before = signal.signal(signal.SIGTERM, not_stopped)
    try:
        restore = stop_on_sigterm()
        try:
            with pytest.raises(KeyboardInterrupt) as stopped:  # what a command's Ctrl-C handling already catches
                signal.raise_signal(signal.SIGTERM)
            assert type(stopped.value) is Terminated
        finally:
            restore()
        assert signal.getsignal(signal.SIGTERM) is not_stopped
    finally:
        signal.signal(signal.SIGTERM, before)


def test_held_signals_wait_for_the_step_boundary():
    """A Ctrl-C inside the block is only noted; deliver() gives it to the handler it had, at the boundary."""
    from gptkit_base.signals import HeldSignals

    before = signal.signal(signal.SIGINT, not_stopped)
    try:
        with HeldSignals() as held:
            signal.raise_signal(signal.SIGINT)  # mid-step: nothing is raised
            assert held.pending == signal.SIGINT
            with pytest.raises(NotStopped):
                held.deliver()
        assert signal.getsignal(signal.SIGINT) is not_stopped
    finally:
        signal.signal(signal.SIGINT, before)
