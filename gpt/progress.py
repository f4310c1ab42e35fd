"""The time a training run has left, estimated from its progress events (train-gpt's and train-char's).

    left = TimeLeft()
    for event in events:                        # "start", "step", "eval" ... as the run reports them
        seconds = left.update(event, time.perf_counter())   # None until an estimate means something

    progress = RunProgress(total_steps)         # the text a progress bar shows: lines to say, figures
    shown = progress.update(event, time.perf_counter())

    bar = StepBar(total_steps)                  # that text on a tqdm bar on stderr: train(cfg, bar)

A run's first steps are slow (memory is allocated, caches fill, the first evaluation runs),
and every evaluation holds the steps up for a while: a pace taken from the first steps, or
from stretches that hold evaluations, is off by whole factors (a five-minute run can look like
an hour). So:

- the pace is measured between step events only from the first event after the run's first
  step on (everything before it is warm-up), as a running rate over the last `span` seconds
  of stretches that held no evaluation: it follows a machine that gets busier or freer for
  good, and a minute smooths out the bursts of other work (a 2-core machine running other
  tests swung between 0.3 and 1.6 s a step every half-minute);
- an evaluation's cost is what a stretch holding one took beyond its steps at that pace
  (which counts the checkpoint written with it); until one is measured, the first evaluation
  before any step (train-gpt's step 0) stands in for it, warm-up and all: an upper bound;
- what is left is the steps left at the pace, plus the evaluations left at their cost: those at
  the multiples of eval_interval still ahead, and the final one;
- there is no estimate (None) before `min_stretches` stretches and `min_seconds` of steps are
  measured. Where every stretch holds an evaluation (evaluations more often than step
  events), the pace of those stretches, evaluations included, is the pace.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm


class TimeLeft:
    """The seconds a run has left, from its events and the times they arrived (see the module doc)."""

    def __init__(self, span: float = 60.0, min_stretches: int = 2, min_seconds: float = 1.0) -> None:
        self.span, self.min_stretches, self.min_seconds = span, min_stretches, min_seconds
        self._reset({"step": 0, "max_iters": 0})

    def _reset(self, start: dict) -> None:
        self.first_step, self.total = start["step"], start["max_iters"]
        self.eval_interval: int | None = start.get("eval_interval")
        self.started: float | None = None
        self.mark: tuple[float, int] | None = None  # (time, step) of the last event that moved the step
        self.evaluated = False  # an evaluation ran since the mark
        self.clean: deque[tuple[int, float]] = deque()  # recent (steps, seconds) that held no evaluation
        self.mixed: deque[tuple[int, float]] = deque()  # recent stretches that held one
        self.eval_seconds = 0.0  # what one evaluation costs

    def update(self, event: dict, now: float) -> float | None:
        """Take one event that arrived at `now` (seconds, any clock); the seconds left, or None while unknown."""
        kind = event.get("event")
        if kind == "start":
            self._reset(event)
            self.started = now
            return None
        if kind not in ("step", "eval"):
            return self.left()
        step = event["step"]
        if kind == "eval":
            if self.mark is None and self.started is not None and step == self.first_step:
                self.eval_seconds = now - self.started  # before any step: warm-up included
            self.evaluated = True
        if step > self.first_step and (self.mark is None or step > self.mark[1]):
            if self.mark is not None:
                self._measure(step - self.mark[1], now - self.mark[0])
            self.mark, self.evaluated = (now, step), False
        return self.left(step)

    def _measure(self, steps: int, seconds: float) -> None:
        if not self.evaluated:
            self._keep_recent(self.clean, (steps, seconds))
        else:
            if self.clean:
                self.eval_seconds = max(seconds - steps * _pace(self.clean), 0.0)
            self._keep_recent(self.mixed, (steps, seconds))

    def _keep_recent(self, stretches: deque[tuple[int, float]], stretch: tuple[int, float]) -> None:
        """Add a stretch; drop the oldest while the others are enough and still cover `span` seconds."""
        stretches.append(stretch)
        while len(stretches) > self.min_stretches and sum(s for _, s in stretches) - stretches[0][1] >= self.span:
            stretches.popleft()

    def left(self, step: int | None = None) -> float | None:
        """The seconds left after `step` (the last step seen), or None while there is no estimate worth giving."""
        if step is None:
            step = self.mark[1] if self.mark is not None else self.first_step
        steps_left = max(self.total - step, 0)
        if _measured(self.clean, self.min_stretches, self.min_seconds):
            evals_left = 0
            if self.eval_interval and steps_left:
                evals_left = (self.total - 1) // self.eval_interval - step // self.eval_interval + 1
            return steps_left * _pace(self.clean) + evals_left * self.eval_seconds
        if not self.clean and _measured(self.mixed, self.min_stretches, self.min_seconds):
            return steps_left * _pace(self.mixed)  # each stretch holds an evaluation: its pace counts them
        return None


def _pace(stretches: deque[tuple[int, float]]) -> float:
    return sum(seconds for _, seconds in stretches) / sum(steps for steps, _ in stretches)


def _measured(stretches: deque[tuple[int, float]], count: int, seconds: float) -> bool:
    return len(stretches) >= count and sum(s for _, s in stretches) >= seconds


def duration(seconds: float) -> str:
    """A duration in words: seconds below two minutes, minutes below two hours, then hours."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"


