"""Training the GPT: a loss that drops, exact resume, DDP, the run directory, the CLI, clear errors."""


import functools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import main
from conftest import ROOT, TINYSHAKESPEARE, free_port, shakespeare_data
from gpt.checkpoint import BEST, LATEST, CheckpointError, load_checkpoint, load_model, save_checkpoint
from gpt.config import TrainConfig, config_from, resume_config
from gpt.device import Launch
from gpt.progress import TimeLeft
from gpt.runs import RunExists
from gpt.train import Trainer, TrainingError, evaluate_checkpoint, learning_rate, train
from gptkit import gpt_commands
from gptkit_base.errors import ConfigError
from gptkit_base.files import LOCK_FILE, DirectoryBusy, exclusive_directory
from pipeline.loader import TokenData
from pipeline.prepare import PrepareConfig, prepare

TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=8, dropout=0.0, eval_iters=4,
            eval_interval=10, log_interval=5, lr=3e-3, min_lr=3e-4, warmup_iters=2, device="cpu")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Tiny Shakespeare's first 60,000 characters, char-tokenized, 10% validation."""
    return shakespeare_data(tmp_path_factory.mktemp("data"), 60_000)


# --- training ----------------------------------------------------------------------------


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_iters=10, max_iters=100, lr_decay_iters=50)
    lrs = [learning_rate(s, cfg) for s in range(120)]
    assert lrs[0] == pytest.approx(1 / 11) and lrs[9] < lrs[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))  # decays, never rises
    assert lrs[50] == lrs[119] == 0.1 and min(lrs) > 0


def context_free_entropy(data_dir) -> float:
    """The entropy of the tokens TINY's evaluation predicts: the first eval_iters x batch_size x block_size tokens
    of val after the first (windows of block_size + 1 at stride block_size). No predictor that ignores the context
    scores below it (Gibbs' inequality), so a model below it learned from the context."""
    val = np.concatenate([np.asarray(s) for s in TokenData(data_dir, "val").shards])
    frequencies = np.bincount(val[1 : 1 + TINY["eval_iters"] * TINY["batch_size"] * TINY["block_size"]])
    frequencies = frequencies[frequencies > 0] / frequencies.sum()
    return float(-(frequencies * np.log(frequencies)).sum())


