"""The modern architecture (GPTConfig(arch="modern")): Qwen3's blocks, checked against formulas written here and
against transformers' own Qwen3 (and Llama, without QK-norm), then sampled, checkpointed and trained like GPT-2's."""

import math
from dataclasses import asdict

import pytest
import torch
from click.testing import CliRunner

from cli import main
from conftest import randomized, shakespeare_data
from gpt.checkpoint import LATEST, CheckpointError, gpt_from_state, load_checkpoint
from gpt.config import config_from, resume_config
from gpt.generate import SampleConfig, generate
from gpt.model import GPT, GPTConfig
from gpt.modern import RMSNorm, Rotary, rotate
from gpt.train import train
from gptkit_base.errors import ConfigError

V, BLOCK, LAYERS, HEADS, KV_HEADS, WIDTH = 65, 16, 2, 4, 2, 32
HEAD = WIDTH // HEADS


def modern(**overrides) -> GPT:
    torch.manual_seed(0)
    shape = dict(vocab_size=V, block_size=BLOCK, n_layer=LAYERS, n_head=HEADS, n_kv_head=KV_HEADS, n_embd=WIDTH,
                 arch="modern")
    return GPT(GPTConfig(**{**shape, **overrides}))


# --- the blocks against their formulas ---------------------------------------------------


def test_names_shapes_and_parameter_counts():
    model = modern()
    hidden = 128  # 8/3 x 32 = 85.3, rounded up to a multiple of 64
    layer = {"input_layernorm.weight": (WIDTH,), "post_attention_layernorm.weight": (WIDTH,),
             "self_attn.q_proj.weight": (HEADS * HEAD, WIDTH), "self_attn.k_proj.weight": (KV_HEADS * HEAD, WIDTH),
             "self_attn.v_proj.weight": (KV_HEADS * HEAD, WIDTH), "self_attn.o_proj.weight": (WIDTH, HEADS * HEAD),
             "self_attn.q_norm.weight": (HEAD,), "self_attn.k_norm.weight": (HEAD,),
             "mlp.gate_proj.weight": (hidden, WIDTH), "mlp.up_proj.weight": (hidden, WIDTH),
             "mlp.down_proj.weight": (WIDTH, hidden)}
    expected = {"transformer.wte.weight": (V, WIDTH), "transformer.ln_f.weight": (WIDTH,),
                "lm_head.weight": (V, WIDTH),
                **{f"transformer.h.{i}.{name}": shape for i in range(LAYERS) for name, shape in layer.items()}}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected  # no wpe, no bias, no rotary table
    total = sum(math.prod(shape) for shape in expected.values())
    assert model.num_params(non_embedding=False) == total
    assert model.num_params() == total - V * WIDTH  # the token table is looked up; the untied head is computed
    assert model.flops_per_token() == 6 * (total - V * WIDTH) + 12 * LAYERS * WIDTH * BLOCK
    assert [GPTConfig(n_embd=n, n_head=4, arch="modern").intermediate_size for n in (128, 384, 768)] == \
        [384, 1024, 2048]


def test_rmsnorm_is_its_formula():
    norm = RMSNorm(6, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 7.0))
    x = torch.randn(3, 5, 6) * 4
    expected = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * torch.arange(1.0, 7.0)
    assert torch.allclose(norm(x), expected, atol=1e-6)


def test_rotary_turns_each_pair_by_its_positions_angle():
    head, theta, positions = 8, 10000.0, 12
    cos, sin = Rotary(head, theta)(torch.arange(positions))
    x = torch.randn(2, 3, positions, head)
    got = rotate(x, cos, sin)
    expected = torch.empty_like(x)
    half = head // 2
    for p in range(positions):
        for i in range(half):
            angle = p * theta ** (-2 * i / head)
            a, b = x[..., p, i], x[..., p, i + half]
            expected[..., p, i] = a * math.cos(angle) - b * math.sin(angle)
            expected[..., p, i + half] = a * math.sin(angle) + b * math.cos(angle)
    assert torch.allclose(got, expected, atol=1e-5)
    # what rotary is for: a query and a key score by how far apart they are, not where they are
    q, k = torch.randn(head), torch.randn(head)
    at = {p: (rotate(q, cos[0, p], sin[0, p]), rotate(k, cos[0, p - 3], sin[0, p - 3])) for p in (3, 7, 11)}
    scores = [float(a @ b) for a, b in at.values()]
    assert scores == pytest.approx([scores[0]] * 3, abs=1e-5)


