"""Where the work runs: the device, the precision, torch.compile's prerequisites, and torchrun's environment.

Every command that runs a model (train-gpt, train-char, generate, baselines) chooses its
device here, so "auto" means the same thing everywhere: cuda, then mps, then cpu. A device
that this machine does not have is refused with one clear sentence instead of a CUDA or MPS
traceback from deep inside torch.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import torch

from gptkit_base.errors import ConfigError


def pick_device(name: str) -> torch.device:
    """The device called `name` ("auto", "cpu", "cuda", "cuda:1", "mps"), checked to exist here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}: give auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: this machine has no CUDA GPU (or this torch has no CUDA); "
                             "use cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {name}: MPS is not available on this machine; use cpu or auto")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"--device {name}: gptkit runs on cpu, cuda or mps")
    return device


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    """auto: bf16 on a GPU that supports it, else fp16 on CUDA; fp32 elsewhere."""
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    dtype = getattr(torch, name)
    if dtype == torch.float16 and device.type == "cpu":
        raise ConfigError("float16 training needs a GPU; on CPU use float32 or bfloat16")
    return dtype


def compile_problem(device: torch.device) -> str | None:
    """Why torch.compile cannot work here, or None."""
    if device.type == "mps":
        return "torch.compile does not support MPS training yet"
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return "torch.compile on CUDA needs triton, which is not installed"
    elif shutil.which(os.environ.get("CXX", "c++")) is None:
        return "torch.compile on CPU needs a C++ compiler (c++), which was not found"
    return None


@dataclass(frozen=True)
class Launch:
    """This process's place in a torchrun launch (RANK, LOCAL_RANK, WORLD_SIZE); one process without torchrun."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    torchrun: bool = False  # launched by torchrun (even with one process: then DDP runs, over one rank)

    @classmethod
    def from_env(cls) -> Launch:
        return cls(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")),
                   int(os.environ.get("WORLD_SIZE", "1")), "RANK" in os.environ and "WORLD_SIZE" in os.environ)

    @property
    def ddp(self) -> bool:
        """Train with DistributedDataParallel: under torchrun, however many processes it started."""
        return self.torchrun or self.world_size > 1

    @property
    def master(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0
