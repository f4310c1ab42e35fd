"""The modern char-GPT (gpt-modern): gpt/model.py's modern architecture in the lab, trained with Muon for its
blocks' matrices and AdamW for the rest; trained, sampled, listed and tabled as the lab's other models."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import torch
from click.testing import CliRunner

import gpt.char.baselines as baselines
from cli import main
from conftest import ROOT
from gpt.char.baselines import LONGEST_FIRST, markdown_table, run_baselines
from gpt.char.data import BOUNDARY, LineData
from gpt.char.models import REGISTRY, build_model
from gpt.char.train import char_config, char_nll, model_args, train_char
from gpt.checkpoint import load_checkpoint
from gpt.generate import SampleConfig
from gpt.model import GPTConfig
from gpt.runs import RunSampler
from gptkit_base.errors import ConfigError
from playground.runs import RunIndex

NAMES = ROOT / "data" / "names.txt"
TINY = dict(n_layer=1, n_embd=32)  # a model that trains in a second


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("small") / "names2k.txt"
    path.write_text("\n".join(NAMES.read_text().splitlines()[:2000]) + "\n")
    return str(path)


def test_the_recipe_is_the_registrys_and_builds_the_modern_architecture():
    """The recipe docs/char-level.md and docs/benchmarks.md give, applied by char_config and recorded in the
    model's arguments: Qwen3's blocks (no biases, an untied head), Muon beside AdamW."""
    recipe = REGISTRY["gpt-modern"].recipe
    assert recipe == dict(block_size=0, n_layer=4, n_head=4, n_embd=64, max_steps=4_000, batch_size=64, lr=[1e-2],
                          weight_decay=0.01, dropout=0.05, ema=0.999, optimizer="muon", muon_lr=0.01)
    cfg = char_config("gpt-modern")
    assert {k: getattr(cfg, k) for k in recipe} == recipe
    config = GPTConfig(**model_args(replace(cfg, block_size=16), 27))
    assert (config.arch, config.bias, config.tie_weights, config.n_kv_head) == ("modern", False, False, 4)
    assert REGISTRY["gpt-modern"].reference[:2] == ("test", 1.92)
    assert LONGEST_FIRST.index("gpt-modern") > LONGEST_FIRST.index("gpt")  # its time is a fraction of gpt's
    with pytest.raises(ConfigError, match="muon optimizes a GPT's matrices"):
        char_config("mlp", optimizer="muon")
    with pytest.raises(ConfigError, match="optimizer must be adamw or muon"):
        char_config("gpt-modern", optimizer="sgd")


def test_the_initialisation_is_pytorchs_with_the_output_projections_at_zero():
    """makemore's recipe (PyTorch's defaults: embeddings N(0, 1), Linear weights U(-1/sqrt(fan_in), +)) where the
    modern architecture draws weights, and its identity start where it has zeros (o_proj, down_proj)."""
    torch.manual_seed(0)
    model = build_model("gpt-modern", model_args(char_config("gpt-modern", block_size=16, n_embd=128), 27))
    wte = model.transformer.wte.weight
    assert wte.std().item() == pytest.approx(1.0, abs=0.05)
    for name, p in model.named_parameters():
        if name.endswith(("o_proj.weight", "down_proj.weight")):
            assert not p.any(), name
        elif name.endswith("_proj.weight") or name == "lm_head.weight":
            bound = 1 / math.sqrt(p.size(1))
            assert p.abs().max().item() <= bound and p.abs().max().item() > 0.95 * bound, name
        elif name != "transformer.wte.weight":
            assert torch.equal(p, torch.ones_like(p)), name  # RMSNorm gains


def test_a_step_is_muon_on_the_blocks_matrices_and_adamw_on_the_rest(tmp_path):
    """Two full-batch steps of train_char equal torch.optim.Muon and AdamW applied by hand: Muon (momentum 0.95,
    Keller Jordan's shape scaling) to the 2-D weights inside the blocks, AdamW to the embedding, the head and the
    norm gains (weight decay on the matrices only), from the same initial weights."""
    small = tmp_path / "names300.txt"
    small.write_text("\n".join(NAMES.read_text().splitlines()[:300]) + "\n")
    cfg = char_config("gpt-modern", input=str(small), out=str(tmp_path / "run"), max_steps=2, batch_size=0, dropout=0.0,
                      ema=0.0, lr=[3e-3], muon_lr=0.03, weight_decay=0.1, num_samples=0, **TINY)
    train_char(cfg)
    state = load_checkpoint(tmp_path / "run")

    torch.manual_seed(cfg.seed)
    model = build_model("gpt-modern", state["model_args"])
    x, y = LineData(small).rows("train", model.layout)
    named = dict(model.named_parameters())
    matrices = [p for n, p in named.items() if n.startswith("transformer.h.") and p.dim() == 2]
    rest = [p for n, p in named.items() if not (n.startswith("transformer.h.") and p.dim() == 2)]
    assert len(matrices) == 7 and {n for n, p in named.items() if p.dim() == 2} - {
        n for n in named if n.startswith("transformer.h.")} == {"transformer.wte.weight", "lm_head.weight"}
    muon = torch.optim.Muon(matrices, lr=0.03, momentum=0.95, weight_decay=0.0, adjust_lr_fn="original")
    adamw = torch.optim.AdamW([{"params": [p for p in rest if p.dim() == 2], "weight_decay": 0.1},
                               {"params": [p for p in rest if p.dim() == 1], "weight_decay": 0.0}],
                              lr=3e-3, betas=(0.9, 0.99), fused=True)
    for _ in range(2):
        _, loss = model(x, y, bos=BOUNDARY)
        muon.zero_grad()
        adamw.zero_grad()
        loss.backward()
        adamw.step()
        muon.step()
    trained = state["training"]["model"]
    for name, p in model.state_dict().items():
        assert torch.equal(trained[name], p), name
    assert state["training"]["muon"]["param_groups"][0]["lr"] == pytest.approx(0.03)
    assert state["train_config"]["optimizer"] == "muon"


@pytest.fixture(scope="module")
def cli_run(small, tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "modern"
    result = CliRunner().invoke(main, ["train-char", "--model", "gpt-modern", "--input", small, "--out", str(run),
                                       "--max-steps", "300", "--n-layer", "1", "--n-embd", "32", "--ema", "0.9",
                                       "--num-samples", "3"])
    assert result.exit_code == 0, result.output
    return run, result


def test_it_trains_through_the_cli_and_learns(small, cli_run):
    run, result = cli_run
    assert "training gpt-modern on cpu in float32: 18,224 parameters" in result.stderr
    assert result.stdout.startswith("gpt-modern: 18,224 parameters, 300 steps in ")
    model = build_model("gpt-modern", load_checkpoint(run)["model_args"])  # untrained: the same shape, seed 42
    data = LineData(small)
    before = char_nll(model, data, "val", torch.device("cpu"))
    after = load_checkpoint(run)["nll"]
    assert after["train"] < 2.5 < before and after["val"] < 2.6  # the bigram counts reach 2.45 on train


def test_generate_samples_from_it(cli_run):
    run, _ = cli_run
    result = CliRunner().invoke(main, ["generate", "--checkpoint", str(run), "--num-samples", "4", "--prompt", "em",
                                       "--seed", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 4 and all(line.startswith("em") and line.isalpha() and line.islower() for line in lines)


def test_the_playground_lists_and_samples_it_as_a_char_run(cli_run):
    run, _ = cli_run
    index = RunIndex(run.parent)
    assert index.runs() == {"modern": run}
    info = index.info(run)
    assert (info.kind, info.model, info.step) == ("char", "gpt-modern (26 characters)", 300)
    assert info.settings["optimizer"] == "muon"
    sampler = RunSampler(run, device="cpu")
    texts = ["".join(pieces) for pieces in sampler.samples("em", SampleConfig(20), 3, seed=1)]
    assert len(texts) == 3 and all(t.isalpha() for t in texts)


def test_a_baselines_row(small, tmp_path, monkeypatch):
    """baselines trains it with its recipe (shrunk here to a tiny model) and tables it with its reference. The
    workers are threads: a spawned process would import the recipe afresh, not this test's."""
    tiny = replace(REGISTRY["gpt-modern"], recipe={**REGISTRY["gpt-modern"].recipe, "max_steps": 100, **TINY})
    monkeypatch.setitem(REGISTRY, "gpt-modern", tiny)
    monkeypatch.setattr(baselines, "ProcessPoolExecutor", lambda workers, mp_context: ThreadPoolExecutor(workers))
    rows = run_baselines(small, str(tmp_path), models=("gpt-modern",), workers=1)
    assert [r.model for r in rows] == ["gpt-modern"]
    row = rows[0]
    state = load_checkpoint(tmp_path / "gpt-modern")
    assert state["step"] == 100 and state["nll"] == {"train": row.train, "val": row.val, "test": row.test}
    assert row.params == sum(t.numel() for t in state["model"].values())
    table = markdown_table(rows).splitlines()
    assert table[0] == "| model | params | train | val | test | time s | reference |"
    assert table[2] == (f"| gpt-modern | {row.params:,} | {row.train:.4f} | {row.val:.4f} | {row.test:.4f} | "
                        f"{row.seconds:.1f} | test 1.92 |")
    record = json.loads((tmp_path / "baselines.json").read_text())["rows"][0]
    assert record["model"] == "gpt-modern" and record["reference"]["nll"] == 1.92