def test_qk_norm_untied_head_and_blocks_that_start_as_the_identity():
    model = modern().eval()
    assert model.lm_head.weight is not model.transformer.wte.weight
    for block in model.transformer.h:
        assert not block.self_attn.o_proj.weight.any() and not block.mlp.down_proj.weight.any()
    x = torch.randint(0, V, (2, BLOCK))
    with torch.no_grad():
        logits, _ = model(x, x)
        alone = model.lm_head(model.transformer.ln_f(model.transformer.wte(x)))  # every block adds zero at first
    assert torch.allclose(logits, alone, atol=1e-6)
    # QK-norm: queries and keys are normalised per head, so scaling their projections changes nothing
    model = randomized(modern())
    with torch.no_grad():
        before = model(x, x)[0]
        for block in model.transformer.h:
            block.self_attn.q_proj.weight.mul_(7.0)
            block.self_attn.k_proj.weight.mul_(0.3)
        after = model(x, x)[0]
    assert (after - before).abs().max() < 1e-3 * before.abs().max()  # rounding only (eps is 1e-6)


def test_causal_and_packed_documents_restart_their_positions():
    model = randomized(modern())
    x = torch.randint(1, V, (3, BLOCK))
    y = x.clone()
    y[:, 9:] = torch.randint(1, V, (3, BLOCK - 9))
    with torch.no_grad():
        a, b = model(x, x)[0], model(y, y)[0]
        assert torch.equal(a[:, :9], b[:, :9]) and not torch.allclose(a[:, 9:], b[:, 9:])
        # two documents in one row (each starts with bos = 0): the second as if alone, from position 0
        row = torch.cat([torch.tensor([[0, 5, 6, 7, 8]]), torch.tensor([[0, 9, 10, 11]])], dim=1)
        packed = model(row, row, bos=0)[0]
        second = model(row[:, 5:], row[:, 5:])[0]
    assert torch.allclose(packed[:, 5:], second, atol=1e-5)


def test_grouped_query_attention_is_multi_head_attention_with_shared_heads():
    gqa = randomized(modern())
    mha = modern(n_kv_head=HEADS)
    group = HEADS // KV_HEADS
    state = {}
    for name, t in gqa.state_dict().items():
        if name.endswith(("k_proj.weight", "v_proj.weight")):  # each key/value head serves `group` query heads
            t = t.view(KV_HEADS, HEAD, WIDTH).repeat_interleave(group, dim=0).reshape(HEADS * HEAD, WIDTH)
        state[name] = t
    mha.load_state_dict(state)
    x = torch.randint(0, V, (2, BLOCK))
    with torch.no_grad():
        assert torch.allclose(gqa(x, x)[0], mha.eval()(x, x)[0], atol=1e-5)


@pytest.mark.parametrize("name, qk_norm, hidden", [("Qwen3", True, 128), ("Llama", False, 100)])
def test_equals_transformers_qwen3_and_llama_on_random_weights(name, qk_norm, hidden):
    """The strongest check that this is Qwen3 (and, without QK-norm, Llama, of any MLP width): transformers' own
    model, built here with random weights, computes the same logits once its weights are ours renamed (the mapping
    in gpt.modern's docstring)."""
    transformers = pytest.importorskip("transformers")

    config = getattr(transformers, f"{name}Config")(
        vocab_size=V, hidden_size=WIDTH, intermediate_size=hidden, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD, max_position_embeddings=BLOCK,
        rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, tie_word_embeddings=False,
        attention_bias=False, hidden_act="silu", attn_implementation="eager")
    torch.manual_seed(2)
    theirs = getattr(transformers, f"{name}ForCausalLM")(config).eval()
    with torch.no_grad():
        for p in theirs.parameters():  # their norms start at 1 too: make every weight count
            p.add_(torch.randn_like(p) * 0.1)
    ours = modern(qk_norm=qk_norm, intermediate_size=hidden)
    renamed = {name.replace("model.embed_tokens.", "transformer.wte.").replace("model.layers.", "transformer.h.")
               .replace("model.norm.", "transformer.ln_f."): t for name, t in theirs.state_dict().items()}
    ours.load_state_dict(renamed)  # strict: the same names, no more, no fewer (no q_norm / k_norm in a Llama)
    x = torch.randint(0, V, (2, BLOCK))
    with torch.no_grad():
        expected = theirs(x).logits
        got = ours.eval()(x, x)[0]
    assert (got - expected).abs().max() < 1e-4
    prompt = x[:1, :4]
    greedy = theirs.generate(prompt, max_new_tokens=BLOCK - 4, do_sample=False)[0, 4:]
    mine = torch.stack(list(generate(ours, prompt, SampleConfig(max_new_tokens=BLOCK - 4, temperature=0))))[:, 0]
    assert torch.equal(mine, greedy)


