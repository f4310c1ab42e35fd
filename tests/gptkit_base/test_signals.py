"""Worker processes end on the SIGTERM that stops them, whatever handler their parent has (minbpe.workers).

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
