"""Hugging Face GPT-2 in and out: transformers loads our export with no missing or unexpected weights and
computes our logits and greedy tokens; we load its GPT-2 directories the same way; the rest is refused."""

import json
import sys

import pytest
import torch
from click.testing import CliRunner

from cli import main
from conftest import ROOT, shakespeare_data
from gpt.checkpoint import load_checkpoint, save_checkpoint
from gpt.config import config_from
from gpt.generate import SampleConfig, generate
from gpt.hf import GELU_NAMES, HFError, export_run, load_hf, load_hf_for_sampling
from gpt.model import GELUS, GPT, GPTConfig
from gpt.train import train
from minbpe import GPT2Tokenizer, GPT4Tokenizer
from pipeline.prepare import PrepareConfig, prepare

transformers = pytest.importorskip("transformers", reason="the hf extra: pip install 'gptkit[hf]'")

TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=8, eval_iters=2, eval_interval=10,
            lr=3e-3, min_lr=3e-4, warmup_iters=2, device="cpu")


def their_model(directory):
    model, info = transformers.AutoModelForCausalLM.from_pretrained(str(directory), output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set() and not info["mismatched_keys"]
    return model.eval()


def greedy(model, ids: list[int], n: int) -> list[int]:
    cfg = SampleConfig(n, temperature=0)
    return [int(t[0]) for t in generate(model, torch.tensor([ids]), cfg)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A trained char-level run without biases and with the exact GELU (nanoGPT's training defaults)."""
    root = tmp_path_factory.mktemp("hf")
    data = shakespeare_data(root, 20_000)
    train(config_from(None, data=str(data), out=str(root / "run"), max_iters=30, **TINY))
    return root / "run"


def test_our_run_exported_is_the_same_model_in_transformers(run_dir, tmp_path):
    out = tmp_path / "hf"
    result = CliRunner().invoke(main, ["export", "--checkpoint", str(run_dir), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "generation_config.json", "gptkit.json",
                                                     "model.safetensors", "tokenizer.model"]
    assert "note: no tokenizer.json: a character tokenizer is not byte-level BPE" in result.stderr
    config = json.loads((out / "config.json").read_text())
    assert (config["activation_function"], config["tie_word_embeddings"]) == ("gelu", True)
    ours = load_hf(out)
    theirs = their_model(out)
    idx = torch.randint(0, ours.config.vocab_size, (3, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (ours(idx, targets=idx)[0] - theirs(idx).logits).abs().max() <= 1e-4
    prompt = [5, 17, 3]
    hf_ids = theirs.generate(torch.tensor([prompt]), max_new_tokens=20, do_sample=False,
                             pad_token_id=0).tolist()[0][3:]
    assert greedy(ours, prompt, 20) == hf_ids
    # and `generate` samples from the directory as from the run: the same text for the same seed
    args = ["--prompt", "ROMEO:", "--max-new-tokens", "40", "--seed", "7", "--device", "cpu"]
    from_run = CliRunner().invoke(main, ["generate", "--checkpoint", str(run_dir), *args])
    from_hf = CliRunner().invoke(main, ["generate", "--checkpoint", str(out), *args])
    assert from_hf.exit_code == 0 and from_hf.output == from_run.output
    again = CliRunner().invoke(main, ["export", "--checkpoint", str(run_dir), "--output", str(out)])
    assert again.exit_code == 1 and "exists and is not an empty directory" in again.output


@pytest.mark.parametrize("gelu, tie, bias", [("tanh", False, True), ("exact", True, False)])
def test_every_variant_we_train_maps_to_gpt2(tmp_path, gelu, tie, bias):
    assert set(GELU_NAMES) == set(GELUS)  # every GELU we train has its HF name
    torch.manual_seed(0)
    model = GPT(GPTConfig(50257, 24, 2, 4, 32, bias=bias, tie_weights=tie, gelu=gelu)).eval()
    state = {"model_config": {**model.config.__dict__}, "model": model.state_dict(),
             "tokenizer": {"type": "gpt2", "vocab_size": 50257, "special_tokens": {"<|endoftext|>": 50256}}}
    save_checkpoint(tmp_path / "latest.pt", state)
    written, notes = export_run(tmp_path, tmp_path / "hf")
    assert {"tokenizer.json", "tokenizer_config.json", "tokenizer.tiktoken"} <= {p.name for p in written}
    assert notes == []
    gpt4 = {"type": "gpt4", "vocab_size": 100277, "special_tokens": dict(GPT4Tokenizer().special_tokens)}
    (tmp_path / "hf" / "gptkit.json").write_text(json.dumps({"tokenizer": gpt4}))
    with pytest.raises(HFError, match="tokenizer has 100277 ids, the model 50257"):  # a model too small for its tokens
        load_hf_for_sampling(tmp_path / "hf")
    theirs = their_model(tmp_path / "hf")
    idx = torch.randint(0, 70, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (model(idx, targets=idx)[0] - theirs(idx).logits).abs().max() <= 1e-4


def test_a_transformers_gpt2_loads_and_decodes_greedily_as_transformers_does(tmp_path):
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=50257, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    theirs = transformers.GPT2LMHeadModel(config).eval()
    theirs.save_pretrained(tmp_path / "gpt2-small-random", safe_serialization=True)
    ours, tokenizer = load_hf_for_sampling(tmp_path / "gpt2-small-random")
    assert isinstance(tokenizer, GPT2Tokenizer)  # no gptkit.json: GPT-2's vocabulary, GPT-2's tokenizer
    idx = torch.randint(0, 50257, (2, 64), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (ours(idx, targets=idx)[0] - theirs(idx).logits).abs().max() <= 1e-4
    prompt = tokenizer.encode("Hello, my name is")
    expected = theirs.generate(torch.tensor([prompt]), max_new_tokens=25, do_sample=False,
                               eos_token_id=None, pad_token_id=0).tolist()[0][len(prompt):]
    assert greedy(ours, prompt, 25) == expected


def test_what_gpt2_cannot_be_is_refused(tmp_path):
    config = transformers.GPT2Config(vocab_size=100, n_positions=16, n_embd=32, n_layer=1, n_head=2)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "ok", safe_serialization=True)
    load_hf(tmp_path / "ok")
    raw = json.loads((tmp_path / "ok" / "config.json").read_text())
    for change, why in [({"activation_function": "relu"}, "activation_function 'relu'"),
                        ({"layer_norm_epsilon": 1e-6}, "layer_norm_epsilon"),
                        ({"n_inner": 100}, "n_inner 100 is not 4 x n_embd"),
                        ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx"),
                        ({"model_type": "llama"}, "model_type is 'llama'"),
                        ({"n_layer": 10**9}, "its config asks for a far larger model than the 17 tensors")]:
        (tmp_path / "ok" / "config.json").write_text(json.dumps({**raw, **change}))
        with pytest.raises(HFError, match=why):
            load_hf(tmp_path / "ok")
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "config.json").write_text(json.dumps(raw))
    (tmp_path / "pickled" / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(HFError, match="pickled pytorch_model.bin files are not read"):
        load_hf(tmp_path / "pickled")


def test_without_the_extra_the_message_names_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(HFError, match=r"pip install 'gptkit\[hf\]'"):
        load_hf(tmp_path)


def test_training_starts_from_a_pretrained_gpt2(tmp_path):
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=50257, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    theirs = transformers.GPT2LMHeadModel(config).eval()
    theirs.save_pretrained(tmp_path / "pretrained", safe_serialization=True)
    text = tmp_path / "t.txt"
    text.write_text((ROOT / "data" / "tinyshakespeare.txt").read_text(encoding="utf-8")[:30_000], encoding="utf-8")
    prepare(PrepareConfig([str(text)], str(tmp_path / "data"), "gpt2", val_fraction=0.2))
    common = dict(data=str(tmp_path / "data"), init_from=str(tmp_path / "pretrained"), block_size=32, batch_size=4,
                  eval_iters=2, eval_interval=10, device="cpu", dropout=0.0)
    start = train(config_from(None, out=str(tmp_path / "start"), max_iters=0, **common))
    state = load_checkpoint(tmp_path / "start")
    assert (state["model_config"]["n_layer"], state["model_config"]["n_embd"], state["model_config"]["block_size"]) \
        == (2, 32, 32)  # its shape, the context cut to --block-size
    assert state["train_config"]["n_embd"] == 32  # recorded as the run's own, so a resume checks it
    wpe = theirs.transformer.wpe.weight.detach()[:32]
    assert torch.equal(state["model"]["transformer.wpe.weight"], wpe)
    c_attn = theirs.transformer.h[0].attn.c_attn.weight.detach().t()
    assert torch.equal(state["model"]["transformer.h.0.attn.c_attn.weight"], c_attn)
    tuned = train(config_from(None, out=str(tmp_path / "tuned"), max_iters=30, lr=3e-3, warmup_iters=0, **common))
    assert tuned.val_loss < start.val_loss - 0.5  # fine-tuning from the pretrained weights learns the data
    shaped = CliRunner().invoke(main, ["train-gpt", "--data", str(tmp_path / "data"), "--init-from",
                                       str(tmp_path / "pretrained"), "--n-embd", "64", "--out", str(tmp_path / "x")])
    assert shaped.exit_code == 2 and "the model's shape comes from --init-from" in shaped.output


def test_fetching_gpt2_offline_is_one_clear_error(tmp_path):
    import os
    import subprocess

    (tmp_path / "t.txt").write_text("Some words to train on. " * 200, encoding="utf-8")
    prepare(PrepareConfig([str(tmp_path / "t.txt")], str(tmp_path / "data"), "gpt2", val_fraction=0.2))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}  # no connection is tried
    args = ["train-gpt", "--init-from", "gpt2", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")]
    run = subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    line = run.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: could not fetch gpt2 from the Hugging Face hub") and "give its directory" in line
