"""Training a GPT on prepared token shards: mixed precision, gradient accumulation, DDP, resume.

One optimizer step = grad_accum micro-batches of batch_size windows (times the
number of DDP processes). The learning rate warms up linearly for warmup_iters
steps, then follows a cosine down to min_lr at lr_decay_iters, and stays there.
Every eval_interval steps the run writes latest.pt (before evaluating, so a crash
in evaluation loses nothing), evaluates the pinned validation split (loss and
bits per byte), and copies the checkpoint to best.pt when the loss improved. A
non-finite loss stops the run with a message; the last good checkpoint stays.

Precision "auto": bf16 autocast where the GPU supports it, else fp16 with a
GradScaler; fp32 on CPU and MPS. Device "auto": cuda, then mps, then cpu.
Launched by torchrun, it trains with DistributedDataParallel (nccl on GPUs, gloo
on CPUs); each rank draws its own share of every global batch.

Resume (--resume) restores the model, optimizer, scaler, step, RNG states and
the data stream's position, so on CPU a resumed run is bit-for-bit the run that
was not interrupted.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from minbpe.files import atomic_copy, atomic_write, file_sha256
from pipeline.loader import RandomBatches, TokenData, eval_batches
from pipeline.manifest import MANIFEST

from .checkpoint import BEST, LATEST, CheckpointError, load_checkpoint, save_checkpoint
from .device import Launch, compile_problem, pick_device, pick_dtype
from .model import GPT, GPTConfig

C = TypeVar("C")
METRICS = "metrics.jsonl"
LOSS_PLOT = "loss.png"
# peak dense bf16 FLOP/s of GPUs, for MFU (model FLOPs utilisation)
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12, "4090": 165e12}


@dataclass
class TrainConfig:
    data: str = ""  # a prepared data directory (python cli.py prepare)
    out: str = "out"
    # model
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    block_size: int = 1024
    dropout: float = 0.0
    bias: bool = False  # nanoGPT's training default: a little faster and as good
    # nanoGPT's exact GELU ("none"): as good as GPT-2's tanh form and 2.7x faster forward + backward
    # on CPU (about 15% of a step of the CPU recipe); "tanh" matches GPT-2's weights exactly
    gelu: str = "none"
    # optimisation
    batch_size: int = 12
    grad_accum: int = 1
    max_iters: int = 5000
    lr: float = 6e-4
    min_lr: float = 6e-5
    warmup_iters: int = 100
    lr_decay_iters: int | None = None  # None: max_iters
    beta1: float = 0.9
    beta2: float = 0.95
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # 0: no clipping
    # evaluation and logs
    eval_interval: int = 250
    eval_iters: int = 20
    log_interval: int = 10
    # system
    device: str = "auto"
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    compile: bool = False
    seed: int = 1337
    resume: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accum", "eval_interval", "eval_iters", "log_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_iters", "warmup_iters"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr, got min_lr {self.min_lr} and lr {self.lr}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")

    def model_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(vocab_size, self.block_size, self.n_layer, self.n_head, self.n_embd, self.dropout, self.bias,
                         gelu=self.gelu)


# nanoGPT's recipes, under their names
PRESETS: dict[str, dict[str, Any]] = {
    # config/train_shakespeare_char.py (a GPU run of a few minutes)
    "shakespeare-char": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2, batch_size=64,
                             max_iters=5000, lr=1e-3, min_lr=1e-4, warmup_iters=100, beta2=0.99,
                             eval_interval=250, eval_iters=200, log_interval=10),
    # the same, shrunk for a laptop CPU as nanoGPT's README suggests
    "shakespeare-char-cpu": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, batch_size=12,
                                 max_iters=2000, lr=1e-3, min_lr=1e-4, warmup_iters=100, beta2=0.99,
                                 eval_interval=250, eval_iters=20, log_interval=10),
    # config/train_gpt2.py: GPT-2 124M on 8 GPUs, 0.5M tokens per step
    "gpt2-124m": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, dropout=0.0, batch_size=12,
                      grad_accum=40, max_iters=600000, lr=6e-4, min_lr=6e-5, warmup_iters=2000, beta2=0.95,
                      weight_decay=0.1, eval_interval=1000, eval_iters=200),
}


def build_config(cls: type[C], base: dict[str, Any], overrides: dict[str, Any]) -> C:
    """A config dataclass: its defaults, then `base` (a preset), then the overrides that are not None."""
    unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown training settings: {', '.join(unknown)}")
    return cls(**{**base, **{k: v for k, v in overrides.items() if v is not None}})


def config_from(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """A TrainConfig: the defaults, then a preset's values, then explicit overrides (None = not given)."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    return build_config(TrainConfig, PRESETS[preset] if preset else {}, overrides)


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to lr, cosine decay to min_lr at lr_decay_iters, then min_lr (never below it)."""
    decay_iters = cfg.lr_decay_iters if cfg.lr_decay_iters is not None else cfg.max_iters
    if step < cfg.warmup_iters:
        return cfg.lr * (step + 1) / (cfg.warmup_iters + 1)
    if step >= decay_iters:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / max(decay_iters - cfg.warmup_iters, 1)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


class TrainingError(RuntimeError):
    """The run cannot go on (a non-finite loss); the message says what was kept."""


@dataclass
class TrainResult:
    step: int
    train_loss: float | None
    val_loss: float | None
    best_val_loss: float
    seconds: float
    out: Path


def _unwrapped(model: torch.nn.Module) -> GPT:
    """The plain GPT inside DDP and torch.compile wrappers (its state dict has no prefixes)."""
    model = model.module if isinstance(model, DDP) else model
    return getattr(model, "_orig_mod", model)


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: TokenData, cfg: TrainConfig, device: torch.device, autocast) -> dict:
    """Mean loss over the first eval_iters batches of the pinned split, and bits per byte."""
    model.eval()
    total, count = torch.zeros((), device=device), torch.zeros((), device=device)
    for x, y in eval_batches(data, cfg.batch_size, cfg.block_size, device, max_batches=cfg.eval_iters):
        with autocast:
            _, loss = model(x, y)
        total += loss.float() * y.numel()
        count += y.numel()
    if dist.is_initialized():
        dist.all_reduce(total)
        dist.all_reduce(count)
    model.train()
    loss = (total / count).item()
    # nats per token -> bits per byte, with the split's bytes per token (comparable across tokenizers)
    return {"loss": loss, "bpb": loss / math.log(2) * data.tokens / max(data.bytes, 1)}


def write_loss_plot(out: Path, rows: list[dict]) -> None:
    """loss.png: training and validation loss against the step (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("train_loss", "train"), ("val_loss", "val")):
        points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if points:
            ax.plot(*zip(*points, strict=True), label=label, marker="." if key == "val_loss" else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    try:
        with atomic_write(out / LOSS_PLOT) as f:
            fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)


