"""gpt/char/plots.py: the right PNGs per model, written atomically, with no side effects on the model; each plot's
data (what matplotlib holds: lines, image, points, labels) equal to values computed here another way."""

import random
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gpt.char import plots
from gpt.char.models import BigramCounts, BigramNN, CharMLP, WaveNet
from gpt.char.plots import plot_figures, principal_components, symbol_labels, tanh_outputs, write_plots
from gpt.char.train import char_config, train_char
from gpt.checkpoint import load_checkpoint
from gpt.model import GPT, GPTConfig

CHARS = string.ascii_lowercase  # with the boundary: 27 symbols
V = 27
HISTORY = {
    "loss": [(10, 3.2), (20, 2.9), (30, 2.7)],
    "eval": [{"step": 15, "val": 3.0}, {"step": 30, "val": 2.8}],
    "update_ratio": {"wte.weight": [(0, -2.5), (10, -2.9)], "head.weight": [(0, -3.1), (10, -3.3)]},
}


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


def assert_pngs(out: Path, paths: list[Path], names: list[str]) -> None:
    assert [p.name for p in paths] == names
    assert {p.name for p in out.iterdir()} == set(names)  # nothing else: no temporary files left
    for p in paths:
        assert p.parent == out
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def lines(fig) -> list[tuple[list, list]]:
    """Each plotted line's (x, y) data, in order."""
    return [(list(line.get_xdata()), list(line.get_ydata())) for line in fig.axes[0].get_lines()]


def labels_of(fig) -> list[str]:
    return [line.get_label() for line in fig.axes[0].get_lines()]


def assert_loss_figure(fig, history: dict) -> None:
    """Train (step, mean loss) then val (step, loss), on the axes of the lectures' loss plot."""
    expected = []
    if history["loss"]:
        expected.append(tuple(list(v) for v in zip(*history["loss"], strict=True)))
    if history["eval"]:
        expected.append(([e["step"] for e in history["eval"]], [e["val"] for e in history["eval"]]))
    assert lines(fig) == expected
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step", "loss (nats/character)")
    assert ax.get_yscale() == "linear"  # these losses span less than a factor of 2


def assert_update_ratio_figure(fig, ratios: dict) -> None:
    """A line per parameter, then the rule of thumb's dashed line at log10(1e-3) = -3."""
    *curves, rule = lines(fig)
    assert curves == [tuple(list(v) for v in zip(*points, strict=True)) for points in ratios.values()]
    assert labels_of(fig)[:-1] == list(ratios) and rule[1] == [-3, -3]
    assert fig.axes[0].get_ylabel() == "log10(update std / weight std)"


def pca(table: torch.Tensor) -> np.ndarray:
    """The rows projected onto the two leading eigenvectors of the covariance (numpy's eigh, float64), each
    eigenvector signed so that its largest component is positive: principal_components' documented result."""
    centred = table.double().numpy() - table.double().numpy().mean(0)
    _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    axes = vectors[:, ::-1][:, :2]
    axes = axes * np.sign(axes[np.abs(axes).argmax(0), [0, 1]])
    return centred @ axes


def assert_embedding_figure(fig, table: torch.Tensor, labels: list[str]) -> None:
    ax = fig.axes[0]
    assert np.allclose(ax.collections[0].get_offsets(), pca(table), atol=1e-5)  # float32 points
    assert [t.get_text() for t in ax.texts] == labels
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("principal component 1", "principal component 2")
    assert ax.get_title() == f"character embeddings ({table.size(1)}-D, PCA)"


def assert_histogram_figure(fig, tensors: dict[str, torch.Tensor], activations: bool) -> None:
    """A density line per tanh layer over 50 bins of its values' range (numpy's histogram), and, for the
    activations, each layer's saturated share (|t| > 0.97) in its legend."""
    assert [label.split(":")[0] for label in labels_of(fig)] == list(tensors)
    for (x, y), label, t in zip(lines(fig), labels_of(fig), tensors.values(), strict=True):
        values = t.flatten().numpy()
        density, edges = np.histogram(values, bins=50, density=True)
        assert np.allclose(x, (edges[:-1] + edges[1:]) / 2, rtol=1e-5, atol=1e-7)  # float32 edges
        assert np.allclose(y, density, rtol=1e-4)
        if activations:
            assert label.endswith(f"saturated {np.mean(np.abs(values) > 0.97):.1%}")
    assert fig.axes[0].get_ylabel() == "density"


