"""Training a GPT on prepared token shards: mixed precision, gradient accumulation, DDP, resume.

One optimizer step = grad_accum micro-batches of batch_size windows (times the
number of DDP processes). The learning rate warms up linearly for warmup_iters
steps, then follows a cosine down to min_lr at lr_decay_iters, and stays there.
Every eval_interval steps the run evaluates the pinned validation split (loss
and bits per byte), then writes latest.pt, and copies it to best.pt when the loss
improved. A state is written only once its loss is known to be finite (the val
loss, or without a val split the loss of the first training windows), so latest.pt
is always a state a run can resume from: a non-finite loss, in a training step or
in that check, stops the run with a message naming the last good checkpoint.

Precision "auto": bf16 autocast where the GPU supports it, else fp16 with a
GradScaler; fp32 on CPU and MPS. Device "auto": cuda, then mps, then cpu.
Launched by torchrun, it trains with DistributedDataParallel (nccl on GPUs, gloo
on CPUs); each rank draws its own share of every global batch.

Optimizer "adamw": AdamW for every weight. "muon": torch.optim.Muon for the blocks'
2-D matrices (GPT.hidden_matrices) and AdamW for the rest, both on the same warmup and
cosine, each scaled to its own peak (muon_lr, lr).

Resume (--resume) restores the model, optimizers, scaler, step, RNG states and
the data stream's position, so on CPU a resumed run is bit-for-bit the run that
was not interrupted. It continues the run as it was: the settings in
KEPT_ON_RESUME (the model's shape, what decides the data stream, the optimizer) and the data
itself (its manifest's sha256) must be the checkpoint's, or it refuses, naming
them; the others (max_iters, the learning-rate schedule, evaluation cadence,
device, precision...) may change, and each change is reported. metrics.jsonl is
cut back to the checkpoint's step, so it never holds rows twice.

A run directory has one writer (gptkit_base.files.exclusive_directory), and a
directory that already holds a run is never overwritten silently: without
resume, training there needs overwrite=True.
"""

from __future__ import annotations

import gc
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from gptkit_base.errors import ConfigError, GptkitError
from gptkit_base.files import atomic_copy, atomic_write, atomic_write_text, exclusive_directory, file_sha256
from minbpe import ENDOFTEXT
from minbpe.core import counted
from pipeline.loader import RandomBatches, TokenData, eval_batches
from pipeline.manifest import MANIFEST
from pipeline.prepare import PrepareConfig, PrepareResult, prepare

from . import fsdp
from .checkpoint import (
    CheckpointError,
    checked_model_config,
    gpt_from_state,
    load_checkpoint,
    rng_states,
    save_checkpoint,
    set_rng_states,
    tokenizer_info,
)
from .config import TrainConfig, check_kept, saved_train_config
from .device import Launch, compile_problem, pick_device, pick_dtype
from .hf import load_pretrained
from .model import GPT
from .runs import BEST, DATA_DIR, GPT_FILES, LATEST, LOSS_PLOT, METRICS, claim_run, discard_run, read_metrics

# peak dense bf16 FLOP/s of GPUs, for MFU (model FLOPs utilisation)
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12, "4090": 165e12}


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to lr, cosine decay to min_lr at lr_decay_iters, then min_lr (never below it)."""
    decay_iters = cfg.lr_decay_iters if cfg.lr_decay_iters is not None else cfg.max_iters
    if step < cfg.warmup_iters:
        return cfg.lr * (step + 1) / (cfg.warmup_iters + 1)
    if step >= decay_iters:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / max(decay_iters - cfg.warmup_iters, 1)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def build_optimizers(model: GPT, optimizer: str, lr: float, weight_decay: float, betas: tuple[float, float],
                     muon_lr: float, muon_momentum: float, muon_weight_decay: float,
                     device: torch.device) -> tuple[torch.optim.AdamW, torch.optim.Muon | None]:
    """A GPT's optimizers: "adamw", AdamW for every weight (no Muon: None); "muon", torch.optim.Muon for the
    blocks' 2-D matrices (GPT.hidden_matrices) and AdamW for everything else (embeddings, head, norms, biases)."""
    matrices = model.hidden_matrices() if optimizer == "muon" else []
    muon = torch.optim.Muon(
        matrices, lr=muon_lr, weight_decay=muon_weight_decay, momentum=muon_momentum, adjust_lr_fn="original",
    ) if matrices else None
    adamw = torch.optim.AdamW(
        model.optimizer_groups(weight_decay, without=matrices), lr=lr, betas=betas,
        fused=device.type in ("cuda", "cpu"),  # one kernel for all parameters: much less per-step overhead
    )
    return adamw, muon