def train(cfg: TrainConfig, callback: Callable[[dict], None] | None = None) -> TrainResult:
    """Train (or resume) a GPT; callback gets a dict per logged step, evaluation and message."""
    report = callback or (lambda event: None)
    ddp = Launch.from_env().ddp
    if ddp:
        backend = "nccl" if torch.cuda.is_available() and cfg.device in ("auto", "cuda") else "gloo"
        dist.init_process_group(backend)
    try:
        return _train(cfg, report, ddp)
    finally:
        if ddp:
            dist.destroy_process_group()


def _train(cfg: TrainConfig, report: Callable[[dict], None], ddp: bool) -> TrainResult:
    rank = dist.get_rank() if ddp else 0
    master = rank == 0
    device = pick_device(cfg.device)
    if ddp and device.type == "cuda":
        device = torch.device("cuda", Launch.from_env().local_rank)
        torch.cuda.set_device(device)
    dtype = pick_dtype(cfg.dtype, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls on Ampere and newer
        torch.backends.cudnn.allow_tf32 = True
    autocast = (torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else nullcontext())
    out = Path(cfg.out)

    if not cfg.data:
        raise ValueError("no data: give a prepared data directory (python cli.py prepare ... --output DIR)")
    train_data = TokenData(cfg.data, "train")
    val_split = train_data.manifest.splits.get("val")
    val_data = TokenData(cfg.data, "val") if val_split is not None and val_split.tokens else None
    manifest_sha = file_sha256(Path(cfg.data) / MANIFEST)
    tokenizer = asdict(train_data.manifest.tokenizer)

    state = None
    if cfg.resume:
        state = load_checkpoint(out / LATEST, map_location="cpu")
        if state["tokenizer"]["sha256"] != tokenizer["sha256"] or state["tokenizer"]["type"] != tokenizer["type"]:
            raise CheckpointError(
                f"{out / LATEST} was trained with another tokenizer ({state['tokenizer']['type']}) than "
                f"{cfg.data} holds ({tokenizer['type']}); resume on the same data"
            )
        model_config = GPTConfig(**state["model_config"])
    else:
        model_config = cfg.model_config(train_data.vocab_size)
    if model_config.vocab_size < train_data.vocab_size:
        raise CheckpointError(
            f"the model has {model_config.vocab_size} token ids, but the data needs {train_data.vocab_size}"
        )

    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    model = GPT(model_config).to(device)
    if rank:
        torch.manual_seed(cfg.seed + rank)  # but each rank its own dropout masks
    optimizer = torch.optim.AdamW(
        model.optimizer_groups(cfg.weight_decay), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
        fused=device.type in ("cuda", "cpu"),  # one kernel for all parameters: much less per-step overhead
    )
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    step, best_val = 0, float("inf")
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state["scaler"] is not None:
            scaler.load_state_dict(state["scaler"])
        step, best_val = state["step"], state["best_val_loss"]
        if rank == 0:  # the checkpoint holds rank 0's RNG; the others draw afresh from (seed, rank, step)
            torch.set_rng_state(state["rng"]["torch"])
            if device.type == "cuda" and state["rng"]["cuda"] is not None:
                torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        else:
            torch.manual_seed(cfg.seed + rank + 1_000_003 * step)
        report({"event": "resumed", "step": step})
    batches = RandomBatches(train_data, cfg.batch_size, model_config.block_size, cfg.seed, device)
    batches.step = step * cfg.grad_accum
    if master:
        out.mkdir(parents=True, exist_ok=True)
        name = train_data.manifest.tokenizer.file  # under the same name, so TokenizerInfo.load finds it
        if name is not None:
            atomic_copy(Path(cfg.data) / name, out / name)
    runner: torch.nn.Module = model
    if cfg.compile:
        problem = compile_problem(device)
        if problem:
            report({"event": "message", "text": f"--compile is off: {problem}"})
        else:
            runner = torch.compile(model)
    if ddp:
        runner = DDP(runner, device_ids=[device.index] if device.type == "cuda" else None)

    def snapshot() -> dict:
        return {
            "model_config": asdict(model_config),
            "model": _unwrapped(model).state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            "step": step,
            "best_val_loss": best_val,
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device)
                    if device.type == "cuda" else None},
            "train_config": asdict(cfg),
            "tokenizer": tokenizer,
            "data_manifest_sha256": manifest_sha,
        }

    metrics_rows: list[dict] = []
    if master and (out / METRICS).exists() and cfg.resume:
        metrics_rows = [json.loads(line) for line in (out / METRICS).read_text().splitlines() if line]
    if master and not cfg.resume:
        (out / METRICS).unlink(missing_ok=True)

    def log(row: dict) -> None:
        report(row)
        if master:
            metrics_rows.append(row)
            with open(out / METRICS, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    tokens_per_step = cfg.batch_size * cfg.grad_accum * model_config.block_size * (dist.get_world_size() if ddp else 1)
    peak = next((v for k, v in PEAK_FLOPS.items() if device.type == "cuda" and k in torch.cuda.get_device_name()), None)
    flops_per_step = model.flops_per_token() * tokens_per_step
    start_time = t0 = time.perf_counter()
    start_step, last_log, train_loss, val_loss = step, step, None, None

    def checkpoint_and_evaluate() -> None:
        nonlocal best_val, val_loss
        if master:
            save_checkpoint(out / LATEST, snapshot())  # before evaluating: a crash in eval loses nothing
        if val_data is None:
            return
        result = evaluate(runner, val_data, cfg, device, autocast)
        val_loss = result["loss"]
        log({"event": "eval", "step": step, "val_loss": val_loss, "val_bpb": result["bpb"], "train_loss": train_loss,
             "time": time.perf_counter() - start_time})
        if val_loss < best_val:
            best_val = val_loss
            if master:
                save_checkpoint(out / LATEST, snapshot())  # now with the new best_val_loss
                atomic_copy(out / LATEST, out / BEST)
        if master:
            write_loss_plot(out, metrics_rows)

    while step < cfg.max_iters:
        if step % cfg.eval_interval == 0 and not (cfg.resume and step == start_step):
            checkpoint_and_evaluate()
        lr = learning_rate(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=device)
        for micro in range(cfg.grad_accum):
            x, y = next(batches)
            # DDP: average gradients across ranks only on the last micro-batch
            sync = nullcontext() if not ddp or micro == cfg.grad_accum - 1 else runner.no_sync()
            with sync, autocast:
                _, loss = runner(x, y)
                loss = loss / cfg.grad_accum
            scaler.scale(loss).backward()
            loss_sum += loss.detach()
        if not torch.isfinite(loss_sum):
            raise TrainingError(
                f"the loss became {loss_sum.item()} at step {step}; stopped. The last good checkpoint "
                f"({out / LATEST}) is kept: resume from it with a lower --lr, or --dtype float32"
            )
        if cfg.grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if step % cfg.log_interval == 0 or step == cfg.max_iters:
            train_loss = loss_sum.item()  # syncs with the device: only when logging
            seconds, steps = time.perf_counter() - t0, step - last_log
            t0, last_log = time.perf_counter(), step
            row = {"event": "step", "step": step, "train_loss": train_loss, "lr": lr,
                   "tokens_per_s": tokens_per_step * steps / seconds}
            if peak is not None:
                row["mfu"] = flops_per_step * steps / seconds / peak
            log(row)
    if step > start_step or not cfg.resume:
        checkpoint_and_evaluate()
    return TrainResult(step, train_loss, val_loss, best_val, time.perf_counter() - start_time, out)


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[GPT, dict]:
    """The model of a checkpoint (a run directory's latest.pt, or a .pt file) in eval mode, and the checkpoint."""
    state = load_checkpoint(run_dir, map_location=device)
    return gpt_from_state(state, run_dir, device), state


def gpt_from_state(state: dict, source: str | os.PathLike, device: str | torch.device = "cpu") -> GPT:
    """The GPT of a loaded train-gpt checkpoint, in eval mode; CheckpointError if it is not one or does not fit."""
    if "model_config" not in state:
        raise CheckpointError(f"{source}: not a train-gpt checkpoint")
    model = GPT(GPTConfig(**state["model_config"]))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        reason = str(e).splitlines()[0]
        raise CheckpointError(f"{source}: the weights do not fit the model config ({reason})") from None
    return model.to(device).eval()
