"""train-char saves as it goes and resumes: stopped at a step (Ctrl-C, SIGTERM) and resumed, a run ends bit for bit
as the run that was not stopped; a resume that would train another run is refused, naming what differs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from cli import main
from conftest import ROOT
from gpt.char.train import char_config, resume_char_config, train_char
from gpt.checkpoint import LATEST, CheckpointError, load_checkpoint, save_checkpoint

NAMES = ROOT / "data" / "names.txt"


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("small") / "names2k.txt"
    path.write_text("\n".join(NAMES.read_text().splitlines()[:2000]) + "\n")
    return str(path)


def stop_at(step: int):
    """A callback that stops the run as Ctrl-C would, at the event of `step` (a step's or an evaluation's)."""
    def callback(event: dict) -> None:
        if event.get("step") == step and event["event"] != "start":
            raise KeyboardInterrupt
    return callback


def same_run(a, b) -> None:
    """Two finished runs are the same, bit for bit: results, weights, training state and history."""
    assert (a.nll, a.samples, a.steps) == (b.nll, b.samples, b.steps)
    sa, sb = load_checkpoint(a.out), load_checkpoint(b.out)
    for key in ("model", "training"):
        weights_a, weights_b = (s[key] if key == "model" else s[key]["model"] for s in (sa, sb))
        assert weights_a.keys() == weights_b.keys()
        assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a), key
    assert torch.equal(sa["training"]["losses"], sb["training"]["losses"])
    history = [json.loads((run / "metrics.json").read_text())["history"] for run in (a.out, b.out)]
    assert history[0] == history[1]


# mlp-bn: buffers (BatchNorm) and the moving average of the weights; gpt: AdamW, packed batches, dropout's RNG;
# gpt-modern: Muon's momentum beside AdamW's state
@pytest.mark.parametrize("model, settings", [
    ("mlp-bn", dict(max_steps=600, n_hidden=64, ema=0.9, eval_interval=250)),
    ("gpt", dict(max_steps=200, n_layer=1, n_embd=32, lr=[3e-3], ema=0.9, eval_interval=150)),
    ("gpt-modern", dict(max_steps=200, n_layer=1, n_embd=32, ema=0.9, eval_interval=150)),
])
def test_a_run_stopped_between_evaluations_resumes_to_the_same_result(small, tmp_path, model, settings):
    common = dict(input=small, num_samples=5, **settings)
    straight = train_char(char_config(model, out=str(tmp_path / "straight"), **common))
    stopped = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        train_char(char_config(model, out=str(stopped), **common), stop_at(100))
    state = load_checkpoint(stopped)
    assert state["step"] == 100  # the step it stopped at, not the last evaluation's (none yet)
    assert [row["step"] for row in state["training"]["eval"]] == []
    assert not (stopped / "metrics.json").exists()  # written at the end, with the NLLs
    resumed = train_char(resume_char_config(stopped))
    same_run(straight, resumed)


def test_a_resumed_run_keeps_what_makes_it_the_same_run(small, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_char(char_config("mlp", input=small, out=str(run), max_steps=400, n_hidden=32, num_samples=1),
                   stop_at(200))
    with pytest.raises(CheckpointError, match=r"cannot change n_hidden 32 -> 48, batch_size 32 -> 64; train a new"):
        resume_char_config(run, batch_size=64, n_hidden=48)
    with pytest.raises(CheckpointError, match="cannot change model 'mlp' -> 'mlp-bn'"):
        train_char(char_config("mlp-bn", input=small, out=str(run), max_steps=400, n_hidden=32, resume=True))
    other = tmp_path / "other.txt"  # the same names, one changed: another sha256
    other.write_text(open(small).read().replace("emma", "emmy", 1))
    with pytest.raises(CheckpointError, match=r"was trained on other data than .*other.txt holds .its sha256 differs"):
        train_char(resume_char_config(run, input=str(other)))
    with pytest.raises(CheckpointError, match="holds step 200: max_steps 100 is fewer; give --max-steps 200 or more"):
        train_char(resume_char_config(run, max_steps=100))
    messages = []
    result = train_char(resume_char_config(run, max_steps=500), lambda e: messages.append(e.get("text")))
    assert "resumed with changed settings: max_steps 400 -> 500" in messages
    assert result.steps == 500 and load_checkpoint(run)["step"] == 500
    state = load_checkpoint(run)
    state["training"]["eval"] = "damaged"
    save_checkpoint(run / LATEST, state)
    damaged = cli("train-char", "--out", run, "--resume", "--max-steps", 600)
    assert damaged.exit_code == 1 and damaged.output.splitlines()[-1] == (
        f"Error: {run / LATEST}: its training state is damaged (TypeError: its history is not a list and a dict)")


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_the_cli_says_what_it_trains_and_resumes_with_the_runs_settings(small, tmp_path):
    run = tmp_path / "run"
    flags = ["--input", small, "--max-steps", 300, "--n-hidden", 32, "--eval-interval", 150, "--num-samples", 0]
    first = cli("train-char", "--model", "mlp-bn", *flags, "--out", run)
    assert first.exit_code == 0, first.output
    assert ("training mlp-bn on cpu in float32: 2,185 parameters (context 3, embedding 10, hidden 32), 32 windows "
            "per step, steps 0 to 300") in first.stderr
    assert "continue it with --resume, start it over with --overwrite" in cli("train-char", "--model", "mlp-bn",
                                                                             *flags, "--out", run).output
    # no --model, --input or --num-samples: the run's own (mlp-bn on the small file, no samples), 100 steps more
    more = cli("train-char", "--out", run, "--resume", "--max-steps", 400)
    assert more.exit_code == 0, more.output
    assert "resumed with changed settings: max_steps 300 -> 400\n" in more.stderr
    assert "training mlp-bn on cpu" in more.stderr and "steps 300 to 400" in more.stderr
    assert "mlp-bn: 2,185 parameters, 400 steps" in more.stdout and "samples" not in more.stdout
    both = cli("train-char", "--out", run, "--resume", "--overwrite")
    assert both.exit_code == 2 and "give --resume or --overwrite, not both" in both.output
    changed = cli("train-char", "--out", run, "--resume", "--seed", 7)
    assert changed.exit_code == 1 and "cannot change seed 42 -> 7" in changed.output
    for model in ("bigram-counts", "ngram"):  # nothing to resume, said in one line, with or without a run there
        counted = cli("train-char", "--model", model, "--out", tmp_path / model, "--resume")
        assert counted.exit_code == 1 and counted.output == (
            f"Error: {model} takes no steps (it is counted in one go): there is nothing to resume; train it again, "
            "with --overwrite\n")
    assert not (tmp_path / "bigram-counts").exists()
    nothing = cli("train-char", "--out", tmp_path / "none", "--resume")
    assert nothing.exit_code == 1 and "no checkpoint here" in nothing.output


def test_ctrl_c_mid_step_waits_for_the_step_to_end(small, tmp_path, monkeypatch):
    """Ctrl-C during the evaluation at step 250 (a part of that step): the run finishes it, saves it, then stops,
    so the resumed run has that evaluation in its history (stopped mid-step, it would have lost it). The signal
    handlers are the run's only while it runs."""
    import gpt.char.train as char_train

    common = dict(input=small, max_steps=600, n_hidden=32, eval_interval=250, num_samples=3)
    straight = train_char(char_config("mlp", out=str(tmp_path / "straight"), **common))
    char_nll, calls = char_train.char_nll, []

    def ctrl_c_during_the_first(*args):
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # its handler runs before this returns: mid-evaluation
        return char_nll(*args)

    monkeypatch.setattr(char_train, "char_nll", ctrl_c_during_the_first)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        train_char(char_config("mlp", out=str(tmp_path / "stopped"), **common))
    assert signal.getsignal(signal.SIGINT) is handler
    state = load_checkpoint(tmp_path / "stopped")
    assert state["step"] == 250 and state["training"]["eval"] == [{"step": 250, "val": pytest.approx(2.5, abs=0.5)}]
    monkeypatch.undo()
    same_run(straight, train_char(resume_char_config(tmp_path / "stopped")))


