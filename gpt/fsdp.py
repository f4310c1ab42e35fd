"""Sharded training (train-gpt --fsdp): PyTorch's FSDP2 (`torch.distributed.fsdp.fully_shard`).

Under DDP every process holds the whole model, its gradients and AdamW's two moments;
under FSDP each of the N processes torchrun starts holds 1/N of each, gathers a block's
weights just before it runs and frees them after, and reduce-scatters the gradients. So a
model whose weights and optimizer state outgrow one device trains on N of them, with the
same arithmetic as DDP (an FSDP run equals the DDP run to float32 rounding: tested).

Each transformer block is one unit of gathering (its weights arrive together), and the root
holds the rest (embeddings, the head, the final norm). Checkpoints stay the plain format:
the weights and AdamW's state are gathered into whole tensors on rank 0 (PyTorch's
distributed state-dict API), so a sharded run's latest.pt loads in one process for
`generate`, `eval` and `export` as any other, and resumes under FSDP on any number of
processes. AdamW's state is keyed by parameter name there (the API's own layout), which is
why a run keeps --fsdp on resume.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from .model import GPT

# torch.distributed.fsdp and its state-dict API are imported where they are used: importing them costs ~0.6 s,
# which every train-gpt start (and every command that plans one) would pay for runs that never shard


def shard(model: GPT, device: torch.device) -> None:
    """Shard the model in place across every process of the group: each block, then the root."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    for block in model.transformer.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)


def full_states(model: GPT, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """The whole weights and AdamW state, gathered on rank 0 as CPU tensors (every rank must call it; the others
    get empty dicts). Before the first step AdamW has no state, and none is saved: the API would make one by taking
    a step at lr 0, which counts as a step in Adam's bias correction and so changes every step after it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

    full = StateDictOptions(full_state_dict=True, cpu_offload=True)
    weights = get_model_state_dict(model, options=full)
    return weights, get_optimizer_state_dict(model, optimizer, options=full) if optimizer.state else {}


def load_full_states(model: GPT, optimizer: torch.optim.Optimizer, weights: dict, optimizer_state: dict) -> None:
    """Shard a checkpoint's whole weights and AdamW state (every rank read the file) into this run's shards."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, weights, options=options)
    if optimizer_state:  # none saved before the first step
        set_optimizer_state_dict(model, optimizer, optimizer_state, options=options)
