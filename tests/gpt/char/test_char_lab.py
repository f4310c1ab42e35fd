"""The character-level lab: data splits, the exact bigram model, the registry, training, sampling, the CLI."""

from __future__ import annotations

import functools
import json
import math
import random
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import main
from conftest import ROOT
from gpt.char.baselines import LONGEST_FIRST, TRAINED
from gpt.char.data import BOUNDARY, Layout, LineData, pack
from gpt.char.models import (
    MODELS,
    REGISTRY,
    BatchNorm,
    BigramCounts,
    CharMLP,
    KneserNey,
    build_model,
    char_model_from_state,
    mixture_weights,
)
from gpt.char.sample import checkpoint_samples
from gpt.char.train import char_config, char_log_probs, char_nll, model_args, train_char, trim_padding
from gpt.checkpoint import load_checkpoint
from gpt.generate import SampleConfig

NAMES = ROOT / "data" / "names.txt"
UNIFORM = math.log(27)


@pytest.fixture(scope="module")
def names() -> LineData:
    return LineData(NAMES)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> str:
    """The first 2,000 names: big enough to learn from, small enough to train on in seconds."""
    path = tmp_path_factory.mktemp("small") / "names2k.txt"
    path.write_text("\n".join(NAMES.read_text().splitlines()[:2000]) + "\n")
    return str(path)


def test_split_is_80_10_10_disjoint_and_reproducible(names):
    sizes = {k: len(v) for k, v in names.line_numbers.items()}
    assert sizes == {"train": 25626, "val": 3203, "test": 3204}
    sets = [set(v) for v in names.line_numbers.values()]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert set().union(*sets) == set(range(32033))
    assert LineData(NAMES).line_numbers == names.line_numbers
    assert LineData(NAMES, seed=7).line_numbers["val"] != names.line_numbers["val"]
    # seed 42 is the lectures' split: random.seed(42); random.shuffle(words); words[:n1], ...
    words = NAMES.read_text().splitlines()
    random.Random(42).shuffle(words)
    assert names.examples["train"] == words[:25626] and names.examples["test"] == words[28829:]
    assert names.vocab.size == 27 and names.vocab.chars == "abcdefghijklmnopqrstuvwxyz"


def test_windows_and_sequences_predict_the_same_characters(names, tmp_path):
    _, y_windows = names.rows("val", Layout("windows", 3))
    x_seq, y_seq = names.rows("val", Layout("sequences", names.max_length + 1))
    kept = y_seq[y_seq != -1]
    assert len(kept) == len(y_windows) == sum(len(w) + 1 for w in names.examples["val"])
    assert torch.equal(kept.sort().values, y_windows.sort().values)
    assert (x_seq[:, 0] == BOUNDARY).all()
    # the context starts filled with the boundary; "emma" -> ... (e, m, m) -> a
    (tmp_path / "emma.txt").write_text("emma\n")
    emma = LineData(tmp_path / "emma.txt", split="none")
    xs, ys = emma.rows("train", Layout("windows", 3))
    assert [emma.vocab.decode(r) for r in xs.tolist()] == ["", "e", "em", "emm", "mma"]
    assert (xs[0] == BOUNDARY).all() and emma.vocab.decode(ys.tolist()) == "emma" and ys[-1] == BOUNDARY


def test_packed_batches_hold_every_example_and_give_the_padded_loss(names):
    x, y = names.rows("train", Layout("sequences", names.max_length + 1))
    batch = torch.randint(len(x), (64,), generator=torch.Generator().manual_seed(0))
    px, py = pack(x[batch], y[batch], names.max_length + 1)
    assert px.size(1) <= names.max_length + 1 and len(px) < 64
    # every example's targets, whole and in order, each after its own boundary; the rest is padding
    def examples(xs, ys):
        found = []
        for row, targets in zip(xs.tolist(), ys.tolist(), strict=True):
            for i, t in zip(row, targets, strict=True):
                if t != -1 and i == BOUNDARY:
                    found.append([])
                if t != -1:
                    found[-1].append(t)
        return sorted(found)

    assert examples(px, py) == examples(x[batch], y[batch])
    assert len(examples(px, py)) == 64 and all(e[-1] == BOUNDARY for e in examples(px, py))
    torch.manual_seed(0)
    model = build_model("gpt", model_args(char_config("gpt", block_size=names.max_length + 1, n_layer=2),
                                          names.vocab.size)).eval()
    _, padded = model(*trim_padding(x[batch], y[batch]))
    _, packed = model(px, py, bos=BOUNDARY)
    assert packed.item() == pytest.approx(padded.item(), abs=1e-5)


