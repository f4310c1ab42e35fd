"""The GPT model and its sampler: HF GPT-2 names, a causal mask, packed documents, a KV cache that changes nothing."""

import math

import pytest
import torch

from gpt.generate import SampleConfig, generate, prompt_ids, stream_text
from gpt.model import GPT, GPTConfig, KVCache


def tiny_model(**overrides) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(**{**dict(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32), **overrides}))


# --- the model -------------------------------------------------------------------------


def test_hf_gpt2_names_and_shapes():
    model = tiny_model(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    # HF's Conv1D stores (in, out); ours are nn.Linear (out, in): the same tensors transposed
    assert shapes["transformer.wte.weight"] == (50257, 768) and shapes["transformer.wpe.weight"] == (1024, 768)
    assert shapes["transformer.h.0.attn.c_attn.weight"] == (2304, 768)
    assert shapes["transformer.h.0.mlp.c_proj.weight"] == (768, 3072)
    assert {"transformer.h.0.ln_1.weight", "transformer.h.0.ln_2.bias", "transformer.ln_f.weight",
            "lm_head.weight"} <= set(shapes)
    assert model.lm_head.weight is model.transformer.wte.weight  # tied
    assert model.num_params(non_embedding=False) == 124_439_808  # GPT-2 small, counting the tied matrix once


def test_untied_output_and_exact_gelu():
    tied, untied = tiny_model(), tiny_model(tie_weights=False)
    assert untied.lm_head.weight is not untied.transformer.wte.weight
    assert untied.num_params(non_embedding=False) == tied.num_params(non_embedding=False) + 65 * 32
    exact = tiny_model(gelu="exact")
    assert GPTConfig(gelu="none").gelu == "exact"  # torch's name, which saved configs may hold
    exact.load_state_dict(tied.state_dict())
    x = torch.randint(0, 65, (2, 16))
    with torch.no_grad():
        a, b = tied.eval()(x, x)[0], exact.eval()(x, x)[0]
    assert not torch.equal(a, b) and torch.allclose(a, b, atol=1e-3)  # the two GELUs differ by < 1e-3
    with pytest.raises(ValueError, match="gelu must be 'exact' or 'tanh', got 'relu'"):
        GPTConfig(gelu="relu")


def test_initial_loss_is_uniform_and_causal_mask_holds():
    model = tiny_model().eval()
    x = torch.randint(0, 65, (4, 16))
    _, loss = model(x, torch.randint(0, 65, (4, 16)))
    assert abs(loss.item() - math.log(65)) < 0.1
    y = x.clone()
    y[:, 8:] = torch.randint(0, 65, (4, 8))
    with torch.no_grad():
        a, _ = model(x, x)
        b, _ = model(y, y)
    assert torch.equal(a[:, :8], b[:, :8])  # the future does not change the past
    assert not torch.allclose(a[:, 8:], b[:, 8:])


def test_overfits_one_batch():
    model = tiny_model()
    x = torch.randint(0, 65, (4, 16))
    y = torch.roll(x, -1, dims=1)
    opt = torch.optim.AdamW(model.optimizer_groups(0.0), lr=1e-2)
    for _ in range(150):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_ignore_index_masks_padding():
    model = tiny_model().eval()
    x = torch.randint(0, 65, (2, 16))
    y = x.clone()
    y[:, 10:] = -1
    _, masked = model(x, y)
    logits, _ = model(x, x)
    expected = torch.nn.functional.cross_entropy(logits[:, :10].reshape(-1, 65), x[:, :10].reshape(-1))
    assert torch.allclose(masked, expected)


def test_packed_documents_are_computed_as_if_alone():
    model = tiny_model().eval()
    bos = 0
    docs = [torch.tensor([bos, 5, 6, 7]), torch.tensor([bos, 9]), torch.tensor([bos, 3, 3, 3, 3, 8]),
            torch.tensor([bos, 4, 2])]
    tail = torch.tensor([11, 12])  # a row may start inside a document: positions from 0, as if alone too
    rows = torch.stack([torch.cat([tail, docs[0], docs[1], torch.zeros(8, dtype=torch.long)]),
                        torch.cat([docs[2], docs[3], torch.zeros(7, dtype=torch.long)])])
    logits, _ = model(rows, rows, bos=bos)
    starts = [(0, 2), (0, 6), (1, 0), (1, 6)]
    for doc, (r, c) in zip(docs, starts, strict=True):
        alone, _ = model(doc[None], doc[None])
        assert torch.allclose(logits[r, c : c + len(doc)], alone[0], atol=1e-5)
    alone, _ = model(tail[None], tail[None])
    assert torch.allclose(logits[0, :2], alone[0], atol=1e-5)
    # the training path takes them too: gradients flow, a loss comes back
    model.train()
    _, loss = model(rows, rows, bos=bos)
    loss.backward()
    assert torch.isfinite(loss) and model.transformer.wpe.weight.grad is not None
    with pytest.raises(ValueError, match="KVCache"):
        model(rows[:, :4], cache=KVCache(model.config), bos=bos)


@pytest.mark.parametrize("sample", [SampleConfig(60, temperature=0), SampleConfig(60, 1.0, top_k=20, top_p=0.9)],
                         ids=["greedy", "sampled"])
@pytest.mark.parametrize("block", [16, 150], ids=["sliding", "growing"])
def test_kv_cache_gives_the_uncached_tokens(sample, block):
    # block 16: the 60 new tokens slide the window past it; block 150: prompt and tokens outgrow the cache's first
    # room (KVCache.MIN_POSITIONS) and it grows, then the window slides past 150
    model = tiny_model(block_size=block)
    prompt = torch.randint(0, 65, (3, 5 if block == 16 else 100))
    runs = []
    for use_cache in (True, False):
        sample.use_cache = use_cache
        runs.append(torch.stack(list(generate(model, prompt, sample, torch.Generator().manual_seed(7))), 1))
    assert runs[0].shape == (3, 60) and torch.equal(runs[0], runs[1])


def test_generate_stops_and_filters():
    model = tiny_model()
    prompt = torch.zeros((1, 1), dtype=torch.long)
    greedy = torch.stack(list(generate(model, prompt, SampleConfig(20, temperature=0))), 1)
    stop = int(greedy[0, 3])
    stopped = list(generate(model, prompt, SampleConfig(20, temperature=0, stop_token=stop)))
    assert len(stopped) == list(greedy[0]).index(stop) + 1
    top1 = torch.stack(list(generate(model, prompt, SampleConfig(20, temperature=1.0, top_k=1))), 1)
    assert torch.equal(top1, greedy)  # top-k 1 is greedy
    tiny_p = torch.stack(list(generate(model, prompt, SampleConfig(20, temperature=1.0, top_p=1e-6))), 1)
    assert torch.equal(tiny_p, greedy)  # so is a nucleus that holds only the likeliest token
    with pytest.raises(ValueError, match="top_p"):
        SampleConfig(top_p=1.5)




# --- text out: the prompt policy and streamed decoding -------------------------------------


def test_prompt_policy():
    from minbpe import BasicTokenizer, CharTokenizer, GPT2Tokenizer

    assert prompt_ids(GPT2Tokenizer(), None) == [50256]  # a document boundary, as prepared
    assert prompt_ids(GPT2Tokenizer(), "Hi<|endoftext|>") == [17250, 50256]  # specials in a prompt are allowed
    char = CharTokenizer()
    char.train("ab\nc")
    assert prompt_ids(char, "") == char.encode("\n")
    with pytest.raises(ValueError, match="give a --prompt"):
        prompt_ids(BasicTokenizer(), None)


def test_stream_text_is_the_decoded_sample_in_pieces():
    """Byte tokens from a random model split characters across tokens: the pieces still join to the bytes'
    UTF-8 decoding (U+FFFD for what is not UTF-8), and arrive as they are generated, not at the end."""
    from minbpe import BasicTokenizer

    model = tiny_model(vocab_size=256)
    cfg = SampleConfig(80, temperature=1.0)
    prompt = "é"
    pieces = list(stream_text(model, BasicTokenizer(), prompt, cfg, torch.Generator().manual_seed(3)))
    idx = torch.tensor([list(prompt.encode())])
    ids = [int(t[0]) for t in generate(model, idx, cfg, torch.Generator().manual_seed(3))]
    assert "".join(pieces) == bytes(ids).decode("utf-8", errors="replace")
    assert len(pieces) > 10


@pytest.mark.parametrize("bad", [dict(temperature=float("nan")), dict(temperature=-1.0), dict(top_p=float("nan")),
                                 dict(top_k=0), dict(max_new_tokens=-1)])
def test_sampling_settings_are_checked(bad):
    with pytest.raises(ValueError, match="must be"):
        SampleConfig(**bad)