def counts_of(x: torch.Tensor, y: torch.Tensor, v: int) -> np.ndarray:
    counts = np.zeros((v, v), dtype=np.int64)
    np.add.at(counts, (x[:, -1].numpy(), y.numpy()), 1)
    return counts


LABELS = ["."] + list(CHARS)


@pytest.mark.parametrize("make, block_size, training", [
    (lambda: CharMLP(V, block_size=3, n_embd=10, n_hidden=20, batch_norm=True), 3, True),
    (lambda: WaveNet(V, block_size=8, n_embd=4, n_hidden=8).eval(), 8, False),
], ids=["mlp-bn", "wavenet-eval"])
def test_tanh_models(tmp_path: Path, make, block_size: int, training: bool) -> None:
    torch.manual_seed(0)
    model = make()
    before = snapshot(model)
    x, y = batch(block_size)
    names = ["loss.png", "embedding.png", "activations.png", "gradients.png", "update_ratio.png"]
    assert_pngs(tmp_path, write_plots(tmp_path, model, CHARS, True, HISTORY, x, y), names)
    figures = plot_figures(model, CHARS, True, HISTORY, x, y)
    assert list(figures) == names
    assert_untouched(model, before, training=training)
    assert_loss_figure(figures["loss.png"], HISTORY)
    assert_embedding_figure(figures["embedding.png"], model.wte.weight.detach(), LABELS)
    outputs = tanh_outputs(model, x, y)
    assert_histogram_figure(figures["activations.png"], {n: t for n, (t, _) in outputs.items()}, activations=True)
    assert_histogram_figure(figures["gradients.png"], {n: g for n, (_, g) in outputs.items()}, activations=False)
    assert_update_ratio_figure(figures["update_ratio.png"], HISTORY["update_ratio"])


def test_bigram_counts(tmp_path: Path) -> None:
    model = BigramCounts(V)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(V, (200, 1), generator=g), torch.randint(V, (200,), generator=g)
    model.fit(x, y)
    before = snapshot(model)
    empty = {"loss": [], "eval": [], "update_ratio": {}}  # the count model takes no steps
    assert_pngs(tmp_path, write_plots(tmp_path, model, CHARS, True, empty, *batch(1)), ["counts.png"])
    figures = plot_figures(model, CHARS, True, empty, *batch(1))
    assert_untouched(model, before, training=True)
    assert list(figures) == ["counts.png"]
    ax = figures["counts.png"].axes[0]
    counts = counts_of(x, y, V)
    assert np.array_equal(ax.get_images()[0].get_array(), counts)
    # the lecture's table: each cell, row previous and column next, says its bigram and its count
    assert {(t.get_position(), t.get_text()) for t in ax.texts} == {
        ((j, i), f"{LABELS[i]}{LABELS[j]}\n{counts[i, j]}") for i in range(V) for j in range(V)}
    assert ax.get_title() == "bigram counts N[previous, next]"


def test_bigram_counts_large_vocabulary_without_boundary(tmp_path: Path) -> None:
    chars = string.ascii_letters[:44] + " \n"  # 46 symbols: too many for per-cell labels
    model = BigramCounts(len(chars))
    x, y = torch.randint(len(chars), (500, 1)), torch.randint(len(chars), (500,))
    model.fit(x, y)
    assert_pngs(tmp_path, write_plots(tmp_path, model, chars, False, {}, *batch(1)), ["counts.png"])
    ax = plot_figures(model, chars, False, {}, *batch(1))["counts.png"].axes[0]
    assert np.array_equal(ax.get_images()[0].get_array(), counts_of(x, y, len(chars)))
    names = list(string.ascii_letters[:44]) + ["␣", "\\n"]  # no boundary: id 0 is "a"
    assert [t.get_text() for t in ax.get_xticklabels()] == [t.get_text() for t in ax.get_yticklabels()] == names
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("next", "previous") and not ax.texts