def test_bigram_counts_equal_a_direct_computation_and_the_lecture(names, tmp_path):
    result = train_char(char_config("bigram-counts", input=str(NAMES), split="none", out=str(tmp_path), num_samples=5))
    words = NAMES.read_text().splitlines()
    stoi = {c: i + 1 for i, c in enumerate(names.vocab.chars)}
    counts = [[1] * 27 for _ in range(27)]
    pairs = [(stoi.get(a, 0), stoi.get(b, 0)) for w in words for a, b in zip("." + w, w + ".", strict=True)]
    for a, b in pairs:
        counts[a][b] += 1
    direct = -sum(math.log(counts[a][b] / sum(counts[a])) for a, b in pairs) / len(pairs)
    assert len(pairs) == 228146
    assert result.nll["train"] == pytest.approx(direct, abs=1e-7)  # float32 log-probabilities
    assert round(result.nll["train"], 4) == 2.4546
    # The lecture's 2.4544 is this table too, summed one float32 log-probability at a time
    model, _ = _load(tmp_path)
    a, b = torch.tensor(pairs).T
    total = np.cumsum(model.log_probs.float()[a, b].numpy(), dtype=np.float32)[-1]  # cumsum adds in order
    assert total == -559951.5625 and round(-float(total) / len(pairs), 4) == 2.4544


# the first lecture's first five samples with seed 2147483647 on torch 2.13 (the lecture notes' mor., axx., ...
# are an older torch's: the generator's draws are the same, torch.multinomial's use of them changed)
LECTURE_SEED = 2147483647
LECTURE_NAMES = ["cexze", "momasurailezitynn", "konimittain", "llayn", "ka"]


@functools.cache
def lecture_table() -> tuple[torch.Tensor, dict[int, str]]:
    """The first lecture's probabilities P and its itos: plain torch over names.txt, counted once (2 s)."""
    words = NAMES.read_text().splitlines()
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    N = torch.zeros((27, 27), dtype=torch.int32)
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:], strict=False):
            N[stoi[ch1], stoi[ch2]] += 1
    P = (N + 1).float()
    P /= P.sum(1, keepdims=True)
    return P, itos


def lecture_samples(num: int) -> list[str]:
    """The first lecture's code, as independent of the library as it can be."""
    P, itos = lecture_table()
    g = torch.Generator().manual_seed(LECTURE_SEED)
    samples = []
    for _ in range(num):
        out = []
        ix = 0
        while True:
            p = P[ix]
            ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            out.append(itos[ix])
            if ix == 0:
                break
        samples.append("".join(out))
    return samples


@pytest.mark.skipif(not torch.__version__.startswith("2.13."), reason="the pinned names are torch 2.13's")
def test_the_lecture_code_samples_these_names():
    assert lecture_samples(5) == [name + "." for name in LECTURE_NAMES]


def test_bigram_counts_sample_exactly_as_the_lecture(tmp_path):
    result = train_char(char_config("bigram-counts", input=str(NAMES), split="none", seed=LECTURE_SEED,
                                    out=str(tmp_path), num_samples=300))
    assert [s + "." for s in result.samples] == lecture_samples(300)
    if torch.__version__.startswith("2.13."):
        assert result.samples[:5] == LECTURE_NAMES
    # the same from the checkpoint, as `generate --temperature 1 --top-k 0` samples it
    texts = checkpoint_samples(tmp_path, load_checkpoint(tmp_path), "", SampleConfig(), 5, LECTURE_SEED)
    assert [t + "." for t in texts] == lecture_samples(5)
    capped = checkpoint_samples(tmp_path, load_checkpoint(tmp_path), "", SampleConfig(max_new_tokens=6), 5,
                                LECTURE_SEED)
    # --max-new-tokens cuts the count table's samples too (the draws after a cut differ from there on)
    assert capped[0] == texts[0][:6] and all(len(t) <= 6 for t in capped)
    if torch.__version__.startswith("2.13."):
        assert capped[:2] == ["cexze", "momasu"]