def test_sigterm_saves_the_last_step_and_the_run_resumes_exactly(small, tmp_path):
    """kill (SIGTERM) mid-run, with no evaluation (and so no save) before it: the step in progress ends, latest.pt
    holds it, the process exits 143 saying so; the resumed run ends as one that was not stopped. (One learning
    rate, and no evaluation but the last: so a run given more steps is the same run, and the straight run can be
    told its length once the stopped one's step is known.)"""
    flags = ["--input", small, "--n-hidden", "32", "--lr", "0.1", "--eval-interval", "100000000", "--num-samples", "3"]
    stopped = tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "cli.py", "train-char", *flags, "--max-steps", "10000000", "--out",
                             str(stopped)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        said = ""
        while not said.startswith("training mlp on cpu"):  # the start line: from here on it saves when stopped
            said = proc.stderr.readline().split("\r")[-1]
            assert said or proc.poll() is None, "the run ended before it could be stopped"
        assert not (stopped / LATEST).exists()
        proc.send_signal(signal.SIGTERM)
        stderr = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    step = load_checkpoint(stopped)["step"]
    assert step >= 1
    assert f"terminated: {stopped / LATEST} holds step {step:,}; continue with: gptkit train-char --out {stopped} " \
        "--resume" in stderr.splitlines()
    resumed = cli("train-char", "--out", stopped, "--resume", "--max-steps", step + 250)
    assert resumed.exit_code == 0, resumed.output
    straight = train_char(char_config("mlp", input=small, out=str(tmp_path / "straight"), n_hidden=32, lr=[0.1],
                                      eval_interval=100000000, num_samples=3, max_steps=step + 250))
    same_run(straight, train_char(resume_char_config(stopped)))  # resumed again at its end: the final part alone
