"""gpt/device.py on a CPU machine: the precision "auto" picks, and what --compile says when it cannot run."""

import sys

import pytest
import torch
from click.testing import CliRunner

from cli import main
from conftest import shakespeare_data
from gpt.checkpoint import load_checkpoint
from gpt.device import compile_problem, pick_dtype

CPU = torch.device("cpu")


def test_auto_dtype_is_float32_off_cuda():
    # auto: bfloat16 or float16 on CUDA only; every other device trains in float32
    assert pick_dtype("auto", CPU) is torch.float32
    assert pick_dtype("auto", torch.device("mps")) is torch.float32
    assert pick_dtype("bfloat16", CPU) is torch.bfloat16  # asked for by name, it is what runs
    with pytest.raises(ValueError, match="float16 training needs a GPU"):
        pick_dtype("float16", CPU)


def test_compile_problems_are_named(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-c++-compiler")
    assert compile_problem(CPU) == "torch.compile on CPU needs a C++ compiler (c++), which was not found"
    assert compile_problem(torch.device("mps")) == "torch.compile does not support MPS training yet"
    monkeypatch.setitem(sys.modules, "triton", None)  # import triton raises ImportError
    assert compile_problem(torch.device("cuda")) == "torch.compile on CUDA needs triton, which is not installed"


def test_a_cpu_run_in_auto_precision_without_a_compiler_says_compile_is_off(tmp_path, monkeypatch):
    """train-gpt --compile on a machine without a C++ compiler: one line says why --compile is off, the run trains
    uncompiled in float32 (what a user sees, through the CLI)."""
    data = shakespeare_data(tmp_path, 20_000)
    monkeypatch.setenv("CXX", "no-such-c++-compiler")
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train-gpt", "--data", str(data), "--out", str(out), "--n-layer", "1",
                                       "--n-head", "1", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
                                       "--max-iters", "2", "--eval-iters", "1", "--device", "cpu", "--dtype", "auto",
                                       "--samples", "0", "--compile"])
    assert result.exit_code == 0, result.output
    assert "--compile is off: torch.compile on CPU needs a C++ compiler (c++), which was not found" in result.stderr
    assert "training on cpu in float32" in result.stderr
    state = load_checkpoint(out)
    assert state["step"] == 2 and all(t.dtype == torch.float32 for t in state["model"].values())
    assert not any(k.startswith("_orig_mod") for k in state["model"])  # the model that ran was not compiled