def test_rotary_positions_hold_no_table_a_config_could_inflate():
    """block_size is a number in a config (a checkpoint's, a Hugging Face config.json's) that no tensor in the file
    bounds: the model must not allocate anything by it, or a 2 MB file could ask for gigabytes."""
    small = modern()
    with torch.device("meta"):  # nothing allocated, whatever it asks for
        huge = GPT(GPTConfig(**{**asdict(small.config), "block_size": 10**12}))
    assert list(huge.buffers()) == list(small.buffers()) == []  # every tensor it allocates is one its file holds
    cos, sin = small.rotary(torch.tensor([5000]))  # any position's angles, computed when asked, by the formula
    angle = 5000 * 10000.0 ** (-2 * torch.arange(HEAD // 2, dtype=torch.float64) / HEAD)
    assert torch.allclose(cos[0, 0, : HEAD // 2].double(), angle.cos(), atol=1e-3)
    assert torch.allclose(sin[0, 0, HEAD // 2 :].double(), angle.sin(), atol=1e-3)


def test_config_errors_name_the_setting():
    for overrides, message in [
        (dict(n_kv_head=3), "n_kv_head must be a positive integer that divides n_head .4., got 3"),
        (dict(bias=True), "the modern architecture has no biases"),
        (dict(n_embd=20, n_head=4), "the head size n_embd / n_head .5. must be even"),
        (dict(arch="llama"), "arch must be 'gpt2' or 'modern', got 'llama'"),
        (dict(rope_theta=0), "rope_theta must be a positive number"),
        (dict(arch="gpt2", n_kv_head=2), "n_kv_head .grouped-query attention. is for the modern architecture"),
        (dict(arch="gpt2", n_kv_head=None, qk_norm=True), "qk_norm is for the modern architecture"),
        (dict(qk_norm="yes"), "qk_norm must be true or false, got 'yes'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            modern(**overrides)
    # a fresh run's settings say so before any data is prepared
    with pytest.raises(ConfigError, match="n_kv_head .grouped-query attention. is for --arch modern"):
        config_from(None, n_kv_head=2)


# --- generation -------------------------------------------------------------------------


@pytest.mark.parametrize("kv_heads", [HEADS, KV_HEADS])
def test_cached_sampling_is_uncached_sampling_past_block_size(kv_heads):
    """Greedy and seeded samples run past block_size: the window slides (the last block_size tokens, recomputed
    from position 0), with or without the cache, and both give the same tokens."""
    model = randomized(modern(n_kv_head=kv_heads))
    prompt = torch.randint(0, V, (2, 5))
    for cfg in (SampleConfig(max_new_tokens=2 * BLOCK, temperature=0),
                SampleConfig(max_new_tokens=2 * BLOCK, temperature=1.0, top_k=20)):
        runs = [torch.stack(list(generate(model, prompt, cfg_, torch.Generator().manual_seed(3))), dim=1)
                for cfg_ in (cfg, SampleConfig(**{**asdict(cfg), "use_cache": False}))]
        assert torch.equal(runs[0], runs[1])
    tokens = torch.cat([prompt, runs[0]], dim=1)
    greedy = torch.stack(list(generate(model, prompt, SampleConfig(max_new_tokens=2 * BLOCK, temperature=0))), 1)
    seq = torch.cat([prompt, greedy], dim=1)
    with torch.no_grad():  # a token past block_size is the model's pick given the block_size tokens before it
        window = model(seq[:, 5 : 5 + BLOCK])[0]
    assert torch.equal(window[:, -1].argmax(-1), seq[:, 5 + BLOCK])
    with pytest.raises(ValueError, match=f"a sequence of {BLOCK + 1} tokens is longer than block_size {BLOCK}"):
        model(tokens[:, : BLOCK + 1])


# --- checkpoints (the Hugging Face export: tests/gpt/test_hf.py) -------------------------


def test_checkpoints_carry_the_arch_and_old_ones_load_as_gpt2(tmp_path):
    model = randomized(modern())
    state = {"model_config": asdict(model.config), "model": model.state_dict()}
    loaded = gpt_from_state(state, "modern.pt")
    assert loaded.config == model.config
    x = torch.randint(0, V, (1, BLOCK))
    assert torch.equal(loaded(x)[0], model(x)[0])
    # the same weights under another config are refused before a model is built
    for wrong, message in [(dict(arch="gpt2", n_kv_head=None, intermediate_size=None, qk_norm=None),
                            "the config makes transformer.wpe.weight"),
                           (dict(n_kv_head=HEADS), r"transformer.h.0.self_attn.k_proj.weight of shape \(16, 32\), "
                                                   r"the config makes \(32, 32\)"),
                           (dict(qk_norm=False), "the file holds transformer.h.0.self_attn.q_norm.weight, which the "
                                                 "config does not make")]:
        with pytest.raises(CheckpointError, match=message):
            gpt_from_state({**state, "model_config": {**state["model_config"], **wrong}}, "modern.pt")
    # a modern checkpoint written before qk_norm existed has QK-norm, as every modern model had
    before = {k: v for k, v in state["model_config"].items() if k != "qk_norm"}
    assert gpt_from_state({**state, "model_config": before}, "modern.pt").config == model.config
    # a checkpoint written before the modern architecture existed: none of its fields
    torch.manual_seed(0)
    old = GPT(GPTConfig(vocab_size=V, block_size=BLOCK, n_layer=1, n_head=2, n_embd=16))
    before = {k: v for k, v in asdict(old.config).items()
              if k not in ("arch", "n_kv_head", "rope_theta", "rms_norm_eps", "intermediate_size", "qk_norm")}
    loaded = gpt_from_state({"model_config": before, "model": old.state_dict()}, "old.pt")
    assert loaded.config.arch == "gpt2" and loaded.config == old.config


# --- training ----------------------------------------------------------------------------

TINY = dict(arch="modern", n_layer=2, n_head=4, n_kv_head=2, n_embd=32, block_size=32, batch_size=8, dropout=0.0,
            eval_iters=4, eval_interval=15, log_interval=5, lr=3e-3, min_lr=3e-4, warmup_iters=2, device="cpu")


def test_a_modern_run_trains_resumes_and_keeps_its_arch(tmp_path):
    data = shakespeare_data(tmp_path, 30_000)
    out = tmp_path / "run"
    result = train(config_from(None, data=str(data), out=str(out), max_iters=30, **TINY))
    state = load_checkpoint(out / LATEST)
    assert state["model_config"]["arch"] == state["train_config"]["arch"] == "modern"
    assert state["model_config"]["n_kv_head"] == 2 and "transformer.wpe.weight" not in state["model"]
    assert result.val_loss < math.log(V) - 1.0  # from uniform (about log 65) to well below it
    runner = CliRunner()
    for flags, message in [(["--arch", "gpt2"], "cannot change arch 'modern' -> 'gpt2'"),
                           (["--n-kv-head", "4"], "cannot change n_kv_head 2 -> 4")]:
        refused = runner.invoke(main, ["train-gpt", "--out", str(out), "--resume", *flags])
        assert refused.exit_code == 1 and message in refused.output.strip().splitlines()[-1]
        assert "Traceback" not in refused.output
    assert resume_config(out).arch == "modern"


def test_a_run_saved_before_arch_existed_resumes_as_gpt2_and_refuses_modern(tmp_path):
    data = shakespeare_data(tmp_path, 30_000)
    out = tmp_path / "run"
    gpt2 = {**TINY, "arch": "gpt2", "n_kv_head": None, "n_head": 2}
    train(config_from(None, data=str(data), out=str(out), max_iters=2, **gpt2))
    state = load_checkpoint(out / LATEST)
    for record in ("train_config", "model_config"):
        for name in ("arch", "n_kv_head", "rope_theta", "rms_norm_eps", "intermediate_size", "qk_norm"):
            state[record].pop(name, None)
    torch.save(state, out / LATEST)
    assert resume_config(out).arch == "gpt2"
    with pytest.raises(CheckpointError, match="cannot change arch 'gpt2' -> 'modern'"):
        resume_config(out, arch="modern")
