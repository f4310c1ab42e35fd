"""gpt/char/plots.py: the right PNGs per model, written atomically, with no side effects on the model."""

import random
import string
from pathlib import Path

import pytest
import torch
from torch import nn

from gpt.char.models import MLP, BigramCounts, BigramNN, WaveNet
from gpt.char.plots import principal_components, symbol_labels, tanh_outputs, write_plots
from gpt.char.train import char_config, train_char
from gpt.model import GPT, GPTConfig

CHARS = string.ascii_lowercase  # with the boundary: 27 symbols
V = 27
HISTORY = {
    "loss": [(10, 3.2), (20, 2.9), (30, 2.7)],
    "eval": [{"step": 15, "val": 3.0}, {"step": 30, "val": 2.8}],
    "update_ratio": {"wte.weight": [(0, -2.5), (10, -2.9)], "head.weight": [(0, -3.1), (10, -3.3)]},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def batch(block_size: int, n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(V, (n, block_size), generator=g), torch.randint(V, (n,), generator=g)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_untouched(model: nn.Module, before: dict[str, torch.Tensor], training: bool) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    for k, v in before.items():
        assert torch.equal(after[k], v), k  # parameters and buffers (BatchNorm running stats)
    assert all(p.grad is None for p in model.parameters())
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
    assert model.training is training


def assert_pngs(out: Path, paths: list[Path], names: set[str]) -> None:
    assert {p.name for p in paths} == names
    assert {p.name for p in out.iterdir()} == names  # nothing else: no temporary files left
    for p in paths:
        assert p.parent == out
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("make, block_size, training", [
    (lambda: MLP(V, block_size=3, n_embd=10, n_hidden=20, batch_norm=True), 3, True),
    (lambda: WaveNet(V, block_size=8, n_embd=4, n_hidden=8).eval(), 8, False),
], ids=["mlp-bn", "wavenet-eval"])
def test_tanh_models(tmp_path: Path, make, block_size: int, training: bool) -> None:
    torch.manual_seed(0)
    model = make()
    before = snapshot(model)
    x, y = batch(block_size)
    paths = write_plots(tmp_path, model, CHARS, True, HISTORY, x, y)
    assert_pngs(tmp_path, paths, {"loss.png", "embedding.png", "activations.png", "gradients.png",
                                  "update_ratio.png"})
    assert_untouched(model, before, training=training)


def test_bigram_counts(tmp_path: Path) -> None:
    model = BigramCounts(V)
    g = torch.Generator().manual_seed(0)
    model.fit(torch.randint(V, (200, 1), generator=g), torch.randint(V, (200,), generator=g))
    before = snapshot(model)
    x, y = batch(1)
    empty = {"loss": [], "eval": [], "update_ratio": {}}  # the count model takes no steps
    paths = write_plots(tmp_path, model, CHARS, True, empty, x, y)
    assert_pngs(tmp_path, paths, {"counts.png"})
    assert_untouched(model, before, training=True)


def test_bigram_counts_large_vocabulary_without_boundary(tmp_path: Path) -> None:
    chars = string.ascii_letters[:44] + " \n"  # 46 symbols: too many for per-cell labels
    model = BigramCounts(len(chars))
    model.fit(torch.randint(len(chars), (500, 1)), torch.randint(len(chars), (500,)))
    paths = write_plots(tmp_path, model, chars, False, {}, *batch(1))
    assert_pngs(tmp_path, paths, {"counts.png"})


def test_bigram_nn_has_only_its_curves(tmp_path: Path) -> None:
    model = BigramNN(V)
    history = {"loss": HISTORY["loss"], "eval": [], "update_ratio": {"weight": [(0, -1.0)]}}
    paths = write_plots(tmp_path, model, CHARS, True, history, *batch(1))
    assert_pngs(tmp_path, paths, {"loss.png", "update_ratio.png"})


def test_gpt(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.0, bias=True))
    before = snapshot(model)
    x = torch.randint(V, (4, 8))
    history = {"loss": [], "eval": [{"step": 5, "val": 3.1}], "update_ratio": {}}
    paths = write_plots(tmp_path, model, CHARS, True, history, x, x)
    assert_pngs(tmp_path, paths, {"loss.png", "embedding.png"})
    assert_untouched(model, before, training=True)


def test_existing_gradients_are_kept() -> None:
    torch.manual_seed(0)
    model = MLP(V, block_size=3, n_embd=4, n_hidden=8)
    x, y = batch(3)
    model(x, y)[1].backward()  # as after a training step
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    tanh_outputs(model, x, y)
    for n, p in model.named_parameters():
        assert torch.equal(p.grad, grads[n]), n


def test_tanh_outputs_and_gradients() -> None:
    torch.manual_seed(0)
    model = WaveNet(V, block_size=8, n_embd=4, n_hidden=8)
    x, y = batch(8, n=16)
    outputs = tanh_outputs(model, x, y)
    assert list(outputs) == ["tree.3", "tree.7", "tree.11"]
    for t, g in outputs.values():
        assert g is not None and g.shape == t.shape
        assert t.abs().max() <= 1
    # the last layer's gradient is the head's: d loss / d h = (softmax - onehot) @ W / B
    t, g = outputs["tree.11"]
    with torch.no_grad():
        p = torch.softmax(model.head(t.squeeze(1)), -1)
        expected = (p - nn.functional.one_hot(y, V)) @ model.head.weight / len(y)
    assert torch.allclose(g.squeeze(1), expected, atol=1e-7)


def test_labels_and_projection() -> None:
    assert symbol_labels("a \n", True) == [".", "a", "␣", "\\n"]
    assert symbol_labels("ab", False) == ["a", "b"]
    table = torch.randn(27, 10, generator=torch.Generator().manual_seed(0))
    points = principal_components(table)
    assert points.shape == (27, 2)
    assert torch.equal(points, principal_components(table.clone()))
    # the first component carries the most variance, and the components are uncorrelated
    assert points[:, 0].var() >= points[:, 1].var()
    assert abs(float((points[:, 0] * points[:, 1]).mean())) < 1e-4
    assert principal_components(torch.ones(5, 1)).shape == (5, 2)


@pytest.fixture
def names_file(tmp_path: Path) -> Path:
    rng = random.Random(0)
    names = ["".join(rng.choice("abcdeilmnorsty") for _ in range(rng.randint(3, 7))) for _ in range(200)]
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    return path


def test_through_the_trainer(tmp_path: Path, names_file: Path) -> None:
    out = tmp_path / "run"
    train_char(char_config("mlp-bn", input=str(names_file), out=str(out), max_steps=50, n_hidden=20, plots=True,
                           num_samples=2))
    for name in ("loss.png", "embedding.png", "activations.png", "gradients.png", "update_ratio.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    assert not [p for p in out.iterdir() if "tmp" in p.name]
