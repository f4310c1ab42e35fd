"""The GPU paths: fp16 loss scaling that skips an inf step, checkpoints that move GPU -> CPU -> GPU, the KV
cache on CUDA, and NCCL DDP through torchrun. They skip without a GPU; benchmarks/gpu_check.py runs them
(with the other `cuda` tests) on a machine with a CUDA GPU."""

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, free_port, shakespeare_data
from gpt.checkpoint import LATEST, load_checkpoint, load_model
from gpt.config import config_from
from gpt.device import Launch
from gpt.generate import SampleConfig, generate
from gpt.model import GPT, GPTConfig
from gpt.train import Trainer, train

pytestmark = pytest.mark.cuda

TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=8, dropout=0.0, eval_iters=2,
            eval_interval=10, log_interval=5, lr=3e-3, min_lr=3e-4, warmup_iters=2)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return shakespeare_data(tmp_path_factory.mktemp("data"), 40_000)


# GPT-2 + AdamW with the overflow in the head; modern + Muon with it in a matrix only Muon steps, which must skip
# AdamW's step too
@pytest.mark.parametrize("recipe, overflows", [
    (dict(arch="gpt2"), "lm_head.weight"),
    (dict(arch="modern", optimizer="muon", n_head=4, n_kv_head=2), "transformer.h.0.self_attn.o_proj.weight"),
])
def test_fp16_loss_scaling_skips_a_step_with_inf_gradients(data_dir, tmp_path, recipe, overflows):
    cfg = config_from(None, data=str(data_dir), out=str(tmp_path / "run"), max_iters=10, device="cuda",
                      dtype="float16", **{**TINY, **recipe})
    trainer = Trainer(cfg, lambda event: None, Launch())
    assert trainer.scaler.is_enabled()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    scale = trainer.scaler.get_scale()
    hook = trainer.model.get_parameter(overflows).register_hook(lambda g: torch.full_like(g, float("inf")))
    trainer.train_step(1e-3)  # the scaler finds inf in the gradients: no update, the scale halves
    hook.remove()
    assert all(torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    assert trainer.scaler.get_scale() == scale / 2
    trainer.train_step(1e-3)  # the next step updates
    assert not torch.equal(before[overflows], trainer.model.get_parameter(overflows))
    assert not torch.equal(before["transformer.wte.weight"], trainer.model.transformer.wte.weight)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_a_checkpoint_moves_gpu_to_cpu_and_back(data_dir, tmp_path):
    run_dir = str(tmp_path / "run")
    common = dict(data=str(data_dir), out=run_dir, **{**TINY, "dtype": "float32"})
    first = train(config_from(None, max_iters=10, device="cuda", **common))
    train(config_from(None, max_iters=20, device="cpu", resume=True, **common))
    result = train(config_from(None, max_iters=30, device="cuda", resume=True, **common))
    state = load_checkpoint(tmp_path / "run" / LATEST)
    assert state["step"] == 30 and all(t.device.type == "cpu" for t in state["model"].values())
    # each device draws its own random windows, so this is not the straight run's loss, but the same training
    # went on across both moves: the weights kept learning
    assert result.val_loss < first.val_loss - 0.1


@pytest.mark.parametrize("arch", [dict(arch="gpt2"), dict(arch="modern", n_head=4, n_kv_head=2)])
@pytest.mark.parametrize("sample", [SampleConfig(80, temperature=0), SampleConfig(80, 1.0, top_k=20)])
def test_kv_cache_gives_the_uncached_tokens_on_cuda(sample, arch):
    torch.manual_seed(0)
    shape = {**dict(vocab_size=100, block_size=64, n_layer=2, n_head=2, n_embd=32), **arch}
    model = GPT(GPTConfig(**shape)).cuda().eval()
    idx = torch.randint(0, 100, (3, 5), device="cuda")
    runs = []
    for cached in (True, False):
        cfg = SampleConfig(sample.max_new_tokens, sample.temperature, sample.top_k, use_cache=cached)
        generator = torch.Generator("cuda").manual_seed(1)
        runs.append(torch.stack(list(generate(model, idx, cfg, generator)), 1).cpu())
    assert torch.equal(runs[0], runs[1])


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_a_modern_run_learns_under_autocast(data_dir, tmp_path, dtype):
    """The modern blocks under bf16 / fp16 autocast (RMSNorm in float32, rotary in the attention's dtype) and the
    KV cache that sampling then keeps in that dtype."""
    cfg = config_from(None, data=str(data_dir), out=str(tmp_path / "run"), max_iters=30, device="cuda", dtype=dtype,
                      **{**TINY, "arch": "modern", "n_head": 4, "n_kv_head": 2, "eval_interval": 30})
    result = train(cfg)
    evals = [r for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
             if r["event"] == "eval"]
    assert [r["step"] for r in evals] == [0, 30] and result.val_loss < evals[0]["val_loss"] - 0.5
    model, _ = load_model(tmp_path / "run", "cuda")
    vocab = model.config.vocab_size
    idx = torch.randint(0, vocab, (2, 3), device="cuda")
    with torch.autocast("cuda", dtype=getattr(torch, dtype)):
        runs = [torch.stack(list(generate(model, idx, SampleConfig(40, temperature=0, use_cache=cached))), 1)
                for cached in (True, False)]
    # the first token is the same computation either way; later ones may round apart in half precision
    assert runs[0].shape == (2, 40) and torch.equal(runs[0][:, 0], runs[1][:, 0]) and int(runs[0].max()) < vocab


@pytest.mark.parametrize("sharding", [[], ["--fsdp", "--dtype", "bfloat16"]])  # DDP, and FSDP2 over NCCL
def test_nccl_ddp_through_torchrun(data_dir, tmp_path, sharding):
    port = free_port()
    flags = ["--data", str(data_dir), "--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--block-size", "32",
             "--batch-size", "8", "--max-iters", "10", "--eval-interval", "5", "--eval-iters", "2", "--device", "cuda",
             "--samples", "0", "--out", str(tmp_path / "ddp"), *sharding]
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "--master_port",
                           str(port), str(ROOT / "cli.py"), "train-gpt", *flags], capture_output=True, text=True,
                          env={**os.environ}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_checkpoint(tmp_path / "ddp")
    assert state["step"] == 10 and not any(k.startswith(("module.", "_orig_mod.")) for k in state["model"])