class TrainingError(GptkitError, RuntimeError):
    """The run cannot go on (a non-finite loss); the message says what was kept."""


def report_changes(report: Callable[[dict], None], changed: dict[str, tuple]) -> None:
    """Say which settings a resumed run changes (check_kept's answer), as a "message" event."""
    if changed:
        report({"event": "message", "text": "resumed with changed settings: " + ", ".join(
            f"{k} {old} -> {new}" for k, (old, new) in changed.items())})


@dataclass
class TrainResult:
    step: int
    train_loss: float | None
    val_loss: float | None
    best_val_loss: float
    seconds: float
    out: Path

    def lines(self, eval_iters: int) -> list[str]:
        """The result in words, as train-gpt prints it (eval_iters: the validation batches each loss is over)."""
        written = ", ".join(name for name in GPT_FILES.written if (self.out / name).exists())
        val = ("no val split" if self.val_loss is None else
               f"val loss {self.val_loss:.4f} on --eval-iters {eval_iters} batches, best {self.best_val_loss:.4f}")
        return [f"trained {counted(self.step, 'step')} in {self.seconds:.1f} s; {val}; wrote {written} in {self.out}"]


def _unwrapped(model: torch.nn.Module) -> GPT:
    """The plain GPT inside DDP and torch.compile wrappers (its state dict has no prefixes)."""
    model = model.module if isinstance(model, DDP) else model
    return getattr(model, "_orig_mod", model)


@torch.no_grad()
def mean_loss(model: torch.nn.Module, data: TokenData, batch_size: int, block_size: int, device: torch.device,
             autocast: Any = None, max_batches: int | None = None) -> dict:
    """Mean loss over the pinned windows of a split (the first max_batches batches; None: all of them),
    bits per byte, and the number of tokens scored."""
    model.eval()
    total, count = torch.zeros((), device=device), torch.zeros((), device=device)
    for x, y in eval_batches(data, batch_size, block_size, device, max_batches=max_batches):
        with autocast or nullcontext():
            _, loss = model(x, y)
        total += loss.float() * y.numel()
        count += y.numel()
    if dist.is_initialized():
        dist.all_reduce(total)
        dist.all_reduce(count)
    model.train()
    loss = (total / count).item()
    # nats per token -> bits per byte, with the split's bytes per token (comparable across tokenizers)
    return {"loss": loss, "bpb": loss / math.log(2) * data.tokens / max(data.bytes, 1), "tokens": int(count.item())}


def evaluate_checkpoint(checkpoint: str | os.PathLike, data_dir: str | os.PathLike, split: str = "val",
                        max_batches: int | None = None, batch_size: int | None = None,
                        device: str = "auto") -> dict:
    """A train-gpt checkpoint's loss and bits per byte on a split of prepared data made with its tokenizer
    (the whole split unless max_batches): bits per byte compares runs whose tokenizers differ."""
    where = pick_device(device)
    state = load_checkpoint(checkpoint, map_location=where)
    model = gpt_from_state(state, checkpoint, where)
    data = TokenData(data_dir, split)
    theirs = tokenizer_info(state, checkpoint)
    if theirs.identity() != data.manifest.tokenizer.identity():
        raise CheckpointError(f"{checkpoint} was trained with another tokenizer ({theirs.describe()}) than {data_dir} "
                              f"holds ({data.manifest.tokenizer.describe()}); evaluate on data prepared with its own")
    size = batch_size or state.get("train_config", {}).get("batch_size", 8)
    result = mean_loss(model, data, size, model.config.block_size, where, max_batches=max_batches)
    return {**result, "step": state.get("step"), "split": split}