def test_cli_train_char_prints_the_lecture_samples(tmp_path):
    result = CliRunner().invoke(main, ["train-char", "--model", "bigram-counts", "--split", "none", "--seed",
                                       str(LECTURE_SEED), "--num-samples", "5", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    printed = lines[lines.index("samples (* = not in the training set):") + 1 :][:5]
    assert [line[4:] + "." for line in printed] == lecture_samples(5)
    if torch.__version__.startswith("2.13."):
        assert [line[4:] for line in printed] == LECTURE_NAMES


def test_the_registry_is_every_model(trained):
    """Every registered model is trained by the `trained` fixture (built, trained, evaluated, saved, reloaded
    in the tests that use it): a new REGISTRY entry needs a line there. The CLI and the table read the registry."""
    assert set(trained) == set(REGISTRY) and MODELS == tuple(REGISTRY)
    assert set(main.commands["train-char"].params[0].type.choices) == set(MODELS)
    for name, result in trained.items():
        counted = REGISTRY[name].training in ("count", "mix")
        assert result.model == name and (result.steps == 0) == counted, name
        assert isinstance(build_model(name, load_checkpoint(result.out)["model_args"]), torch.nn.Module)
    assert set(LONGEST_FIRST) == set(TRAINED) == set(MODELS) - {"ensemble"}


def _load(run_dir):
    state = load_checkpoint(run_dir)
    return char_model_from_state(state, run_dir), state


def test_mlp_starts_at_the_uniform_loss(names):
    torch.manual_seed(0)
    model = CharMLP(27, block_size=3, n_embd=10, n_hidden=200)
    assert char_nll(model, names, "val", torch.device("cpu")) == pytest.approx(UNIFORM, abs=0.02)


@pytest.fixture(scope="module")
def trained(small, tmp_path_factory) -> dict:
    """Each model trained briefly on 2,000 names (the GPTs: 1 small layer)."""
    root = tmp_path_factory.mktemp("runs")
    small_settings = {
        "bigram-counts": {},
        "bigram-nn": {"max_steps": 100},
        "ngram": {},
        "mlp": {"max_steps": 1500, "n_hidden": 64},
        "mlp-bn": {"max_steps": 1500, "n_hidden": 64},
        "wavenet": {"max_steps": 1500, "n_embd": 8, "n_hidden": 32},
        "gpt": {"max_steps": 300, "n_layer": 1, "n_embd": 32, "lr": [3e-3], "ema": 0.9},
        "gpt-modern": {"max_steps": 300, "n_layer": 1, "n_embd": 32, "ema": 0.9},
    }
    runs = {m: train_char(char_config(m, input=small, out=str(root / m), num_samples=10, **kw))
            for m, kw in small_settings.items()}
    members = [str(r.out) for r in runs.values()]
    runs["ensemble"] = train_char(char_config("ensemble", input=small, out=str(root / "ensemble"), num_samples=10,
                                              members=members))
    return runs


def test_every_model_learns(trained):
    counts = trained["bigram-counts"].nll["train"]
    assert trained["bigram-nn"].nll["train"] < UNIFORM - 0.5
    # context beats a bigram (makemore's once never trained)
    for model in ("ngram", "mlp", "mlp-bn", "wavenet", "gpt", "gpt-modern"):
        assert trained[model].nll["train"] < counts - 0.05, model
        assert trained[model].nll["val"] < UNIFORM - 0.5, model


def test_bigram_nn_is_the_lectures_gradient_descent(trained, small):
    """The lecture's loop in plain torch, from the same seed's weights: W = randn(27, 27); 100 full-batch steps of
    lr 50 on the NLL + 0.01 * mean(W^2). It reaches the run's train NLL up to float32 rounding (the same
    arithmetic, summed in another order), and no bigram model scores below the counts' unsmoothed NLL (Gibbs)."""
    cfg = char_config("bigram-nn")
    data = LineData(small, seed=cfg.seed)
    stoi = {c: i + 1 for i, c in enumerate(data.vocab.chars)}
    pairs = [(stoi.get(a, 0), stoi.get(b, 0)) for w in data.examples["train"] for a, b in zip("." + w, w + ".",
                                                                                               strict=True)]
    xs, ys = torch.tensor(pairs).T
    torch.manual_seed(cfg.seed)
    weight = torch.randn(27, 27, requires_grad=True)
    for _ in range(trained["bigram-nn"].steps):
        loss = torch.nn.functional.cross_entropy(weight[xs], ys) + cfg.weight_decay * (weight**2).mean()
        weight.grad = None
        loss.backward()
        with torch.no_grad():
            weight -= cfg.lr[0] * weight.grad
    reference = torch.nn.functional.cross_entropy(weight[xs], ys).item()
    assert trained["bigram-nn"].nll["train"] == pytest.approx(reference, abs=1e-6)  # float32 steps near 2.3: 2.4e-7
    counts = np.zeros((27, 27))
    np.add.at(counts, (xs.numpy(), ys.numpy()), 1)
    rows = counts / counts.sum(1, keepdims=True)
    floor = -(counts[counts > 0] * np.log(rows[counts > 0])).sum() / len(pairs)
    assert floor < trained["bigram-nn"].nll["train"]


def test_ngram_is_modified_kneser_ney(small):
    """The vectorised KneserNey gives the probabilities of a plain dictionary implementation."""
    data = LineData(small)
    n, v = 3, data.vocab.size
    x, y = data.rows("train", Layout("windows", n))
    model = KneserNey(v, n)
    model.fit(x, y)
    counts = [{} for _ in range(n + 1)]  # order k: (last k context ids, next) -> count
    for context, c in zip(x.tolist(), y.tolist(), strict=True):
        key = (tuple(context), c)
        counts[n][key] = counts[n].get(key, 0) + 1
    for k in range(n - 1, -1, -1):  # continuations: distinct characters seen before (context, next)
        for context, c in counts[k + 1]:
            counts[k][context[1:], c] = counts[k].get((context[1:], c), 0) + 1
    discounts = []
    for table in counts:
        m = [sum(1 for value in table.values() if value == i) for i in (1, 2, 3, 4)]
        y_ = m[0] / (m[0] + 2 * m[1]) if m[0] else 0
        estimates = [i - (i + 1) * y_ * m[i] / m[i - 1] if m[i - 1] else 0 for i in (1, 2, 3)]
        discounts.append([d if 0 < d < i else f for i, d, f in zip((1, 2, 3), estimates, (0.5, 1, 1.5), strict=True)])

    def prob(context: tuple, c: int, k: int) -> float:
        lower = 1 / v if k == 0 else prob(context[1:], c, k - 1)
        seen = {b: value for (h, b), value in counts[k].items() if h == context}
        if not seen:
            return lower
        total = sum(seen.values())
        discount = {b: discounts[k][min(value, 3) - 1] for b, value in seen.items()}
        return (seen.get(c, 0) - discount.get(c, 0)) / total + sum(discount.values()) / total * lower

    val_x, _ = data.rows("val", Layout("windows", n))
    probs = model.logits(val_x[:40]).double().exp()
    for row, context in zip(probs, val_x[:40].tolist(), strict=True):
        expected = torch.tensor([prob(tuple(context), c, n) for c in range(v)], dtype=torch.float64)
        assert torch.allclose(row, expected, rtol=1e-5) and float(expected.sum()) == pytest.approx(1.0)


def test_mixture_weights_maximise_the_held_out_likelihood():
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(3, 2000, generator=g, dtype=torch.float64) * torch.tensor([[1.0], [0.9], [0.3]])
    weights = mixture_weights(probs.log())
    mixed = (weights.unsqueeze(1) * probs).sum(0)
    assert float(weights.sum()) == pytest.approx(1.0) and (weights >= 0).all()
    # the optimum over the simplex: every member in use has mean p_m / p_mix = 1, none is above 1
    ratios = (probs / mixed).mean(1)
    assert torch.allclose(ratios[weights > 1e-4], torch.ones(1, dtype=torch.float64), atol=1e-4)
    assert (ratios <= 1 + 1e-4).all()
    assert -float(mixed.log().mean()) <= min(-float(p.log().mean()) for p in probs)


def test_ensemble_mixes_finished_runs(trained, small, tmp_path):
    ensemble = trained["ensemble"]
    members = [r for name, r in trained.items() if name != "ensemble"]
    assert ensemble.nll["val"] <= min(r.nll["val"] for r in members) + 1e-9  # val is what it is fitted on
    assert ensemble.params == sum(r.params for r in members) and ensemble.steps == 0
    model, state = _load(ensemble.out)
    data = LineData(small)
    val = torch.stack([char_log_probs(m, data, "val", torch.device("cpu")) for m in model.members])
    assert torch.allclose(model.weights, mixture_weights(val))
    assert [m["model_name"] for m in state["model_args"]["members"]] == [r.model for r in members]
    result = CliRunner().invoke(main, ["generate", "--checkpoint", str(ensemble.out), "--num-samples", "3"])
    assert result.exit_code == 0 and len(result.output.splitlines()) == 3
    # members must share the data and its split: a run on another split would have trained on this val
    other = train_char(char_config("bigram-counts", input=small, seed=7, out=str(tmp_path / "seed7"), num_samples=1))
    result = CliRunner().invoke(main, ["train-char", "--model", "ensemble", "--input", small, "--out",
                                       str(tmp_path / "mix"), "--members", f"{members[0].out},{other.out}"])
    assert result.exit_code == 1 and f"{other.out}: not a run on the same line data, split and seed" in result.output
    assert not (tmp_path / "mix" / "latest.pt").exists()


def test_samples_are_strings_of_the_vocabulary(trained, small):
    data = LineData(small)
    for result in trained.values():
        assert len(result.samples) == 10
        for text, new in zip(result.samples, result.new, strict=True):
            assert set(text) <= set(data.vocab.chars)
            # the count table samples until its boundary, as the lecture does (test_bigram_counts_sample_exactly_...)
            assert len(text) <= data.sample_length or result.model == "bigram-counts"
            assert new == (text not in set(data.examples["train"]))


def test_checkpoints_reload_to_the_same_nll(trained, small):
    data = LineData(small)
    for name, result in trained.items():
        model, state = _load(result.out)
        assert state["model_name"] == name
        assert char_nll(model, data, "val", torch.device("cpu")) == pytest.approx(result.nll["val"], abs=1e-6)
        record = json.loads((result.out / "split.json").read_text())
        assert record["line_numbers"] == data.line_numbers and record["seed"] == 42


def test_training_is_deterministic(small, tmp_path):
    a = train_char(char_config("mlp-bn", input=small, out=str(tmp_path / "a"), max_steps=200, num_samples=3))
    b = train_char(char_config("mlp-bn", input=small, out=str(tmp_path / "b"), max_steps=200, num_samples=3))
    assert a.nll == b.nll and a.samples == b.samples


def test_ema_saves_the_moving_average_of_the_weights_and_statistics(small, tmp_path):
    # the raw weights after 1, 2 and 3 steps (one learning rate: the steps do not depend on max_steps)
    def run(steps: int, ema: float = 0.0) -> dict:
        cfg = char_config("mlp-bn", input=small, out=str(tmp_path / f"{steps}-{ema}"), max_steps=steps, lr=[0.1],
                          ema=ema, num_samples=1)
        train_char(cfg)
        return load_checkpoint(cfg.out)["model"]

    raw = [run(k) for k in (1, 2, 3)]
    averaged = run(3, ema=0.2)
    assert set(averaged) == set(raw[0])  # plain names: it reloads into the model like any checkpoint
    for name, value in averaged.items():
        # the first step's weights, then decay * average + (1 - decay) * new, the decay warmed up as
        # (1 + n) / (10 + n): 2/11 at the second step, then 0.2 (3/12 is more)
        expected = 0.2 * (2 / 11 * raw[0][name] + 9 / 11 * raw[1][name]) + 0.8 * raw[2][name]
        assert torch.allclose(value, expected, atol=1e-6), name
    assert not torch.allclose(averaged["hidden.weight"], raw[2]["hidden.weight"])
    with pytest.raises(ValueError, match="ema must be in"):
        char_config("gpt", ema=1.0)


def test_weight_decay_only_where_it_means_something():
    assert char_config("bigram-nn", weight_decay=0.1).weight_decay == 0.1  # an L2 penalty
    assert char_config("gpt", weight_decay=0.1).weight_decay == 0.1  # AdamW's
    for model in ("mlp", "mlp-bn", "wavenet"):  # was an AttributeError deep in training
        with pytest.raises(ValueError, match="weight decay applies to gpt"):
            char_config(model, weight_decay=0.1)


def test_batchnorm_eval_uses_running_statistics():
    torch.manual_seed(0)
    bn = BatchNorm(4, momentum=0.5)
    x = torch.randn(64, 4) * 3 + 2
    bn(x)  # train mode: updates the running statistics
    assert torch.allclose(bn.running_mean, 0.5 * x.mean(0))
    bn.eval()
    one = bn(x[:1])
    assert torch.allclose(one, (x[:1] - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps), atol=1e-5)
    assert torch.allclose(bn(x)[:1], one, atol=1e-6)  # the same whatever batch it comes in
    bn.train()
    assert not torch.allclose(bn(x)[:1], one)


def test_bigram_counts_fit_counts_each_pair():
    model = BigramCounts(3, smoothing=0.0)
    model.fit(torch.tensor([[0], [1], [0]]), torch.tensor([1, 0, 1]))  # . -> a, a -> ., always
    assert model.counts.tolist() == [[0, 2, 0], [1, 0, 0], [0, 0, 0]]
    assert model.log_probs[0, 1] == 0 and model.log_probs[1, 0] == 0


def test_cli_bigram_counts_split_none_prints_nll(tmp_path):
    result = CliRunner().invoke(main, ["train-char", "--model", "bigram-counts", "--split", "none",
                                       "--out", str(tmp_path), "--num-samples", "3"])
    assert result.exit_code == 0, result.output
    assert "nll 2.4546" in result.output.splitlines()


def test_cli_train_char_then_generate(small, tmp_path):
    run = str(tmp_path / "run")
    result = CliRunner().invoke(main, ["train-char", "--model", "mlp", "--input", small, "--max-steps", "300",
                                       "--out", run, "--num-samples", "5", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^val   nll \d\.\d{4}$", result.output, re.M)
    assert "samples (* = not in the training set):" in result.output
    result = CliRunner().invoke(main, ["generate", "--checkpoint", run, "--num-samples", "4", "--prompt", "em"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 4 and all(line.startswith("em") for line in lines)
    result = CliRunner().invoke(main, ["generate", "--checkpoint", run, "--num-samples", "20", "--prompt", "em",
                                       "--max-new-tokens", "2", "--temperature", "2"])
    lengths = [len(line) for line in result.output.splitlines()]
    assert len(lengths) == 20 and max(lengths) == 4  # at most 2 characters after the prompt (was ignored)
    result = CliRunner().invoke(main, ["generate", "--checkpoint", run, "--prompt", "Zoë"])
    assert result.exit_code == 1
    assert "character 'Z'" in result.output and "vocabulary" in result.output


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_input_is_one_clear_error(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_text(content)
    result = CliRunner().invoke(main, ["train-char", "--input", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {path}: no examples (every line is empty); give one example per line"
    assert not (tmp_path / "run" / "latest.pt").exists()


def test_line_endings_and_byte_order_mark(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes("\ufeffanna\r\n\r\n bob \r\nzoë\r\n".encode())
    data = LineData(path, split="none")
    assert data.examples["train"] == ["anna", "bob", "zoë"] and data.vocab.chars == "abnozë"  # code-point order
    assert data.line_numbers["train"] == [0, 2, 3]  # the file's own line numbers, from 0


def test_bad_inputs(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"anna\nzo\xeb\n")
    result = CliRunner().invoke(main, ["train-char", "--input", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and f"{path} line 2: not UTF-8" in result.output
    result = CliRunner().invoke(main, ["train-char", "--input", str(tmp_path / "missing.txt")])
    assert result.exit_code == 1 and "no such file" in result.output
    result = CliRunner().invoke(main, ["train-char", "--model", "wavenet", "--block-size", "6", "--max-steps", "1",
                                       "--out", str(tmp_path / "wavenet")])
    assert result.exit_code == 1 and "power of two" in result.output
    assert not (tmp_path / "wavenet").exists()  # a failed run leaves nothing behind


def test_an_automatic_context_longer_than_it_may_choose_is_refused(tmp_path):
    path = tmp_path / "one-line.txt"
    path.write_text("ab" * 1_000_000 + "\n" + "ba\n" * 20, encoding="utf-8")  # a 2M-character line
    result = CliRunner().invoke(main, ["train-char", "--model", "gpt", "--block-size", "0", "--input", str(path),
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == (f"Error: {path}: its longest example is 2,000,000 characters, so --block-size 0 "
                                     "(the longest example + 1) would be a context of 2,000,001, over the 1,024 it "
                                     "chooses alone: for one long text use --stream, or give --block-size explicitly")
    assert not (tmp_path / "run").exists()


def test_stream_dataset(tmp_path):
    text = (ROOT / "data" / "tinyshakespeare.txt").read_text()[:50_000]
    path = tmp_path / "shake.txt"
    path.write_text(text)
    result = train_char(char_config("mlp", input=str(path), stream=True, out=str(tmp_path / "run"), block_size=8,
                                    max_steps=600, num_samples=2))
    assert set(result.nll) == {"train", "val"}
    assert result.nll["val"] < math.log(len(set(text))) - 0.5
    assert all(len(s) == 500 and set(s) <= set(text) for s in result.samples)


def test_baselines_cli_writes_the_table(small, tmp_path):
    out = tmp_path / "base"
    result = CliRunner().invoke(main, ["baselines", "--input", small, "--out", str(out),
                                       "--models", "bigram-counts,bigram-nn", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "| bigram-counts | 729 |" in result.output
    record = json.loads((out / "baselines.json").read_text())
    assert [r["model"] for r in record["rows"]] == ["bigram-counts", "bigram-nn", "ensemble"]
    assert (out / "baselines.md").read_text().startswith("# Baselines")
    assert (out / "bigram-nn" / "latest.pt").is_file()
    # the same again: refused before anything trains, the runs left as they were
    before = (out / "bigram-nn" / "latest.pt").read_bytes()
    again = CliRunner().invoke(main, ["baselines", "--input", small, "--out", str(out), "--models", "bigram-nn"])
    assert again.exit_code == 1
    assert f"Error: {out} already holds the runs of bigram-nn; give another --out, or --overwrite" in again.output
    assert (out / "bigram-nn" / "latest.pt").read_bytes() == before
    empty = CliRunner().invoke(main, ["baselines", "--input", small, "--out", str(tmp_path / "x"), "--models", ","])
    assert empty.exit_code == 1 and "no model to train" in empty.output and not (tmp_path / "x").exists()


def test_a_char_run_is_never_overwritten_silently(small, tmp_path):
    args = ["train-char", "--model", "bigram-counts", "--input", small, "--out", str(tmp_path / "run")]
    first = CliRunner().invoke(main, [*args, "--num-samples", "0"])  # no samples: the run is still written
    assert first.exit_code == 0, first.output
    before = (tmp_path / "run" / "latest.pt").read_bytes()
    second = CliRunner().invoke(main, [*args, "--smoothing", "3"])
    assert second.exit_code == 1 and "already holds a run (latest.pt, metrics.json); start it over with " \
        "--overwrite, or give another --out" in second.output  # no --resume: a count has no steps to go on with
    assert (tmp_path / "run" / "latest.pt").read_bytes() == before
    third = CliRunner().invoke(main, [*args, "--smoothing", "3", "--overwrite"])
    assert third.exit_code == 0, third.output
    assert load_checkpoint(tmp_path / "run")["train_config"]["smoothing"] == 3


@pytest.mark.cuda
@pytest.mark.parametrize("model", ["mlp-bn", "gpt", "gpt-modern"])
def test_training_on_cuda(small, tmp_path, model):
    result = train_char(char_config(model, input=small, out=str(tmp_path), device="cuda", max_steps=300,
                                    num_samples=3, plots=True, ema=0.9))
    assert result.nll["val"] < UNIFORM - 0.5
    cpu_model, _ = _load(tmp_path)  # a GPU checkpoint evaluates the same on the CPU
    on_cpu = char_nll(cpu_model, LineData(small), "val", torch.device("cpu"))
    assert on_cpu == pytest.approx(result.nll["val"], abs=1e-4)