def gpt_shape(config: Mapping[str, Any]) -> str:
    """A GPT's shape in words, from a mapping with its n_layer, n_embd and block_size (a start event, a model
    config): "4 layers x 128 wide, context 64"."""
    return f"{config.get('n_layer')} layers x {config.get('n_embd')} wide, context {config.get('block_size')}"


def start_line(event: dict) -> str:
    """What a run trains, where, and for how long, from its "start" event (train-gpt's or train-char's)."""
    params = event["params"]
    size = f"{params / 1e6:,.2f}M" if params >= 100_000 else f"{params:,}"
    if "n_layer" in event:
        shape = gpt_shape(event)
    else:  # train-char's smaller models: the parts they have
        shape = ", ".join(f"{label} {event[key]}" for key, label in (("block_size", "context"),
                          ("n_embd", "embedding"), ("n_hidden", "hidden")) if key in event)
    per_step = (f"{event['tokens_per_step']:,} tokens" if "tokens_per_step" in event
                else f"{event['rows_per_step']:,} {event['rows']}")
    model = f"{event['model']} " if "model" in event else ""
    return (f"training {model}on {event['device']} in {event['dtype']}: {size} parameters"
            f"{f' ({shape})' if shape else ''}, {per_step} per step, steps {event['step']:,} to "
            f"{event['max_iters']:,}")


@dataclass
class BarUpdate:
    """What a progress bar shows for one event: lines to say before it moves, the figures beside it (label: text),
    and lines to say after it has moved to the event's step (None: a message, which does not move it)."""

    before: list[str]
    postfix: dict[str, str]
    after: list[str]
    step: int | None


class RunProgress:
    """The text of a training run's progress bar, from its events (train-gpt's and train-char's): the start line,
    the latest step's figures and the time left (TimeLeft) beside the bar, the first estimate said once on a
    line of its own, each evaluation's line, and messages."""

    POSTFIX = (("train_loss", "loss", "{:.4f}"), ("lr", "lr", "{:g}"), ("tokens_per_s", "tok_s", "{:,.0f}"),
               ("mfu", "mfu", "{:.1%}"))

    def __init__(self, total: int) -> None:
        self.total = total
        self.time_left = TimeLeft()
        self.told = False  # the first estimate has been said on a line of its own

    def update(self, event: dict, now: float) -> BarUpdate:
        """Take one event that arrived at `now` (seconds, any clock)."""
        if event["event"] == "message":
            return BarUpdate([event["text"]], {}, [], None)
        left = self.time_left.update(event, now)
        before, after = [], []
        if event["event"] == "start":  # say what runs where before the first step, so nothing stalls unexplained
            before.append(start_line(event))
        elif left is not None and not self.told and event["event"] != "eval":  # an eval's line says it anyway
            before.append(f"about {duration(left)} to go")
            self.told = True
        shown = {label: form.format(event[key]) for key, label, form in self.POSTFIX if event.get(key) is not None}
        if left is not None:
            shown["left"] = duration(left)
        if event["event"] == "eval":
            bpb = f", {event['val_bpb']:.4f} bits/byte" if "val_bpb" in event else ""
            then = ""
            if left is not None and event["step"] < self.total:
                then, self.told = f"; about {duration(left)} to go", True
            # train-gpt scores the first --eval-iters batches of val, `gptkit eval` the whole split: say which
            scored = f" (first {event['val_tokens']:,} val tokens)" if "val_tokens" in event else ""
            after.append(f"step {event['step']}: val loss {event['val_loss']:.4f}{scored}{bpb}{then}")
        return BarUpdate(before, shown, after, event["step"])


class StepBar:
    """One tqdm bar on stderr for a training run (train-gpt's and train-char's events), its text from RunProgress:
    steps move it, figures and the time left sit beside it, evaluations and messages print above it. Opened at
    the first event, once the data has loaded; a run's progress callback."""

    # tqdm's own remaining time and rate are left out: they count the warm-up and the evaluations as steps
    FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"

    def __init__(self, total: int, disable: bool = False) -> None:
        self.total, self.disable, self.bar = total, disable, None
        self.progress = RunProgress(total)

    def __call__(self, event: dict) -> None:
        if self.disable:  # a DDP rank other than 0: rank 0 speaks for the run
            return
        if self.bar is None:
            self.bar = tqdm(total=self.total, unit="step", dynamic_ncols=True, bar_format=self.FORMAT)
        shown = self.progress.update(event, time.perf_counter())
        for line in shown.before:  # above the bar, which is on stderr too; stdout is for results
            self.bar.write(line, file=sys.stderr)
        if shown.step is not None:
            self.bar.update(shown.step - self.bar.n)
        if shown.postfix:
            self.bar.set_postfix(shown.postfix)
        for line in shown.after:
            self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