def kept_when_stopped(cfg: TrainConfig) -> str:
    """What a stopped run (Ctrl-C, SIGTERM) has kept, in words (latest.pt, written at each evaluation), and how to
    go on from it."""
    return f"{cfg.out} keeps its last checkpoint; continue with: gptkit train-gpt --out {cfg.out} --resume"


def evaluation_line(result: dict, checkpoint: str | os.PathLike, data_dir: str | os.PathLike,
                    max_batches: int | None = None) -> str:
    """evaluate_checkpoint's result as one line for a person: what was scored on what, and how much of it."""
    scored = "the whole split" if max_batches is None else f"its first {counted(max_batches, 'batch', 'batches')}"
    return (f"{checkpoint} (step {result['step']}) on {data_dir} {result['split']}: loss {result['loss']:.4f} "
            f"nats/token, {result['bpb']:.4f} bits/byte, over {scored} ({counted(result['tokens'], 'token')})")


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


def prepare_run_data(inputs: Sequence[str], out: str | os.PathLike, tokenizer: str) -> PrepareResult:
    """train-gpt --input: prepare text files on the fly into OUT/data (10% of the documents for validation,
    <|endoftext|> before each document except with the char tokenizer); up to date or resumed as prepare is."""
    if Launch.from_env().ddp:
        raise ConfigError("with torchrun, prepare the data first (gptkit prepare ... --output DIR) and pass --data DIR")
    return prepare(PrepareConfig(list(inputs), str(Path(out) / DATA_DIR), tokenizer, val_fraction=0.1,
                                 delimiter=None if tokenizer == "char" else ENDOFTEXT))


def train(cfg: TrainConfig, callback: Callable[[dict], None] | None = None) -> TrainResult:
    """Train (or resume) a GPT; callback gets a dict per event: "start" (device, dtype, parameters, shape,
    tokens per step, steps, evaluation interval), "resumed", "step" (logged steps), "eval" and "message"."""
    report = callback or (lambda event: None)
    launch = Launch.from_env()
    if launch.ddp:
        backend = "nccl" if torch.cuda.is_available() and cfg.device in ("auto", "cuda") else "gloo"
        dist.init_process_group(backend)
    try:
        # rank 0 writes the run directory, and is its one writer
        with exclusive_directory(cfg.out) if launch.master else nullcontext():
            trainer = Trainer(cfg, report, launch)
            try:
                return trainer.run()
            except BaseException:
                if launch.master and trainer.leaves_nothing:
                    trainer.discard()  # a run that could not take its first step leaves nothing like a result
                raise
            finally:
                del trainer  # DDP's reducer must go before its process group: destroyed after, it aborts the process
                gc.collect()
    finally:
        if launch.ddp:
            dist.destroy_process_group()