def test_loss_drops_and_the_run_directory_is_complete(data_dir, tmp_path):
    cfg = config_from(None, data=str(data_dir), out=str(tmp_path / "run"), max_iters=60, **TINY)
    result = train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["event"] == "eval"]
    assert [r["step"] for r in evals] == [0, 10, 20, 30, 40, 50, 60]
    assert evals[0]["val_loss"] > math.log(60) - 0.3  # about uniform at the start
    assert evals[-1]["val_loss"] < context_free_entropy(data_dir)
    assert result.val_loss == evals[-1]["val_loss"]
    # Shakespeare is ASCII: one byte per character token, so bits per byte are nats per token / ln 2
    assert evals[-1]["val_bpb"] == pytest.approx(evals[-1]["val_loss"] / math.log(2), rel=1e-9)
    assert all(r["tokens_per_s"] > 0 for r in rows if r["event"] == "step")
    umask = os.umask(0)
    os.umask(umask)
    for name in (LATEST, BEST, "loss.png", "tokenizer.model", "metrics.jsonl"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o666 & ~umask, name  # as open() makes them
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(
        [LATEST, BEST, "loss.png", "tokenizer.model", "metrics.jsonl"])  # no lock or temporary left behind
    state = load_checkpoint(tmp_path / "run")
    assert state["step"] == 60 and state["best_val_loss"] == min(r["val_loss"] for r in evals)
    assert not any(k.startswith(("_orig_mod", "module")) for k in state["model"])


@pytest.mark.parametrize("arch, optimizer", [("gpt2", "adamw"), ("modern", "adamw"), ("gpt2", "muon"),
                                             ("modern", "muon")])
def test_resume_is_bit_exact(data_dir, tmp_path, arch, optimizer):
    # dropout: the RNG must resume too
    common = dict(TINY, arch=arch, optimizer=optimizer, dropout=0.1, lr_decay_iters=20, data=str(data_dir))
    train(config_from(None, out=str(tmp_path / "straight"), max_iters=20, **common))
    train(config_from(None, out=str(tmp_path / "split"), max_iters=10, **common))
    train(config_from(None, out=str(tmp_path / "split"), max_iters=20, resume=True, **common))
    a, b = (load_checkpoint(tmp_path / run / LATEST) for run in ("straight", "split"))
    assert a["step"] == b["step"] == 20
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["optimizer"]["state"][0]["exp_avg"].equal(b["optimizer"]["state"][0]["exp_avg"])
    if optimizer == "muon":  # Muon's momentum buffers resume too
        assert a["muon"]["state"].keys() == b["muon"]["state"].keys() and a["muon"]["state"]
        assert all(a["muon"]["state"][i]["momentum_buffer"].equal(b["muon"]["state"][i]["momentum_buffer"])
                   for i in a["muon"]["state"])
    else:
        assert a["muon"] is b["muon"] is None


def metric_rows(run_dir) -> list[tuple]:
    """What a metrics log says, without its timings."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["event"], r["step"], r.get("train_loss"), r.get("val_loss")) for r in rows]


def test_resume_after_a_kill_keeps_one_consistent_metrics_log(data_dir, tmp_path):
    """Killed after logging rows past its last checkpoint, mid-way through a row: the resumed log is the
    straight run's log, row for row."""
    common = dict(TINY, lr_decay_iters=20, data=str(data_dir))
    train(config_from(None, out=str(tmp_path / "straight"), max_iters=20, **common))
    split = tmp_path / "split"
    train(config_from(None, out=str(split), max_iters=10, **common))
    rows = [json.loads(line) for line in (split / "metrics.jsonl").read_text().splitlines()]
    kept = [r for r in rows if not (r["event"] == "eval" and r["step"] == 10)]  # killed before its eval's row,
    (split / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))  # after its checkpoint
    with open(split / "metrics.jsonl", "a") as f:  # what a run killed at step 17 had logged after step 10
        f.write(json.dumps({"event": "step", "step": 15, "train_loss": 9.9, "lr": 0.1, "tokens_per_s": 1.0}) + "\n")
        f.write('{"event": "step", "step": 1')
    train(config_from(None, out=str(split), max_iters=20, resume=True, **common))
    assert metric_rows(split) == metric_rows(tmp_path / "straight")
    lines = (split / "metrics.jsonl").read_text().splitlines()
    (split / "metrics.jsonl").write_text("\n".join(lines[:2] + ["{not json"] + lines[2:]) + "\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl line 3: not a metrics row"):
        train(config_from(None, out=str(split), max_iters=30, resume=True, **common))


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_kill_9_then_resume_is_the_run_that_was_not_killed(data_dir, tmp_path, optimizer):
    flags = ["--data", str(data_dir), "--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--block-size", "32",
             "--batch-size", "8", "--dropout", "0.1", "--eval-iters", "2", "--eval-interval", "20", "--lr", "3e-3",
             "--min-lr", "3e-4", "--warmup-iters", "2", "--max-iters", "200", "--device", "cpu", "--samples", "0",
             "--optimizer", optimizer]
    straight = run("train-gpt", *flags, "--out", tmp_path / "straight")
    assert straight.exit_code == 0, straight.output
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "cli.py", "train-gpt", *flags, "--out", str(killed)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None:  # kill -9 once a checkpoint past step 40 is on disk, mid-run
            if (killed / LATEST).exists() and load_checkpoint(killed / LATEST)["step"] >= 40:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert load_checkpoint(killed / LATEST)["step"] < 200
    resumed = run("train-gpt", "--out", killed, "--resume", "--samples", "0")  # its own settings, its own data
    assert resumed.exit_code == 0, resumed.output
    a, b = (load_checkpoint(tmp_path / name / LATEST) for name in ("straight", "killed"))
    assert a["step"] == b["step"] == 200
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert metric_rows(killed) == metric_rows(tmp_path / "straight")