def test_bigram_nn_has_only_its_curves(tmp_path: Path) -> None:
    model = BigramNN(V)
    history = {"loss": HISTORY["loss"], "eval": [], "update_ratio": {"weight": [(0, -1.0)]}}
    assert_pngs(tmp_path, write_plots(tmp_path, model, CHARS, True, history, *batch(1)),
                ["loss.png", "update_ratio.png"])
    figures = plot_figures(model, CHARS, True, history, *batch(1))
    assert_loss_figure(figures["loss.png"], history)
    assert_update_ratio_figure(figures["update_ratio.png"], history["update_ratio"])


def test_gpt(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.0, bias=True))
    before = snapshot(model)
    x = torch.randint(V, (4, 8))
    history = {"loss": [], "eval": [{"step": 5, "val": 3.1}], "update_ratio": {}}
    assert_pngs(tmp_path, write_plots(tmp_path, model, CHARS, True, history, x, x), ["loss.png", "embedding.png"])
    figures = plot_figures(model, CHARS, True, history, x, x)
    assert_untouched(model, before, training=True)
    assert_loss_figure(figures["loss.png"], history)
    assert_embedding_figure(figures["embedding.png"], model.transformer.wte.weight.detach(), LABELS)


def test_existing_gradients_are_kept() -> None:
    torch.manual_seed(0)
    model = CharMLP(V, block_size=3, n_embd=4, n_hidden=8)
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
    assert points.shape == (27, 2) and points.dtype == torch.float32
    assert np.allclose(points.numpy(), pca(table), atol=1e-5)  # float32 of a float64 projection
    # a table of 2 columns or fewer is shown as it is, padded with zeros
    narrow = torch.tensor([[1.0], [2.0], [4.0]])
    assert torch.equal(principal_components(narrow), torch.tensor([[1.0, 0.0], [2.0, 0.0], [4.0, 0.0]]))


@pytest.fixture
def names_file(tmp_path: Path) -> Path:
    rng = random.Random(0)
    names = ["".join(rng.choice("abcdeilmnorsty") for _ in range(rng.randint(3, 7))) for _ in range(200)]
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    return path


def test_through_the_trainer(tmp_path: Path, names_file: Path, monkeypatch) -> None:
    """The trainer plots what it reported and saved: its losses at each evaluation, its final embedding."""
    figures: dict = {}

    def keep(*args, **kwargs) -> dict:
        figures.update(plot_figures(*args, **kwargs))
        return figures

    monkeypatch.setattr(plots, "plot_figures", keep)
    out = tmp_path / "run"
    events: list[dict] = []
    train_char(char_config("mlp-bn", input=str(names_file), out=str(out), max_steps=50, n_hidden=20, plots=True,
                           num_samples=2), events.append)
    names = ["loss.png", "embedding.png", "activations.png", "gradients.png", "update_ratio.png"]
    assert list(figures) == names and sorted(p.name for p in out.iterdir() if p.suffix == ".png") == sorted(names)
    assert not [p for p in out.iterdir() if "tmp" in p.name]
    (steps, train_losses), (eval_steps, val_losses) = lines(figures["loss.png"])
    evals = [e for e in events if e["event"] == "eval"]
    assert eval_steps == [e["step"] for e in evals] and val_losses == [e["val_loss"] for e in evals]
    assert steps == list(range(1, 51))  # under 1,000 steps: every step's loss
    assert [train_losses[e["step"] - 1] for e in evals] == [e["train_loss"] for e in evals]
    wte = load_checkpoint(out)["model"]["wte.weight"]
    assert_embedding_figure(figures["embedding.png"], wte, ["."] + sorted(set("abcdeilmnorsty")))