class Trainer:
    """One run, in the order it happens: the device, the data, the model (fresh or resumed), then steps.

    Each part reads alone: __init__ builds everything a step needs, step() is one optimizer
    step, checkpoint_and_evaluate() writes latest.pt and evaluates, run() is the loop. The
    order of the random draws (initial weights, then each rank's dropout seed, then the
    resumed RNG state) is part of the contract: a resumed run is bit-for-bit the run that was
    not interrupted.
    """

    def __init__(self, cfg: TrainConfig, report: Callable[[dict], None], launch: Launch) -> None:
        self.cfg, self.report, self.launch = cfg, report, launch
        self.out = Path(cfg.out)
        if launch.master and not cfg.resume:
            self._claim_directory()
        self._setup_device()
        self._load_data()
        state = load_checkpoint(self.out / LATEST, map_location="cpu") if cfg.resume else None
        self._build_model(state)
        if state is not None:
            self._restore(state)
        self.batches = RandomBatches(self.train_data, cfg.batch_size, self.model_config.block_size, cfg.seed,
                                     self.device)
        self.batches.step = self.step * cfg.grad_accum  # the data stream goes on where it stopped
        # under the same name as in the data directory, so TokenizerInfo.load finds it (None for gpt2 / gpt4)
        self.tokenizer_file = self.train_data.manifest.tokenizer.file
        self.runner = self._wrap(self.model)
        self.metrics_rows = self._open_metrics()

    # --- setup -------------------------------------------------------------------------------------------
    def _claim_directory(self) -> None:
        """A fresh run: refuse a directory that holds a run, unless told to overwrite it."""
        claim_run(self.out, GPT_FILES, self.cfg.overwrite)

    def _setup_device(self) -> None:
        device = pick_device(self.cfg.device)
        if self.launch.ddp and device.type == "cuda":
            device = torch.device("cuda", self.launch.local_rank)
            torch.cuda.set_device(device)
        self.device = device
        self.dtype = pick_dtype(self.cfg.dtype, device)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls on Ampere and newer
            torch.backends.cudnn.allow_tf32 = True
        self.autocast = torch.autocast(device.type, dtype=self.dtype) if self.dtype != torch.float32 else nullcontext()

    def _load_data(self) -> None:
        cfg = self.cfg
        if not cfg.data:
            raise ConfigError("no data: give a prepared data directory (python cli.py prepare ... --output DIR)")
        self.train_data = TokenData(cfg.data, "train")
        val_split = self.train_data.manifest.splits.get("val")
        self.val_data = TokenData(cfg.data, "val") if val_split is not None and val_split.tokens else None
        self.manifest_sha = file_sha256(Path(cfg.data) / MANIFEST)
        self.tokenizer = asdict(self.train_data.manifest.tokenizer)

    def _build_model(self, state: dict | None) -> None:
        cfg = self.cfg
        if state is not None:
            theirs, ours = state["tokenizer"], self.tokenizer
            if theirs["sha256"] != ours["sha256"] or theirs["type"] != ours["type"]:
                raise CheckpointError(
                    f"{self.out / LATEST} was trained with another tokenizer ({theirs['type']}) than "
                    f"{cfg.data} holds ({ours['type']}); resume on the same data"
                )
            if state.get("data_manifest_sha256") != self.manifest_sha:
                raise CheckpointError(
                    f"{self.out / LATEST} was trained on other data than {cfg.data} holds (its manifest differs); "
                    "resume on the same data directory"
                )
            report_changes(self.report, check_kept(saved_train_config(state, self.out / LATEST), cfg,
                                                   self.out / LATEST))
            self.model_config = checked_model_config(state, self.out / LATEST)
            init = None
        elif cfg.init_from:
            init = self._pretrained()
            cfg = self.cfg
        else:
            self.model_config, init = cfg.model_config(self.train_data.vocab_size), None
        if self.model_config.vocab_size < self.train_data.vocab_size:
            raise CheckpointError(
                f"the model has {self.model_config.vocab_size} token ids, but the data needs "
                f"{self.train_data.vocab_size}"
            )
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.model = GPT(self.model_config).to(self.device)
        if init is not None:
            self.model.load_state_dict(init)
        if cfg.fsdp:  # before the optimizer: sharding replaces the parameters with their shards
            if not self.launch.ddp:
                raise ConfigError("--fsdp shards the model across the processes torchrun starts: launch with "
                                  "torchrun (docs/training.md#ddp)")
            if self.dtype == torch.float16:
                raise ConfigError("--fsdp trains in bfloat16 or float32, and this GPU has no bfloat16: give "
                                  "--dtype float32")
            fsdp.shard(self.model, self.device)
        if self.launch.rank:
            torch.manual_seed(cfg.seed + self.launch.rank)  # but each rank its own dropout masks
        self.optimizer, self.muon = build_optimizers(
            self.model, cfg.optimizer, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), cfg.muon_lr,
            cfg.muon_momentum, cfg.muon_weight_decay, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        self.step, self.best_val = 0, float("inf")
        self.saved_step: int | None = None  # the step of the latest.pt this process wrote or resumed from

    def _pretrained(self) -> dict[str, torch.Tensor]:
        """A fresh run from a pretrained model (GPT-2, Qwen3 or Llama, on the data's own tokenizer): its
        architecture and shape (the context cut to block_size if that is shorter) become the run's, recorded in its
        settings as if given, and its weights are the start. A block_size longer than its context is refused:
        positions it never learned cannot be made up."""
        pretrained = load_pretrained(self.cfg.init_from, self.train_data.manifest.tokenizer)
        context = pretrained.config.block_size
        if self.cfg.block_size is not None and self.cfg.block_size > context:
            raise CheckpointError(f"block_size {self.cfg.block_size} is longer than {self.cfg.init_from}'s context of "
                                  f"{context} tokens: give --block-size {context} or less, or leave it out")
        block = context if self.cfg.block_size is None else self.cfg.block_size
        self.model_config = c = replace(pretrained.config, block_size=block, dropout=self.cfg.dropout)
        gpt2 = c.arch == "gpt2"
        self.cfg = replace(self.cfg, arch=c.arch, n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd,
                           n_kv_head=None if gpt2 else c.n_kv_head, block_size=block, bias=c.bias,
                           gelu=c.gelu if gpt2 else self.cfg.gelu)
        weights = pretrained.state_dict()
        if gpt2:  # nanoGPT's crop_block_size (rotary positions have no table to crop)
            weights["transformer.wpe.weight"] = weights["transformer.wpe.weight"][:block]
        return weights

    def _restore(self, state: dict) -> None:
        """Continue exactly where the checkpoint stopped: weights, optimizer, scaler, step, RNG."""
        if self.cfg.fsdp:
            fsdp.load_full_states(self.model, self.optimizer, state["model"], state["optimizer"])
        else:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        if self.muon is not None:
            self.muon.load_state_dict(state["muon"])
        if state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.best_val = state["step"], state["best_val_loss"]
        self.saved_step = self.step
        if self.launch.rank == 0:  # the checkpoint holds rank 0's RNG; the others draw afresh from (seed, rank, step)
            set_rng_states(state["rng"], self.device)
        else:
            torch.manual_seed(self.cfg.seed + self.launch.rank + 1_000_003 * self.step)
        self.report({"event": "resumed", "step": self.step})

    def _wrap(self, model: GPT) -> torch.nn.Module:
        """The module that runs the steps: the model, compiled if asked and possible, inside DDP when launched so."""
        runner: torch.nn.Module = model
        if self.cfg.compile:
            problem = compile_problem(self.device)
            if problem:
                self.report({"event": "message", "text": f"--compile is off: {problem}"})
            else:
                runner = torch.compile(model)
        if self.launch.ddp and not self.cfg.fsdp:  # a sharded model gathers and reduces by itself
            runner = DDP(runner, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        return runner

    def _open_metrics(self) -> list[dict]:
        """metrics.jsonl's rows so far (rank 0 only writes it): none for a fresh run; on resume, the rows up to
        the checkpoint's step, the file cut back to them (the rows logged after it are logged again, and so is
        the evaluation at its step)."""
        path = self.out / METRICS
        if not self.launch.master or not self.cfg.resume or not path.exists():
            return []
        # the evaluation at the checkpoint's own step runs again on resume (a kill can fall between the checkpoint
        # and its evaluation's row), so its row goes too
        rows = [row for row in read_metrics(path) if row.get("step", 0) < self.step
                or (row.get("step") == self.step and row.get("event") != "eval")]
        atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
        return rows

    # --- the run ------------------------------------------------------------------------------------------
    def log(self, row: dict) -> None:
        self.report(row)
        if self.launch.master:
            self.metrics_rows.append(row)
            with open(self.out / METRICS, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    def snapshot(self) -> dict:
        """Everything --resume needs to continue bit for bit, and what generate needs to sample. Sharded (--fsdp),
        every rank must call it: the whole tensors are gathered on rank 0, the one that saves them."""
        if self.cfg.fsdp:
            weights, optimizer = fsdp.full_states(self.model, self.optimizer)
        else:
            weights, optimizer = _unwrapped(self.model).state_dict(), self.optimizer.state_dict()
        return {
            "model_config": asdict(self.model_config),
            "model": weights,
            "optimizer": optimizer,
            "muon": self.muon.state_dict() if self.muon is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "step": self.step,
            "best_val_loss": self.best_val,
            "rng": rng_states(self.device),
            "train_config": asdict(self.cfg),
            "tokenizer": self.tokenizer,
            "data_manifest_sha256": self.manifest_sha,
        }

    def checkpoint_and_evaluate(self, train_loss: float | None, start_time: float) -> float | None:
        """Evaluate, then write latest.pt (and best.pt when the loss improved); the validation loss (None without
        a val split). A state whose loss is not finite is never written: TrainingError names the last good one."""
        # without a val split, one batch of training windows checks the state: finite weights can still give nan
        data, batches = (self.val_data, self.cfg.eval_iters) if self.val_data is not None else (self.train_data, 1)
        result = mean_loss(self.runner, data, self.cfg.batch_size, self.model_config.block_size, self.device,
                          self.autocast, batches)
        val_loss = result["loss"] if self.val_data is not None else None
        if val_loss is not None:
            self.log({"event": "eval", "step": self.step, "val_loss": val_loss, "val_bpb": result["bpb"],
                      "val_tokens": result["tokens"], "train_loss": train_loss,
                      "time": time.perf_counter() - start_time})
        if not math.isfinite(result["loss"]):
            raise TrainingError(f"the {data.split} loss became {result['loss']} at step {self.step}; stopped. "
                                f"{self.last_good()}")
        improved = val_loss is not None and val_loss < self.best_val
        if improved:
            self.best_val = val_loss
        state = self.snapshot() if self.launch.master or self.cfg.fsdp else None
        if self.launch.master:
            save_checkpoint(self.out / LATEST, state)
            self.saved_step = self.step
            if improved:
                atomic_copy(self.out / LATEST, self.out / BEST)
            if val_loss is not None:
                write_loss_plot(self.out, self.metrics_rows)
        return val_loss

    @property
    def leaves_nothing(self) -> bool:
        """A fresh run that has not taken its first step: if it stops, its directory is emptied (train())."""
        return not self.cfg.resume and self.step == 0

    def last_good(self) -> str:
        """What a run that stops on a non-finite loss keeps, in words."""
        if self.leaves_nothing or self.saved_step is None:
            return "Nothing was kept: try a lower --lr, or --dtype float32"
        return (f"The last good checkpoint, {self.out / LATEST} of step {self.saved_step}, is kept: resume from it "
                "with a lower --lr, or --dtype float32")

    def train_step(self, lr: float) -> torch.Tensor:
        """One optimizer step of grad_accum micro-batches at learning rate lr; the summed loss, on the device."""
        cfg, ddp = self.cfg, self.launch.ddp
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.muon is not None:  # the same schedule, scaled to Muon's own peak
            for group in self.muon.param_groups:
                group["lr"] = lr * cfg.muon_lr / cfg.lr if cfg.lr > 0 else 0.0
        loss_sum = torch.zeros((), device=self.device)
        for micro in range(cfg.grad_accum):
            x, y = next(self.batches)
            # DDP: average gradients across ranks only on the last micro-batch (FSDP reduces each one's)
            sync = nullcontext() if not ddp or cfg.fsdp or micro == cfg.grad_accum - 1 else self.runner.no_sync()
            with sync, self.autocast:
                _, loss = self.runner(x, y)
                loss = loss / cfg.grad_accum
            self.scaler.scale(loss).backward()
            loss_sum += loss.detach()
        if not torch.isfinite(loss_sum):
            raise TrainingError(f"the loss became {loss_sum.item()} at step {self.step}; stopped. {self.last_good()}")
        optimizers = [self.optimizer] if self.muon is None else [self.optimizer, self.muon]
        scaled = self.scaler.is_enabled()
        if cfg.grad_clip > 0 or scaled:  # the gradients unscaled: both optimizers' parameters
            for optimizer in optimizers:
                self.scaler.unscale_(optimizer)
        if cfg.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        elif scaled:
            norm = torch.nn.utils.get_total_norm([p.grad for p in self.model.parameters() if p.grad is not None])
        # fp16: a gradient that overflowed skips the whole step, both optimizers' (the scaler would skip only the
        # optimizer that holds it), and the scale halves (update() reads the overflow unscale_ found)
        if not scaled or torch.isfinite(norm).item():
            for optimizer in optimizers:
                self.scaler.step(optimizer)
        self.scaler.update()
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return loss_sum

    def discard(self) -> None:
        """Remove what this run wrote to its directory."""
        discard_run(self.out, GPT_FILES, [self.tokenizer_file])

    def run(self) -> TrainResult:
        cfg = self.cfg
        if self.launch.master and self.tokenizer_file is not None:
            atomic_copy(Path(cfg.data) / self.tokenizer_file, self.out / self.tokenizer_file)
        tokens_per_step = cfg.batch_size * cfg.grad_accum * self.model_config.block_size * self.launch.world_size
        peak = next((v for k, v in PEAK_FLOPS.items()
                     if self.device.type == "cuda" and k in torch.cuda.get_device_name()), None)
        flops_per_step = self.model.flops_per_token() * tokens_per_step
        self.report({"event": "start", "step": self.step, "max_iters": cfg.max_iters,
                     "eval_interval": cfg.eval_interval, "device": str(self.device),
                     "dtype": str(self.dtype).removeprefix("torch."), "params": self.model.num_params(),
                     "n_layer": self.model_config.n_layer, "n_embd": self.model_config.n_embd,
                     "block_size": self.model_config.block_size, "tokens_per_step": tokens_per_step,
                     # the start line names an architecture other than GPT-2's, the default
                     **({"model": f"a {self.model_config.arch} GPT"} if self.model_config.arch != "gpt2" else {})})
        start_time = t0 = time.perf_counter()
        start_step = last_log = self.step
        val_loss = None
        # the last logged training loss, which an evaluation row repeats (a resumed run's from its log)
        train_loss = next((r["train_loss"] for r in reversed(self.metrics_rows) if r.get("event") == "step"), None)
        while self.step < cfg.max_iters:
            if self.step % cfg.eval_interval == 0:  # a resumed run too: evaluating is deterministic
                val_loss = self.checkpoint_and_evaluate(train_loss, start_time)
                if cfg.stop_at_val is not None and val_loss is not None and val_loss <= cfg.stop_at_val:
                    # every rank sees the same (all-reduced) loss, so all stop here together
                    self.report({"event": "message", "text": f"val loss {val_loss:.4f} <= --stop-at-val "
                                 f"{cfg.stop_at_val}: stopped at step {self.step}"})
                    return TrainResult(self.step, train_loss, val_loss, self.best_val,
                                       time.perf_counter() - start_time, self.out)
            lr = learning_rate(self.step, cfg)
            loss_sum = self.train_step(lr)
            if self.step % cfg.log_interval == 0 or self.step == cfg.max_iters:
                train_loss = loss_sum.item()  # syncs with the device: only when logging
                seconds, steps = time.perf_counter() - t0, self.step - last_log
                t0, last_log = time.perf_counter(), self.step
                row = {"event": "step", "step": self.step, "train_loss": train_loss, "lr": lr,
                       "tokens_per_s": tokens_per_step * steps / seconds}
                if peak is not None:
                    row["mfu"] = flops_per_step * steps / seconds / peak
                self.log(row)
        if self.step > start_step or not cfg.resume:
            val_loss = self.checkpoint_and_evaluate(train_loss, start_time)
        return TrainResult(self.step, train_loss, val_loss, self.best_val, time.perf_counter() - start_time,
                           self.out)