def test_sigterm_stops_a_run_as_ctrl_c_does_and_leaves_no_lock(data_dir, tmp_path):
    """kill (SIGTERM) unwinds the run: it keeps its last checkpoint, says so on a line of its own (not after the
    progress bar), exits 143 (128 + SIGTERM) and removes its lock file."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "cli.py", "train-gpt", "--data", str(data_dir), "--n-layer", "1",
                             "--n-head", "1", "--n-embd", "16", "--block-size", "16", "--max-iters", "100000",
                             "--eval-interval", "5", "--eval-iters", "1", "--device", "cpu", "--samples", "0",
                             "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while not ((out / LATEST).exists() and load_checkpoint(out / LATEST)["step"] > 0):  # a checkpoint to keep
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        stderr = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    assert f"terminated: {out} keeps its last checkpoint; continue with: gptkit train-gpt --out {out} --resume" \
        in stderr.split("\n")
    assert LOCK_FILE not in os.listdir(out) and load_checkpoint(out)["step"] > 0


@pytest.mark.parametrize("recipe", [{}, dict(arch="modern", optimizer="muon")])
def test_eval_scores_a_run_as_its_training_did(data_dir, tmp_path, recipe):
    run_dir = tmp_path / "run"
    train(config_from(None, data=str(data_dir), out=str(run_dir), max_iters=20, **{**TINY, **recipe}))
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][-1]
    result = run("eval", "--checkpoint", run_dir, "--data", data_dir, "--max-batches", TINY["eval_iters"], "--json")
    assert result.exit_code == 0, result.output
    scored = json.loads(result.output)
    # the same windows of the same split with the same weights: the run's own last evaluation
    assert scored["loss"] == pytest.approx(logged["val_loss"], abs=1e-6)
    assert scored["bpb"] == pytest.approx(logged["val_bpb"], abs=1e-6)
    assert scored["tokens"] == TINY["eval_iters"] * TINY["batch_size"] * TINY["block_size"] and scored["step"] == 20
    whole = json.loads(run("eval", "--checkpoint", run_dir, "--data", data_dir, "--json").output)
    assert whole["tokens"] > scored["tokens"]  # the whole split by default
    text = run("eval", "--checkpoint", run_dir, "--data", data_dir, "--max-batches", 1)
    assert text.exit_code == 0 and "nats/token" in text.output and "bits/byte" in text.output
    assert f"over its first 1 batch ({TINY['batch_size'] * TINY['block_size']:,} tokens)" in text.output
    text = run("eval", "--checkpoint", run_dir, "--data", data_dir)
    assert f"loss {whole['loss']:.4f} nats/token" in text.output
    assert f"over the whole split ({whole['tokens']:,} tokens)" in text.output
    other = tmp_path / "t.txt"
    other.write_text("Some words for another tokenizer. " * 50, encoding="utf-8")
    prepare(PrepareConfig([str(other)], str(tmp_path / "gpt2"), "gpt2", val_fraction=0.5))
    line = error_line(run("eval", "--checkpoint", run_dir, "--data", tmp_path / "gpt2"))
    assert "was trained with another tokenizer" in line and "evaluate on data prepared with its own" in line


def test_a_run_says_what_it_runs_and_is_sized_for_the_device(data_dir, tmp_path):
    result = run("train-gpt", "--data", data_dir, "--out", tmp_path / "run", "--max-iters", 12, "--device", "cpu",
                 "--samples", 0)
    assert result.exit_code == 0, result.output
    assert "no --preset or shape flags: the shakespeare-char-cpu recipe, sized for this device" in result.stderr
    assert re.search(r"training on cpu in float32: 0\.\d\dM parameters \(4 layers x 128 wide, context 64\), "
                     r"768 tokens per step, steps 0 to 12", result.stderr)
    # 12 steps are too few to measure a pace past the warm-up: no estimate (issue 23's 2-step run said "about 0 s")
    assert "to go" not in result.stderr and "<" not in result.stderr  # nor tqdm's own, which counts the warm-up
    assert load_checkpoint(tmp_path / "run")["model_config"]["n_embd"] == 128  # not GPT-2-124M's 768


def test_with_no_data_only_the_demo_recipes_train(tmp_path, monkeypatch):
    """train-gpt with no data is the demo: nanoGPT's Shakespeare recipe on the bundled text. A recipe for a large
    corpus there (gpt2-124m: an 85M-parameter GPT on 1 MB of characters, for days on a CPU, issue 23) or GPT-2's
    weights on characters is refused in one line, before anything is written."""
    monkeypatch.chdir(tmp_path)
    trained = []

    def train_nothing(cfg, callback):  # what it would train, without training it
        trained.append(cfg)
        raise KeyboardInterrupt

    monkeypatch.setattr(gpt_commands, "train", train_nothing)
    for flags, words in ((["--preset", "gpt2-124m"], "gpt2-124m is a recipe for a large corpus"),
                         (["--init-from", "gpt2"], "--init-from goes on training GPT-2 on GPT-2's tokens")):
        result = run("train-gpt", *flags)
        errors = [line for line in result.output.splitlines() if line.startswith("Error")]
        assert result.exit_code == 2 and len(errors) == 1 and words in errors[0] and "give --data DIR" in errors[0]
    assert list(tmp_path.iterdir()) == [] and trained == []
    for flags, layers in (([], 4), (["--preset", "shakespeare-char"], 6)):  # the CPU recipe, and the GPU one
        assert run("train-gpt", *flags).exit_code == 130
        assert trained[-1].n_layer == layers and trained[-1].data.endswith("data")
        assert TokenData(trained[-1].data, "train").tokens + TokenData(trained[-1].data, "val").tokens == len(
            TINYSHAKESPEARE.read_text(encoding="utf-8"))


def test_the_time_left_is_said_once_measured_and_with_each_evaluation(data_dir, tmp_path, monkeypatch):
    # a tiny model's steps take ms: an estimate from the first stretches (RunProgress, which the CLI's bar shows)
    monkeypatch.setattr("gpt.progress.TimeLeft", functools.partial(TimeLeft, min_seconds=0))
    result = run("train-gpt", "--data", data_dir, "--out", tmp_path / "run", "--n-layer", 1, "--n-head", 1,
                 "--n-embd", 16, "--block-size", 16, "--max-iters", 60, "--eval-interval", 20, "--eval-iters", 1,
                 "--device", "cpu", "--samples", 0)
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stderr.replace("\r", "\n").splitlines() if line.strip()]
    said = [line for line in lines if not line.startswith(("0%", "100%")) and "%|" not in line]
    # steps 10 -> 20 and 30 -> 40 measure the pace (the warm-up before 10 and the evaluation at 20 do not count)
    expected = [r"step 0: val loss .* bits/byte", r"step 20: val loss .* bits/byte", r"about \d+ (s|min) to go",
                r"step 40: val loss .* bits/byte; about \d+ (s|min) to go", r"step 60: val loss [^;]* bits/byte"]
    assert len(said) == 1 + len(expected), said
    assert all(re.fullmatch(e, line) for e, line in zip(expected, said[1:], strict=True)), said
    assert any("left=" in line for line in lines)  # beside the bar, updated at each logged step


def test_a_run_stopped_before_its_first_step_leaves_nothing(data_dir, tmp_path):
    def interrupt_the_first_evaluation(event: dict) -> None:  # after latest.pt of step 0 is written
        if event["event"] == "eval":
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train(config_from(None, data=str(data_dir), out=str(tmp_path / "new" / "run"), max_iters=5, **TINY),
              interrupt_the_first_evaluation)
    assert list(tmp_path.iterdir()) == []  # no step-0 checkpoint, no tokenizer copy, no directory


def test_a_run_is_never_overwritten_silently(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    cfg = config_from(None, data=str(data_dir), out=str(run_dir), max_iters=4, **TINY)
    train(cfg)
    before = {name: (run_dir / name).read_bytes() for name in (LATEST, BEST, "metrics.jsonl")}
    with pytest.raises(RunExists, match="already holds a run .latest.pt, metrics.jsonl.; continue it with --resume, "
                                        "start it over with --overwrite"):
        train(config_from(None, data=str(data_dir), out=str(run_dir), max_iters=2, **TINY))
    assert {name: (run_dir / name).read_bytes() for name in before} == before
    result = train(config_from(None, data=str(data_dir), out=str(run_dir), max_iters=2, overwrite=True, **TINY))
    assert result.step == 2 and load_checkpoint(run_dir)["step"] == 2
    assert max(step for _, step, _, _ in metric_rows(run_dir)) == 2  # the old run's log went with it
    line = error_line(run("train-gpt", "--data", data_dir, "--out", run_dir, "--max-iters", 2, "--device", "cpu"))
    assert "already holds a run" in line and "--overwrite" in line


def test_one_writer_per_run_directory(data_dir, tmp_path):
    with exclusive_directory(tmp_path / "run"):
        with pytest.raises(DirectoryBusy, match=f"in use by another gptkit process .pid {os.getpid()}."):
            train(config_from(None, data=str(data_dir), out=str(tmp_path / "run"), max_iters=2, **TINY))


def test_resume_keeps_the_run_it_continues(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    train(config_from(None, data=str(data_dir), out=str(run_dir), max_iters=4, **TINY))
    cfg = resume_config(run_dir)  # every setting from the checkpoint
    assert (cfg.n_embd, cfg.block_size, cfg.max_iters, cfg.data, cfg.resume) == (32, 32, 4, str(data_dir), True)
    with pytest.raises(CheckpointError, match=r"cannot change n_embd 32 -> 64, seed 1337 -> 7; train a new run"):
        resume_config(run_dir, n_embd=64, seed=7, max_iters=8)
    with pytest.raises(CheckpointError, match="cannot change n_embd"):  # the library's own check, not just the CLI's
        train(config_from(None, **{**TINY, "n_embd": 64}, data=str(data_dir), out=str(run_dir), max_iters=8,
                          resume=True))
    messages = []
    train(resume_config(run_dir, max_iters=6, lr=1e-3), lambda e: messages.append(e.get("text")))
    assert "resumed with changed settings: max_iters 4 -> 6, lr 0.003 -> 0.001" in messages
    # the same tokenizer, other data: refused
    other = tmp_path / "other"
    prepare(PrepareConfig([str(data_dir.parent / "shakespeare.txt")], str(other), "char", val_fraction=0.2,
                          delimiter=None))
    line = error_line(run("train-gpt", "--data", other, "--out", run_dir, "--resume", "--max-iters", 8))
    assert "was trained on other data than" in line and "resume on the same data directory" in line
    result = run("train-gpt", "--data", data_dir, "--input", TINYSHAKESPEARE, "--out", run_dir)
    assert result.exit_code == 2 and "give --data (a prepared directory) or --input" in result.output


def test_a_run_saved_with_the_old_gelu_name_loads_and_resumes(data_dir, tmp_path):
    """Runs saved before the exact GELU was named "exact" hold "none" in both configs: they load as "exact", resume
    with no change (given --gelu none, --gelu exact or nothing), and a real change is still refused."""
    run_dir = tmp_path / "run"
    train(config_from(None, data=str(data_dir), out=str(run_dir), max_iters=2, **TINY))
    state = load_checkpoint(run_dir)
    assert state["train_config"]["gelu"] == state["model_config"]["gelu"] == "exact"  # saved by its new name
    state["train_config"]["gelu"] = state["model_config"]["gelu"] = "none"
    save_checkpoint(run_dir / LATEST, state)
    assert load_model(run_dir)[0].config.gelu == "exact"
    for flags, steps in (([], 3), (["--gelu", "none"], 4), (["--gelu", "exact"], 5)):
        result = run("train-gpt", "--out", run_dir, "--resume", "--max-iters", steps, "--samples", 0, *flags)
        assert result.exit_code == 0 and "changed settings: max_iters" in result.output, result.output
        assert "gelu" not in result.output.split("changed settings:")[1].splitlines()[0]
    assert load_checkpoint(run_dir)["train_config"]["gelu"] == "exact"
    line = error_line(run("train-gpt", "--out", run_dir, "--resume", "--gelu", "tanh"))
    assert "cannot change gelu 'exact' -> 'tanh'" in line


# Muon orthogonalizes in bfloat16, where float32's other summation order flips an element's rounding now and then,
# and Newton-Schulz amplifies it over the steps (about 3e-3 apart after six): its first step is compared, which
# the one rounding to bfloat16 leaves identical
@pytest.mark.parametrize("optimizer, steps", [("adamw", "6"), ("muon", "1")])
def test_ddp_with_gloo_equals_one_process(data_dir, tmp_path, optimizer, steps):
    port = free_port()
    flags = ["--data", str(data_dir), "--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--block-size", "32",
             "--eval-interval", "6", "--eval-iters", "2", "--dropout", "0", "--device", "cpu", "--samples", "0",
             "--lr", "1e-3", "--warmup-iters", "0", "--optimizer", optimizer]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          str(port), str(ROOT / "cli.py"), "train-gpt", *flags, "--batch-size", "4", "--max-iters",
                          steps, "--out", str(tmp_path / "ddp")], capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    for name, taken in (("one", steps), ("init", "0")):  # the global batch in one process; the same seed untrained
        result = run("train-gpt", *flags, "--batch-size", "8", "--max-iters", taken, "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
    ddp, one, init = (load_checkpoint(tmp_path / name / LATEST)["model"] for name in ("ddp", "one", "init"))
    # the all-reduce averages the ranks' half-batch gradients: the global batch's mean gradient up to float32
    # rounding (another summation order; about 4e-9 in the weights after six steps), far below lr
    assert all(torch.allclose(ddp[k], one[k], rtol=0, atol=1e-6) for k in ddp)
    # and the steps were taken (a run that skipped them would pass the above): Adam's first step alone moves every
    # element with a gradient by lr (m / sqrt(v) = g / |g|), so each tensor is at least lr / 2 from the seed's init
    # (Muon's matrices move further: muon_lr is 20 x lr)
    moved = {k: float((ddp[k] - init[k]).abs().max()) for k in ddp}
    assert min(moved.values()) > 1e-3 / 2, moved


def test_two_nodes_through_torchrun_rendezvous_equal_one_process(data_dir, tmp_path):
    """Training across machines as docs/training.md says to launch it: one torchrun per node, --nnodes 2, meeting at
    a c10d rendezvous endpoint (here two "nodes" on this machine, 127.0.0.1, gloo). The run is the one process with
    the same global batch, as for two processes on one node."""
    port = free_port()
    flags = ["--data", str(data_dir), "--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--block-size", "32",
             "--eval-interval", "4", "--eval-iters", "2", "--dropout", "0", "--device", "cpu", "--samples", "0",
             "--lr", "1e-3", "--warmup-iters", "0", "--max-iters", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node",
                               "1", "--node-rank", str(rank), "--rdzv-backend", "c10d", "--rdzv-endpoint",
                               f"127.0.0.1:{port}", "--rdzv-id", "two-nodes", str(ROOT / "cli.py"), "train-gpt", *flags,
                               "--batch-size", "4", "--out", str(tmp_path / "nodes")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for rank in (0, 1)]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert all(node.returncode == 0 for node in nodes), "\n".join(o[-2000:] for o in outputs)
    assert sum("trained 4 steps" in output for output in outputs) == 1  # one writer: the process of rank 0
    result = run("train-gpt", *flags, "--batch-size", "8", "--out", tmp_path / "one")
    assert result.exit_code == 0, result.output
    nodes_state, one = (load_checkpoint(tmp_path / name / LATEST) for name in ("nodes", "one"))
    assert nodes_state["step"] == 4
    assert all(torch.allclose(nodes_state["model"][k], v, rtol=0, atol=1e-6) for k, v in one["model"].items())


def test_stop_at_val_ends_the_run_at_the_first_evaluation_that_reaches_it(data_dir, tmp_path):
    """--stop-at-val: the run ends at the first evaluation at or below the bar, with that step's checkpoint as its
    last; it says so; the steps after it are not taken. A resume may lower the bar and go on."""
    events = []
    cfg = config_from(None, data=str(data_dir), out=str(tmp_path / "run"), max_iters=200, stop_at_val=3.3,
                      **{**TINY, "eval_interval": 5})
    result = train(cfg, events.append)
    evals = [e for e in events if e["event"] == "eval"]
    assert evals[-1]["val_loss"] <= 3.3 < min(e["val_loss"] for e in evals[:-1])  # the first that reached it
    assert result.step == evals[-1]["step"] < 200 and result.step % 5 == 0 and result.val_loss == evals[-1]["val_loss"]
    assert load_checkpoint(tmp_path / "run")["step"] == result.step
    assert f"<= --stop-at-val 3.3: stopped at step {result.step}" in events[-1]["text"]
    assert not any(e["event"] == "step" and e["step"] > result.step for e in events)
    more = train(resume_config(tmp_path / "run", stop_at_val=0.0, max_iters=result.step + 5))
    assert more.step == result.step + 5


def test_non_finite_loss_stops_and_keeps_the_checkpoint(data_dir, tmp_path):
    cfg = config_from(None, data=str(data_dir), out=str(tmp_path / "run"), max_iters=200, **{**TINY, "lr": 1e9,
                      "min_lr": 1e8, "grad_clip": 0.0, "eval_interval": 1000})
    with pytest.raises(TrainingError, match=r"the loss became (nan|inf) at step \d+; stopped\. The last good "
                       r"checkpoint, .*latest\.pt of step 0, is kept"):
        train(cfg)
    assert load_checkpoint(tmp_path / "run")["step"] == 0  # the last good one


@pytest.mark.parametrize("val_fraction", [0.1, 0.0])
def test_a_diverged_state_never_replaces_the_last_good_checkpoint(tmp_path, val_fraction):
    """A huge lr leaves finite weights whose loss is nan: that state must not become latest.pt."""
    text = tmp_path / "t.txt"
    text.write_text(TINYSHAKESPEARE.read_text(encoding="utf-8")[:20_000], encoding="utf-8")
    prepare(PrepareConfig([str(text)], str(tmp_path / "data"), "char", val_fraction=val_fraction, delimiter=None))
    cfg = config_from(None, data=str(tmp_path / "data"), out=str(tmp_path / "run"), max_iters=50,
                      **{**TINY, "lr": 1e6, "min_lr": 1e5, "warmup_iters": 0, "grad_clip": 0.0, "eval_interval": 1})
    with pytest.raises(TrainingError) as stopped:
        train(cfg)
    kept = int(re.search(r"latest\.pt of step (\d+), is kept", str(stopped.value)).group(1))
    assert load_checkpoint(tmp_path / "run")["step"] == kept
    split = "val" if val_fraction else "train"  # the kept state scores a finite loss: a resume can go on from it
    assert math.isfinite(evaluate_checkpoint(tmp_path / "run", tmp_path / "data", split, max_batches=4)["loss"])
    resumed = train(resume_config(tmp_path / "run", max_iters=kept + 2, lr=1e-3, min_lr=1e-4))
    assert resumed.step == kept + 2


@pytest.mark.cuda
@pytest.mark.parametrize("recipe", [dict(arch="gpt2"), dict(arch="modern", optimizer="muon", n_head=4, n_kv_head=2)])
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_cuda_mixed_precision_and_compile(data_dir, tmp_path, dtype, recipe):
    cfg = config_from(None, data=str(data_dir), out=str(tmp_path / dtype), max_iters=40, compile=dtype == "bfloat16",
                      **{**TINY, "device": "cuda", "dtype": dtype, **recipe})
    rows = []
    train(cfg, rows.append)
    evals = [r["val_loss"] for r in rows if r["event"] == "eval"]
    assert math.isfinite(evals[-1]) and evals[-1] < evals[0] - 0.5
    state = load_checkpoint(tmp_path / dtype)
    assert (state["scaler"] is not None) == (dtype == "float16")
    assert not any(k.startswith("_orig_mod") for k in state["model"])


# --- the CLI and bad input -------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("Error: ") and "Traceback" not in result.output
    return line


def test_train_then_generate_from_the_cli(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(TINYSHAKESPEARE.read_text(encoding="utf-8")[:20_000], encoding="utf-8")
    out = tmp_path / "run"
    result = run("train-gpt", "--input", text, "--out", out, "--n-layer", 1, "--n-head", 2, "--n-embd", 16,
                 "--block-size", 16, "--batch-size", 4, "--max-iters", 10, "--eval-interval", 5, "--eval-iters", 2,
                 "--device", "cpu", "--samples", 0)
    assert result.exit_code == 0, result.output
    assert "trained 10 steps" in result.output and (out / "data" / "manifest.json").is_file()
    # what each val loss was scored on: --eval-iters 2 batches of 4 windows of 16 tokens
    val_loss = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["val_loss"]
    assert f"step 10: val loss {val_loss:.4f} (first 128 val tokens), " in result.stderr
    assert f"val loss {val_loss:.4f} on --eval-iters 2 batches, best " in result.stdout
    sampled = [run("generate", "--checkpoint", out, "--prompt", "ROMEO:", "--max-new-tokens", 40, "--seed", 3,
                   *flag).output for flag in ((), ("--no-cache",))]
    assert sampled[0] == sampled[1] and sampled[0].startswith("ROMEO:") and len(sampled[0]) == len("ROMEO:") + 41


def test_generate_takes_the_latest_run_and_warns_of_an_untrained_one(data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nothing = run("generate")
    assert nothing.exit_code == 2 and "no --checkpoint, and no run under out/" in nothing.output
    train(config_from(None, data=str(data_dir), out="out/old", max_iters=2, **TINY))
    train(config_from(None, data=str(data_dir), out="out/new/untrained", max_iters=0, **TINY))
    result = run("generate", "--max-new-tokens", 5, "--prompt", "A")
    assert result.exit_code == 0, result.output
    assert "sampling from out/new/untrained (the most recent run under out/)" in result.stderr
    assert "warning: out/new/untrained has not been trained yet (step 0): its samples are noise" in result.stderr
    later = time.time() + 10
    os.utime("out/old/latest.pt", (later, later))
    result = run("generate", "--max-new-tokens", 5, "--prompt", "A")
    assert "sampling from out/old" in result.stderr and "warning" not in result.stderr


def test_bad_inputs(data_dir, tmp_path):
    assert "no manifest.json" in error_line(run("train-gpt", "--data", tmp_path / "nowhere", "--out", tmp_path / "o"))
    line = error_line(run("train-gpt", "--data", data_dir, "--block-size", 100_000, "--out", tmp_path / "o",
                          "--n-layer", 1, "--n-head", 1, "--n-embd", 8, "--device", "cpu"))
    assert "use a smaller block_size" in line
    run_dir = tmp_path / "run"
    train(config_from(None, data=str(data_dir), out=str(run_dir), max_iters=2, **TINY))
    text = tmp_path / "t.txt"
    text.write_text("Some words for another tokenizer. " * 50, encoding="utf-8")
    prepare(PrepareConfig([str(text)], str(tmp_path / "gpt2"), "gpt2", val_fraction=0.0))
    line = error_line(run("train-gpt", "--data", tmp_path / "gpt2", "--out", run_dir, "--resume", "--device", "cpu"))
    assert "was trained with another tokenizer (char)" in line
    data = (run_dir / LATEST).read_bytes()
    (run_dir / LATEST).write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt" in error_line(run("generate", "--checkpoint", run_dir, "--prompt", "A"))
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(run_dir)
    assert "no checkpoint here" in error_line(run("generate", "--checkpoint", tmp_path / "empty"))
    with pytest.raises(ValueError, match="unknown preset"):
        config_from("gpt5")


def test_init_from_takes_the_models_context_and_refuses_a_longer_one(data_dir, tmp_path):
    pytest.importorskip("safetensors", reason="the hf extra: pip install 'gptkit[hf]'")
    from gpt.hf import export_hf
    from gpt.model import GPT, GPTConfig

    vocab = TokenData(data_dir, "train").vocab_size
    export_hf(GPT(GPTConfig(vocab_size=vocab, block_size=32, n_layer=1, n_head=2, n_embd=16)), tmp_path / "hf")
    line = error_line(run("train-gpt", "--data", data_dir, "--init-from", tmp_path / "hf", "--block-size", 64,
                          "--out", tmp_path / "long", "--device", "cpu", "--max-iters", 1))
    assert line == (f"Error: block_size 64 is longer than {tmp_path / 'hf'}'s context of 32 tokens: give "
                    "--block-size 32 or less, or leave it out")
    assert not (tmp_path / "long").exists()
    common = dict(data=str(data_dir), init_from=str(tmp_path / "hf"), max_iters=0, device="cpu", eval_iters=1)
    for given, expected in ((None, 32), (16, 16)):
        train(config_from(None, out=str(tmp_path / f"run{given}"), block_size=given, **common))
        state = load_checkpoint(tmp_path / f"run{given}")
        assert state["model_config"]["block_size"] == state["train_config"]["block_size"] == expected


def test_training_without_a_validation_split(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(TINYSHAKESPEARE.read_text(encoding="utf-8")[:5_000], encoding="utf-8")
    prepare(PrepareConfig([str(text)], str(tmp_path / "data"), "char", val_fraction=0.0, delimiter=None))
    result = train(config_from(None, data=str(tmp_path / "data"), out=str(tmp_path / "run"), max_iters=5, **TINY))
    assert result.step == 5 and result.val_loss is None and (tmp_path / "run" / LATEST).is_file()


# --- the Muon optimizer ----------------------------------------------------------------------

# the blocks' linear maps of each architecture, by name: Muon's, and nothing else
BLOCK_MATRICES = {"gpt2": ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"),
                  "modern": ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                             "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                             "mlp.down_proj.weight")}


@pytest.mark.parametrize("arch", ["gpt2", "modern"])
def test_muon_gets_the_block_matrices_and_adamw_every_other_parameter_once(data_dir, tmp_path, arch):
    cfg = config_from(None, data=str(data_dir), out=str(tmp_path / "run"), max_iters=0, optimizer="muon",
                      **dict(TINY, arch=arch, bias=arch == "gpt2"))
    trainer = Trainer(cfg, lambda row: None, Launch.from_env())
    names = {id(p): name for name, p in trainer.model.named_parameters()}  # a tied head is one parameter
    muon = [names[id(p)] for group in trainer.muon.param_groups for p in group["params"]]
    adamw = [names[id(p)] for group in trainer.optimizer.param_groups for p in group["params"]]
    expected = sorted(f"transformer.h.{i}.{m}" for i in range(TINY["n_layer"]) for m in BLOCK_MATRICES[arch])
    assert sorted(muon) == expected
    assert sorted(muon + adamw) == sorted(names.values())  # every parameter, exactly once
    assert "transformer.wte.weight" in adamw and any(n.endswith("bias") for n in adamw) == (arch == "gpt2")
    assert trainer.muon.param_groups[0]["lr"] == cfg.muon_lr and trainer.optimizer.param_groups[0]["lr"] == cfg.lr
    adamw_only = Trainer(config_from(None, data=str(data_dir), out=str(tmp_path / "plain"), max_iters=0,
                                     **dict(TINY, arch=arch)), lambda row: None, Launch.from_env())
    assert adamw_only.muon is None


def test_a_muon_run_learns_and_follows_the_schedule_at_its_own_peak(data_dir, tmp_path):
    cfg = config_from(None, data=str(data_dir), out=str(tmp_path / "run"), max_iters=60, optimizer="muon",
                      **dict(TINY, arch="modern"))
    result = train(cfg)
    assert result.val_loss < context_free_entropy(data_dir)
    state = load_checkpoint(tmp_path / "run" / LATEST)
    # the output projections start at zero and only Muon steps them: they moved
    moved = [k for k in state["model"] if k.endswith(("o_proj.weight", "down_proj.weight"))]
    assert len(moved) == 2 * TINY["n_layer"] and all(state["model"][k].abs().min() > 0 for k in moved)
    # the last step's lr, on both optimizers: the cosine's, and Muon's in the same proportion to its peak
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(learning_rate(59, cfg))
    assert state["muon"]["param_groups"][0]["lr"] == pytest.approx(learning_rate(59, cfg) * cfg.muon_lr / cfg.lr)


def test_an_unknown_optimizer_is_refused():
    with pytest.raises(ConfigError, match="optimizer must be adamw or muon, got 'sgd'"):
        TrainConfig(optimizer="sgd")
    result = run("train-gpt", "--optimizer", "sgd")
    assert result.exit_code == 2 and "'sgd' is not one of 'adamw', 'muon'" in result.output


def test_resume_refuses_to_change_the_optimizer_and_old_runs_read_as_adamw(data_dir, tmp_path):
    out = tmp_path / "run"
    train(config_from(None, data=str(data_dir), out=str(out), max_iters=2, **TINY))
    with pytest.raises(CheckpointError, match="cannot change optimizer 'adamw' -> 'muon'"):
        resume_config(out, optimizer="muon")
    state = load_checkpoint(out / LATEST)
    for name in ("optimizer", "muon_lr", "muon_momentum", "muon_weight_decay"):  # a run from before the option
        del state["train_config"][name]
    del state["muon"]
    save_checkpoint(out / LATEST, state)
    assert resume_config(out).optimizer == "adamw"
    refused = run("train-gpt", "--out", out, "--resume", "--optimizer", "muon", "--samples", "0")
    assert refused.exit_code == 1 and "cannot change optimizer 'adamw' -> 'muon'" in refused.output
    assert "Traceback" not in refused.output
    assert train(resume_config(out, max_iters=4)).step == 4


@pytest.mark.parametrize("grad_clip", [1.0, 0.0])
def test_loss_scaling_unscales_and_steps_both_optimizers(data_dir, tmp_path, grad_clip):
    """The fp16 path (a GradScaler; enabled here on CPU, which fp16 training itself is not). Scaling by a power of
    two is exact, so a scaled step is the unscaled one, bit for bit, only if both optimizers' gradients are unscaled
    before clipping; an overflow in a Muon matrix's gradient skips the whole step, AdamW's too (GradScaler alone
    would skip only Muon's), and halves the scale; the next step moves both optimizers' weights."""
    cfg = config_from(None, data=str(data_dir), out=str(tmp_path / "run"), max_iters=10, optimizer="muon",
                      grad_clip=grad_clip, **TINY)
    trainer = Trainer(cfg, lambda row: None, Launch.from_env())
    plain = Trainer(config_from(None, **{**cfg.__dict__, "out": str(tmp_path / "plain")}), lambda row: None,
                    Launch.from_env())
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    trainer.train_step(1e-3)
    plain.train_step(1e-3)
    assert all(torch.equal(v, plain.model.state_dict()[k]) for k, v in trainer.model.state_dict().items())
    matrix = trainer.model.transformer.h[0].mlp.c_fc.weight
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    hook = matrix.register_hook(lambda g: torch.full_like(g, float("inf")))
    trainer.train_step(1e-3)
    hook.remove()
    muon = {id(p) for p in trainer.model.hidden_matrices()}
    names = {name for name, p in trainer.model.named_parameters() if id(p) in muon}
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and trainer.scaler.get_scale() == 2.0**9
    trainer.train_step(1e-3)
    after = trainer.model.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in ("transformer.wte.weight", *names))
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
