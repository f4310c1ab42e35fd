"""Hugging Face in and out: transformers loads our export (GPT-2, Qwen3 or Llama) with no missing or unexpected
weights and computes our logits and greedy tokens; we load its GPT-2, Qwen3 and Llama directories the same way,
sample from them and train on from them; whatever we do not compute exactly is refused, naming the file and why."""

import json
import sys

import pytest
import torch
from click.testing import CliRunner

from cli import main
from conftest import ROOT, randomized, shakespeare_data
from gpt.checkpoint import gpt_from_state, load_checkpoint, save_checkpoint
from gpt.config import config_from
from gpt.generate import SampleConfig, generate
from gpt.hf import HFError, export_run, load_hf, load_hf_for_sampling
from gpt.hf_configs import GELU_NAMES
from gpt.model import GELUS, GPT, GPTConfig
from gpt.train import train
from minbpe import GPT2Tokenizer, GPT4Tokenizer
from pipeline.prepare import PrepareConfig, prepare

transformers = pytest.importorskip("transformers", reason="the hf extra: pip install 'gptkit[hf]'")

TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=8, eval_iters=2, eval_interval=10,
            lr=3e-3, min_lr=3e-4, warmup_iters=2, device="cpu")


def their_model(directory, architecture: str = "GPT2LMHeadModel"):
    model, info = transformers.AutoModelForCausalLM.from_pretrained(str(directory), output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set() and not info["mismatched_keys"]
    assert type(model).__name__ == architecture
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
                        ({"model_type": "mistral"}, "model_type is 'mistral', not one of 'gpt2', 'qwen3', 'llama'"),
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


@pytest.fixture(scope="module")
def gpt2_data(tmp_path_factory):
    """Tiny Shakespeare's first 30,000 characters, prepared with GPT-2's tokenizer (a fifth for validation)."""
    root = tmp_path_factory.mktemp("gpt2-data")
    text = root / "t.txt"
    text.write_text((ROOT / "data" / "tinyshakespeare.txt").read_text(encoding="utf-8")[:30_000], encoding="utf-8")
    prepare(PrepareConfig([str(text)], str(root / "data"), "gpt2", val_fraction=0.2))
    return root / "data"


def test_training_starts_from_a_pretrained_gpt2(tmp_path, gpt2_data):
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=50257, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    theirs = transformers.GPT2LMHeadModel(config).eval()
    theirs.save_pretrained(tmp_path / "pretrained", safe_serialization=True)
    common = dict(data=str(gpt2_data), init_from=str(tmp_path / "pretrained"), block_size=32, batch_size=4,
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
    for flags in (["--n-embd", "64"], ["--arch", "modern"]):
        shaped = CliRunner().invoke(main, ["train-gpt", "--data", str(gpt2_data), "--init-from",
                                           str(tmp_path / "pretrained"), *flags, "--out", str(tmp_path / "x"),
                                           "--max-iters", "0", "--device", "cpu"])
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


# --- Qwen3 and Llama ------------------------------------------------------------------------

MODERN_TINY = dict(arch="modern", n_layer=2, n_head=4, n_kv_head=2, n_embd=32, block_size=32, batch_size=8,
                   eval_iters=2, eval_interval=10, lr=3e-3, min_lr=3e-4, warmup_iters=2, device="cpu")


def same_function(ours: GPT, theirs, vocab: int, prompt: list[int]) -> None:
    """Our logits within 1e-4 of transformers', and our greedy tokens its greedy tokens."""
    idx = torch.randint(0, vocab, (2, 16), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (ours(idx, targets=idx)[0] - theirs(idx).logits).abs().max() <= 1e-4
    expected = theirs.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False, eos_token_id=None,
                               pad_token_id=0).tolist()[0][len(prompt):]
    assert greedy(ours, prompt, 12) == expected


def test_a_modern_run_exported_is_qwen3_in_transformers(tmp_path):
    data = shakespeare_data(tmp_path, 20_000)
    train(config_from(None, data=str(data), out=str(tmp_path / "run"), max_iters=20, **MODERN_TINY))
    out = tmp_path / "hf"
    result = CliRunner().invoke(main, ["export", "--checkpoint", str(tmp_path / "run"), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "generation_config.json", "gptkit.json",
                                                     "model.safetensors", "tokenizer.model"]
    ours = gpt_from_state(load_checkpoint(tmp_path / "run"), tmp_path / "run")
    same_function(ours, their_model(out, "Qwen3ForCausalLM"), ours.config.vocab_size, [5, 17, 3])
    args = ["--prompt", "ROMEO:", "--max-new-tokens", "30", "--seed", "7", "--device", "cpu"]
    from_run = CliRunner().invoke(main, ["generate", "--checkpoint", str(tmp_path / "run"), *args])
    from_hf = CliRunner().invoke(main, ["generate", "--checkpoint", str(out), *args])
    assert from_hf.exit_code == 0 and from_hf.output == from_run.output


@pytest.mark.parametrize("qk_norm, tie", [(True, False), (False, False), (True, True), (False, True)])
def test_every_modern_variant_maps_to_qwen3_or_llama(tmp_path, qk_norm, tie):
    """QK-norm or not (Qwen3 or Llama), tied or untied, any MLP width, rotary base and epsilon: config.json says
    each, and transformers computes our function from it."""
    shape = dict(vocab_size=50257, block_size=24, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, arch="modern")
    model = randomized(GPT(GPTConfig(**shape, qk_norm=qk_norm, tie_weights=tie, intermediate_size=100,
                                     rope_theta=50000.0, rms_norm_eps=1e-5)))
    state = {"model_config": {**model.config.__dict__}, "model": model.state_dict(),
             "tokenizer": {"type": "gpt2", "vocab_size": 50257, "special_tokens": {"<|endoftext|>": 50256}}}
    save_checkpoint(tmp_path / "latest.pt", state)
    export_run(tmp_path, tmp_path / "hf")
    name = "Qwen3" if qk_norm else "Llama"
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    expected = {"architectures": [f"{name}ForCausalLM"], "model_type": name.lower(), "vocab_size": 50257,
                "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                "head_dim": 8, "intermediate_size": 100, "rms_norm_eps": 1e-5, "rope_theta": 50000.0,
                "rope_scaling": None, "max_position_embeddings": 24, "tie_word_embeddings": tie, "hidden_act": "silu",
                "attention_bias": False, "bos_token_id": 50256, "eos_token_id": 50256, "torch_dtype": "float32",
                "use_cache": True}
    assert {key: config.get(key) for key in expected} == expected
    if qk_norm:  # no sliding windows
        assert (config["use_sliding_window"], config["layer_types"]) == (False, ["full_attention"] * 2)
    else:
        assert (config["mlp_bias"], config["pretraining_tp"]) == (False, 1)
    same_function(model, their_model(tmp_path / "hf", f"{name}ForCausalLM"), 50257, [464, 3290, 318])
    assert load_hf(tmp_path / "hf").config == model.config  # and back: the same model


def their_random_model(directory, name: str, vocab: int, **config):
    """A tiny transformers Qwen3 or Llama with random weights (every one of them counts), saved in `directory`."""
    shape = dict(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 max_position_embeddings=64, tie_word_embeddings=False)
    if name == "Qwen3":
        shape.update(head_dim=8, intermediate_size=96)  # Qwen3's head_dim defaults to 128, not hidden / heads
    else:
        shape.update(intermediate_size=100)  # a Llama's MLP may be any width
    torch.manual_seed(0)
    theirs = getattr(transformers, f"{name}ForCausalLM")(getattr(transformers, f"{name}Config")(**{**shape, **config}))
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    theirs.save_pretrained(directory, safe_serialization=True)
    return theirs.eval()


@pytest.mark.parametrize("name", ["Qwen3", "Llama"])
def test_a_transformers_qwen3_or_llama_samples_trains_on_and_exports_back(tmp_path, gpt2_data, name):
    theirs = their_random_model(tmp_path / "theirs", name, 50257)
    ours, tokenizer = load_hf_for_sampling(tmp_path / "theirs")
    assert isinstance(tokenizer, GPT2Tokenizer)  # no gptkit.json: GPT-2's vocabulary, GPT-2's tokenizer
    assert (ours.config.arch, ours.config.qk_norm) == ("modern", name == "Qwen3")
    prompt = tokenizer.encode("Hello, my name is")
    same_function(ours, theirs, 50257, prompt)
    expected = theirs.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False, eos_token_id=None,
                               pad_token_id=0).tolist()[0][len(prompt):]
    sampled = CliRunner().invoke(main, ["generate", "--checkpoint", str(tmp_path / "theirs"), "--prompt",
                                        "Hello, my name is", "--temperature", "0", "--max-new-tokens", "8",
                                        "--device", "cpu"])
    assert sampled.exit_code == 0, sampled.output
    assert sampled.stdout == "Hello, my name is" + tokenizer.decode(expected) + "\n"
    # --init-from: a modern run of its shape, starting from its weights
    run = tmp_path / "run"
    common = ["--data", str(gpt2_data), "--out", str(run), "--batch-size", "4", "--eval-iters", "1", "--device",
              "cpu", "--samples", "0"]
    started = CliRunner().invoke(main, ["train-gpt", "--init-from", str(tmp_path / "theirs"), "--block-size", "32",
                                        "--max-iters", "0", *common])
    assert started.exit_code == 0, started.output
    state = load_checkpoint(run)
    assert {k: state["model_config"][k] for k in ("arch", "qk_norm", "n_kv_head", "intermediate_size", "block_size")} \
        == {"arch": "modern", "qk_norm": name == "Qwen3", "n_kv_head": 2, "intermediate_size": 96 if name == "Qwen3"
            else 100, "block_size": 32}
    assert (state["train_config"]["arch"], state["train_config"]["n_kv_head"]) == ("modern", 2)
    assert torch.equal(state["model"]["transformer.h.1.self_attn.k_proj.weight"],
                       theirs.model.layers[1].self_attn.k_proj.weight.detach())
    resumed = CliRunner().invoke(main, ["train-gpt", "--resume", "--max-iters", "2", *common])
    assert resumed.exit_code == 0, resumed.output
    assert load_checkpoint(run)["step"] == 2
    # and out again as the architecture it came in as
    exported = CliRunner().invoke(main, ["export", "--checkpoint", str(run), "--output", str(tmp_path / "back")])
    assert exported.exit_code == 0, exported.output
    assert json.loads((tmp_path / "back" / "config.json").read_text())["model_type"] == name.lower()
    their_model(tmp_path / "back", f"{name}ForCausalLM")


def test_a_transformers_4_config_reads_its_top_level_rope_theta(tmp_path):
    """Configs written before transformers 5 say rope_theta and rope_scaling beside the other fields, not in
    rope_parameters; transformers 5 reads them, and so do we."""
    theirs = their_random_model(tmp_path / "llama", "Llama", 70, rope_parameters={"rope_type": "default",
                                                                                   "rope_theta": 500000.0})
    raw = json.loads((tmp_path / "llama" / "config.json").read_text())
    del raw["rope_parameters"]
    (tmp_path / "llama" / "config.json").write_text(json.dumps({**raw, "rope_theta": 500000.0, "rope_scaling": None}))
    ours = load_hf(tmp_path / "llama")
    assert ours.config.rope_theta == 500000.0
    same_function(ours, theirs, 70, [1, 2, 3])


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def char_data(tmp_path_factory):
    return shakespeare_data(tmp_path_factory.mktemp("char"), 2_000)


COMPUTES = "; gptkit loads only the {} models it computes exactly"
LEFT_OUT = "(a field left out)"


@pytest.mark.parametrize("name, change, reason", [
    ("Qwen3", {"rope_scaling": {"rope_type": "linear", "factor": 2.0}},
     'rope_scaling is {"rope_type": "linear", "factor": 2.0}, not null' + COMPUTES.format("Qwen3")),
    ("Llama", {"rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0}},
     'rope_parameters is {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0}, not the default rotary '
     "positions (rope_type default and a rope_theta only)" + COMPUTES.format("Llama")),
    ("Qwen3", {"attention_bias": True}, "attention_bias is true, not false" + COMPUTES.format("Qwen3")),
    ("Llama", {"mlp_bias": True}, "mlp_bias is true, not false" + COMPUTES.format("Llama")),
    ("Llama", {"hidden_act": "gelu"}, 'hidden_act is "gelu", not "silu"' + COMPUTES.format("Llama")),
    ("Qwen3", {"head_dim": 16}, "head_dim 16 is not hidden_size / num_attention_heads (32 / 4)"
     + COMPUTES.format("Qwen3")),
    ("Qwen3", {"head_dim": LEFT_OUT}, "head_dim 128 is not hidden_size / num_attention_heads (32 / 4)"  # the default
     + COMPUTES.format("Qwen3")),
    ("Qwen3", {"use_sliding_window": True}, "use_sliding_window is true, not false" + COMPUTES.format("Qwen3")),
    ("Qwen3", {"layer_types": ["full_attention", "sliding_attention"]},
     'layer_types holds "sliding_attention", and every layer must be full_attention' + COMPUTES.format("Qwen3")),
    ("Llama", {"pretraining_tp": 2}, "pretraining_tp is 2, not 1" + COMPUTES.format("Llama")),
    ("Llama", {"model_type": "mistral"},
     "model_type is 'mistral', not one of 'gpt2', 'qwen3', 'llama'" + COMPUTES.format("GPT-2, Qwen3, Llama")),
    ("Llama", {"intermediate_size": LEFT_OUT}, "it has no intermediate_size" + COMPUTES.format("Llama")),
    ("Llama", {"num_attention_heads": 3, "head_dim": None},  # null: hidden / heads, which 3 heads do not divide
     "its config does not describe a Llama we build (n_embd (32) must be a multiple of n_head (3))"
     + COMPUTES.format("Llama")),
    # the JSON types of what is read
    ("Qwen3", {"num_key_value_heads": "2"}, 'num_key_value_heads is "2", not a whole number or null'),
    ("Llama", {"rope_parameters": {"rope_type": "default", "rope_theta": "1e4"}},
     'rope_parameters.rope_theta is "1e4", not a number'),
    ("Qwen3", {"attention_bias": 0}, "attention_bias is 0, not true or false"),
])
def test_what_gptkit_does_not_compute_is_refused_naming_the_file_and_why(tmp_path, char_data, name, change, reason):
    their_random_model(tmp_path / "hf", name, 65)
    path = tmp_path / "hf" / "config.json"
    raw = {**json.loads(path.read_text()), **change}
    path.write_text(json.dumps({k: v for k, v in raw.items() if v != LEFT_OUT}))
    with pytest.raises(HFError) as refused:
        load_hf(tmp_path / "hf")
    assert str(refused.value) == f"{path}: {reason}"
    for command in (["generate", "--checkpoint", str(tmp_path / "hf"), "--device", "cpu"],
                    ["train-gpt", "--data", str(char_data), "--init-from", str(tmp_path / "hf"), "--out",
                     str(tmp_path / "run"), "--device", "cpu"]):
        assert error_line(CliRunner().invoke(main, command)) == f"Error: {path}: {reason}"
    assert not (tmp_path / "run").exists()  # nothing written


def test_weights_that_are_not_the_configs_model_are_refused_before_it_is_built(tmp_path):
    their_random_model(tmp_path / "hf", "Qwen3", 65)
    path = tmp_path / "hf" / "config.json"
    raw = json.loads(path.read_text())
    # a Qwen3's weights called a Llama: its QK-norm gains are tensors a Llama does not have
    llama = {k: v for k, v in raw.items() if k not in ("use_sliding_window", "layer_types", "max_window_layers")}
    for config, reason in [({**raw, "num_key_value_heads": 4}, "the file holds model.layers.0.self_attn.k_proj.weight "
                                                               "of shape (16, 32), the config makes (32, 32)"),
                           ({**llama, "model_type": "llama"}, "the file holds model.layers.0.self_attn.k_norm.weight, "
                                                              "which the config does not make"),
                           ({**raw, "num_hidden_layers": 10**9}, "its config asks for a far larger model than the")]:
        path.write_text(json.dumps(config))
        with pytest.raises(HFError) as refused:
            load_hf(tmp_path / "hf")
        assert str(refused.value).startswith(f"{tmp_path / 'hf'}: {reason}")
        line = error_line(CliRunner().invoke(main, ["generate", "--checkpoint", str(tmp_path / "hf")]))
        assert line == f"Error: {refused.value}"


def test_init_from_needs_the_models_own_tokenizer_on_the_data(tmp_path, char_data):
    """The ids a model reads must be those the data was prepared with: its gptkit.json's tokenizer, or GPT-2's for
    GPT-2's vocabulary; a Qwen3 or Llama that names no tokenizer gptkit knows is refused."""
    run = ["train-gpt", "--data", str(char_data), "--out", str(tmp_path / "run"), "--device", "cpu", "--max-iters", "0",
           "--eval-iters", "1", "--batch-size", "2", "--block-size", "16", "--samples", "0", "--init-from"]
    their_random_model(tmp_path / "unknown", "Llama", 70)
    assert error_line(CliRunner().invoke(main, [*run, str(tmp_path / "unknown")])) == (
        f"Error: {tmp_path / 'unknown'}: no gptkit.json names its tokenizer, and its 70 ids are not GPT-2's 50257; "
        "gptkit trains only on ids of a tokenizer it knows")
    their_random_model(tmp_path / "gpt2", "Qwen3", 50257)
    line = error_line(CliRunner().invoke(main, [*run, str(tmp_path / "gpt2")]))
    assert line.startswith(f"Error: {tmp_path / 'gpt2'}: its model reads the ids of gpt2, 50,257 tokens, and the data "
                           "was prepared with char (") and line.endswith("prepare the data with the model's tokenizer")
    assert not (tmp_path / "run").exists()
    # its gptkit.json naming the data's own tokenizer (as an export of a run on that data does): it trains on
    record = json.loads((char_data / "manifest.json").read_text())["tokenizer"]
    (tmp_path / "unknown" / "gptkit.json").write_text(json.dumps({"tokenizer": record}))
    (tmp_path / "unknown" / "tokenizer.model").write_bytes((char_data / "tokenizer.model").read_bytes())
    started = CliRunner().invoke(main, [*run, str(tmp_path / "unknown")])
    assert started.exit_code == 0, started.output
