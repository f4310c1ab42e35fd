"""Every character-level baseline with its default recipe, on the same splits, in one table.

The models are independent, so they train side by side in worker processes,
one thread each: these models are so small that a second thread inside one
model mostly waits (measured: 1 thread is faster than 2 for the MLPs), while a
second process doubles the work done. The longest runs start first. Each row's
time is that model's own wall time in its worker; results do not depend on the
number of workers (each run has its own seed and a single thread). Last, the
ensemble row mixes every model's predictions with weights fitted on val.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import torch

from gptkit_base.errors import ConfigError
from gptkit_base.files import atomic_write_text, exclusive_directory

from ..runs import LATEST, RunExists
from .models import REGISTRY
from .train import char_config, train_char

# The published figures each recipe reproduces (names.txt): (split, NLL, source); None where there is none
REFERENCES: dict[str, tuple[str, float | None, str]] = {m: spec.reference for m, spec in REGISTRY.items()}
# the table's rows (every model that trains on its own), then the ensemble of them
TRAINED = tuple(m for m, spec in REGISTRY.items() if spec.training != "mix")
ENSEMBLE = next(m for m, spec in REGISTRY.items() if spec.training == "mix")
# the order that finishes soonest with two workers: the longest runs first
LONGEST_FIRST = tuple(sorted(TRAINED, key=lambda m: -REGISTRY[m].seconds))


@dataclass
class BaselineRow:
    model: str
    params: int
    train: float
    val: float
    test: float
    seconds: float
    samples: list[str]

    def done_line(self) -> str:
        """One line as the model's training ends, while the others may still run."""
        return f"{self.model} done in {self.seconds:.0f} s: val {self.val:.4f}"


def _run_one(model: str, input_path: str, out: str, overwrite: bool, members: tuple[str, ...] = ()) -> BaselineRow:
    torch.set_num_threads(1)
    result = train_char(char_config(model, input=input_path, out=str(Path(out) / model), num_samples=10,
                                    members=[str(Path(out) / m) for m in members] or None, overwrite=overwrite))
    nll = result.nll
    return BaselineRow(model, result.params, nll["train"], nll["val"], nll["test"], result.seconds, result.samples)


def run_baselines(input_path: str, out: str, models: tuple[str, ...] = TRAINED, workers: int = 2,
                  callback: Callable[[BaselineRow], None] | None = None, overwrite: bool = False) -> list[BaselineRow]:
    """Train each model with its recipe, then (with two or more) their ensemble; rows in the order of
    `models`, the ensemble last; baselines.md/.json written to out. Runs already in out are refused
    (RunExists) unless overwrite, before any training."""
    if not models:
        raise ConfigError(f"no model to train; models: {', '.join(TRAINED)}")
    unknown = [m for m in models if m not in TRAINED]
    if unknown:
        raise ConfigError(f"unknown model {unknown[0]!r}; models: {', '.join(TRAINED)}")
    if not os.path.isfile(input_path):
        raise FileNotFoundError(f"{input_path}: no such file; give a text file with one example per line")
    trained = (*models, ENSEMBLE) if len(models) > 1 else models
    runs = [m for m in trained if (Path(out) / m / LATEST).exists()]
    if runs and not overwrite:
        raise RunExists(f"{out} already holds the runs of {', '.join(runs)}; give another --out, or --overwrite "
                        "to replace them")
    with exclusive_directory(out):  # one baselines run per directory
        return _run_all(input_path, out, models, workers, callback, overwrite)


def _run_all(input_path: str, out: str, models: tuple[str, ...], workers: int,
             callback: Callable[[BaselineRow], None] | None, overwrite: bool) -> list[BaselineRow]:
    order = sorted(models, key=lambda m: LONGEST_FIRST.index(m))
    rows: dict[str, BaselineRow] = {}
    start = time.perf_counter()
    # spawn: a fresh interpreter per worker, no fork of a process that may hold torch threads
    with ProcessPoolExecutor(max(workers, 1), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_run_one, m, input_path, out, overwrite) for m in order]
        for future in as_completed(futures):
            row = future.result()
            rows[row.model] = row
            if callback:
                callback(row)
        result = [rows[m] for m in models]
        if len(models) > 1:
            result.append(pool.submit(_run_one, ENSEMBLE, input_path, out, overwrite, models).result())
            if callback:
                callback(result[-1])
    wall = time.perf_counter() - start
    _write(Path(out), input_path, result, wall)
    return result


def markdown_table(rows: list[BaselineRow]) -> str:
    lines = ["| model | params | train | val | test | time s | reference |", "|---|--:|--:|--:|--:|--:|---|"]
    for r in rows:
        split, value, _ = REFERENCES[r.model]
        reference = f"{split} {value}" if value is not None else "-"
        lines.append(f"| {r.model} | {r.params:,} | {r.train:.4f} | {r.val:.4f} | {r.test:.4f} | {r.seconds:.1f} "
                     f"| {reference} |")
    return "\n".join(lines) + "\n"


def _write(out: Path, input_path: str, rows: list[BaselineRow], wall: float) -> None:
    notes = "\n".join(f"- {m}: {REFERENCES[m][2]}" for m in (r.model for r in rows))
    text = (f"# Baselines on {input_path}\n\n{markdown_table(rows)}\nWall time {wall:.0f} s. NLL in nats per "
            f"character on the 80/10/10 split (seed 42); reference: the published figure and the split it is "
            f"on.\n\n{notes}\n")
    record = {"input": input_path, "wall_seconds": wall,
              "rows": [{**r.__dict__, "reference": dict(zip(("split", "nll", "source"), REFERENCES[r.model],
                                                            strict=True))} for r in rows]}
    atomic_write_text(str(out / "baselines.md"), text)
    atomic_write_text(str(out / "baselines.json"), json.dumps(record, indent=1) + "\n")
