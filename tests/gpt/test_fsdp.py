"""train-gpt --fsdp: FSDP2 under torchrun (gloo, on the CPU) trains the DDP run's weights, resumes sharded, and
writes the plain checkpoint that one process loads, evaluates and exports."""

import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from torch.distributed.tensor import DTensor

from cli import main
from conftest import ROOT, free_port, shakespeare_data
from gpt.checkpoint import LATEST, load_checkpoint, load_model
from gpt.config import TrainConfig
from gptkit_base.errors import ConfigError

FLAGS = ["--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--block-size", "32", "--batch-size", "4",
         "--eval-interval", "6", "--eval-iters", "2", "--dropout", "0", "--device", "cpu", "--samples", "0",
         "--lr", "1e-3", "--warmup-iters", "2", "--max-iters", "12", "--lr-decay-iters", "12"]  # one schedule


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return shakespeare_data(tmp_path_factory.mktemp("data"), 40_000)


def torchrun(*args: str) -> subprocess.CompletedProcess:
    """train-gpt in two processes on this machine (gloo), one thread each."""
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           str(free_port()), str(ROOT / "cli.py"), "train-gpt", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def test_fsdp_trains_resumes_and_saves_the_ddp_runs_weights(data_dir, tmp_path):
    """12 steps of DDP against FSDP stopped at step 6 and resumed sharded: the same weights to float32 rounding
    (a resume that lost AdamW's moments would be lr away), in a checkpoint of whole tensors that one process
    loads, scores and exports."""
    common = ["--data", str(data_dir), *FLAGS]
    torchrun(*common, "--out", str(tmp_path / "ddp"))
    torchrun(*common, "--max-iters", "6", "--fsdp", "--out", str(tmp_path / "fsdp"))
    half = load_checkpoint(tmp_path / "fsdp" / LATEST)
    assert half["step"] == 6 and half["train_config"]["fsdp"]
    torchrun("--out", str(tmp_path / "fsdp"), "--resume", "--max-iters", "12", "--samples", "0")
    ddp, sharded = (load_checkpoint(tmp_path / name / LATEST) for name in ("ddp", "fsdp"))
    assert sharded["step"] == 12 and set(sharded["model"]) == set(ddp["model"])
    for name, weight in ddp["model"].items():
        assert not isinstance(sharded["model"][name], DTensor), name  # whole tensors
        assert torch.allclose(sharded["model"][name], weight, rtol=0, atol=1e-5), name
    model, _ = load_model(tmp_path / "fsdp")  # one process, no process group
    assert all(torch.equal(model.state_dict()[name], weight) for name, weight in sharded["model"].items())
    runner = CliRunner()
    scored = runner.invoke(main, ["eval", "--checkpoint", str(tmp_path / "fsdp"), "--data", str(data_dir)])
    assert scored.exit_code == 0 and "nats/token" in scored.output, scored.output
    exported = runner.invoke(main, ["export", "--checkpoint", str(tmp_path / "fsdp"), "--output",
                                    str(tmp_path / "hf")])
    assert exported.exit_code == 0 and (tmp_path / "hf" / "model.safetensors").is_file(), exported.output
    # the run keeps --fsdp, and a sharded run needs torchrun's processes: resuming it in one says so
    refused = runner.invoke(main, ["train-gpt", "--out", str(tmp_path / "fsdp"), "--resume", "--max-iters", "14",
                                   "--samples", "0"])
    assert refused.exit_code == 1, refused.output
    assert "--fsdp shards the model across the processes torchrun starts" in refused.output.strip().splitlines()[-1]


def test_what_fsdp_refuses_is_one_line():
    with pytest.raises(ConfigError, match="Muon orthogonalizes whole matrices: use --optimizer adamw with --fsdp"):
        TrainConfig(fsdp=True, optimizer="muon")
    with pytest.raises(ConfigError, match="float16's loss scaling is not supported"):
        TrainConfig(fsdp=True, dtype="float16")
