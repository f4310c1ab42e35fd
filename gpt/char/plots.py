"""The plots of a character-level run, the ones the makemore lectures look at.

    paths = write_plots(out, model, chars, boundary, history, x, y)
    figures = plot_figures(model, chars, boundary, history, x, y)  # the same plots as matplotlib Figures, by name

Each is a PNG in the run directory, written atomically (a temporary name, then
os.replace), and written only for the models it means something for:

- counts.png (bigram counts): the count table N[a, b], each cell labelled with
  its bigram and count. It shows where the model's probabilities come from:
  which characters start names (the "." row), which end them, which pairs never
  occur (and so lean on the smoothing).
- loss.png (any model that takes steps): the training loss (means of chunks of
  steps) and the val loss at each evaluation. The gap between them is
  over-fitting; a curve that is still falling says train longer; a "hockey
  stick" first drop says the initialisation was too confident.
- embedding.png (MLP, WaveNet, GPT): the character embeddings in 2-D (the first
  two principal components when the embedding is wider). Characters the model
  treats alike sit together: the vowels cluster, the boundary "." sits alone.
- activations.png (MLP, WaveNet: models with tanh layers): a histogram of each
  tanh layer's outputs on a training batch, with the share saturated
  (|t| > 0.97). A layer piled up at -1 and 1 passes almost no gradient back
  (the lectures' "dead" tanh); a well initialised one is spread over (-1, 1).
- gradients.png (same models): a histogram of the loss's gradient with respect
  to each tanh layer's output. Layers whose gradients differ widely in scale
  learn at very different speeds.
- update_ratio.png (when the trainer recorded it): log10 of the size of each
  step's update relative to the size of the weights, per parameter over the
  steps. The lectures' rule of thumb is about 1e-3 (the dashed line at -3): far
  below, the learning rate is too low for that parameter; far above, too high.

Writing the plots has no side effects on the model: the one forward/backward
pass for the histograms runs in train mode (as training does), and the model's
training flag, its buffers (BatchNorm running statistics), its gradients and its
hooks are all as they were afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gptkit_base.files import atomic_write

from ..model import GPT
from ..runs import (
    ACTIVATIONS_PLOT,
    COUNTS_PLOT,
    EMBEDDING_PLOT,
    GRADIENTS_PLOT,
    LOSS_PLOT,
    UPDATE_RATIO_PLOT,
)
from .models import BigramCounts

MAX_LABELLED_VOCAB = 40  # above this, the count table's per-cell labels are unreadable
SATURATED = 0.97


def write_plots(out: Path, model: nn.Module, chars: str, boundary: bool, history: dict,
                x: torch.Tensor, y: torch.Tensor) -> list[Path]:
    """Write the PNGs that apply to this model and history into `out`; the paths written, in order."""
    written: list[Path] = []
    for name, fig in plot_figures(model, chars, boundary, history, x, y).items():
        path = Path(out) / name
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
        written.append(path)
    return written


def plot_figures(model: nn.Module, chars: str, boundary: bool, history: dict,
                 x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """The matplotlib Figures that apply to this model and history, by file name, in order (nothing is written)."""
    labels = symbol_labels(chars, boundary)
    figures: dict[str, Any] = {}
    if isinstance(model, BigramCounts):
        figures[COUNTS_PLOT] = _counts_figure(model.counts.detach().cpu(), labels)
    if history.get("loss") or history.get("eval"):
        figures[LOSS_PLOT] = _loss_figure(history.get("loss", []), history.get("eval", []))
    embedding = _embedding_table(model)
    if embedding is not None:
        figures[EMBEDDING_PLOT] = _embedding_figure(embedding.detach().float().cpu(), labels)
    if any(isinstance(m, nn.Tanh) for m in model.modules()):
        outputs = tanh_outputs(model, x, y)
        figures[ACTIVATIONS_PLOT] = _histogram_figure({n: t for n, (t, _) in outputs.items()}, "tanh output",
                                                      activations=True)
        grads = {n: g for n, (_, g) in outputs.items() if g is not None}
        if grads:
            figures[GRADIENTS_PLOT] = _histogram_figure(grads, "gradient of the loss w.r.t. the tanh output",
                                                        activations=False)
    if history.get("update_ratio"):
        figures[UPDATE_RATIO_PLOT] = _update_ratio_figure(history["update_ratio"])
    return figures


def _axes(figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A Figure of its own (not pyplot's: nothing global to close) and its one Axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def symbol_labels(chars: str, boundary: bool) -> list[str]:
    """The printable label of each id: "." for the boundary (id 0), "\\n" and "␣" for newline and space."""
    shown = [{"\n": "\\n", " ": "␣", "\t": "\\t"}.get(c, c) for c in chars]
    return ["."] + shown if boundary else shown


def _label(labels: list[str], i: int) -> str:
    return labels[i] if i < len(labels) else f"#{i}"  # a padded vocabulary's unused ids


def _embedding_table(model: nn.Module) -> torch.Tensor | None:
    if isinstance(model, GPT):
        return model.transformer.wte.weight
    wte = getattr(model, "wte", None)
    return wte.weight if isinstance(wte, nn.Embedding) else None


@contextmanager
def _no_side_effects(model: nn.Module) -> Iterator[None]:
    """Restore the model's training flag, buffers and gradients on exit."""
    training = model.training
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    grads = {name: p.grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = None  # backward would otherwise accumulate into (and so change) the saved gradients
    try:
        yield
    finally:
        model.train(training)
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for name, p in model.named_parameters():
            p.grad = grads[name]


def tanh_outputs(model: nn.Module, x: torch.Tensor,
                 y: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """Each nn.Tanh module's output on (x, y) and the loss's gradient w.r.t. it (CPU tensors), by module name.

    One forward and backward in train mode; the model is left exactly as it was (see _no_side_effects).
    """
    tensors: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Callable[[nn.Module, Any, torch.Tensor], None]:
        def record(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            if output.requires_grad:
                output.retain_grad()
            tensors[name] = output

        return record

    device = next((t.device for t in model.state_dict().values()), torch.device("cpu"))
    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules() if isinstance(m, nn.Tanh)]
    with _no_side_effects(model):
        try:
            model.train()
            with torch.enable_grad():
                _, loss = model(x.to(device), y.to(device))
                if loss is not None and loss.requires_grad:
                    loss.backward()
        finally:
            for handle in handles:
                handle.remove()
    return {name: (t.detach().float().cpu(), None if t.grad is None else t.grad.float().cpu())
            for name, t in tensors.items()}


def _counts_figure(counts: torch.Tensor, labels: list[str]) -> Any:
    v = counts.size(0)
    side = min(max(8.0, 0.6 * v), 24.0)  # 16 in for 27 symbols, as in the lecture
    fig, ax = _axes((side, side))
    ax.imshow(counts.numpy(), cmap="Blues")
    if v <= MAX_LABELLED_VOCAB:  # the lecture's table: each cell says its bigram and its count
        for i in range(v):
            for j in range(v):
                # one two-line text per cell (bigram over count): half the text objects of two, so half the time
                ax.text(j, i, f"{_label(labels, i)}{_label(labels, j)}\n{int(counts[i, j])}", ha="center",
                        va="center", color="gray")
        ax.axis("off")
    else:  # too many cells to read: label the rows (previous) and columns (next) instead
        names = [_label(labels, i) for i in range(v)]
        ax.set_xticks(range(v), names, fontsize=6)
        ax.set_yticks(range(v), names, fontsize=6)
        ax.set_xlabel("next")
        ax.set_ylabel("previous")
    ax.set_title("bigram counts N[previous, next]")
    return fig


def _loss_figure(loss: list, evals: list[dict]) -> Any:
    fig, ax = _axes((7, 4))
    if loss:
        ax.plot(*zip(*loss, strict=True), label="train (mean over steps)")
    if evals:
        ax.plot([e["step"] for e in evals], [e["val"] for e in evals], marker="o", label="val")
    values = [v for _, v in loss] + [e["val"] for e in evals]
    if values and min(values) > 0 and max(values) > 2 * min(values):
        # a wide range (a badly initialised net's first losses): log scale, as the lectures plot log10(loss),
        # so the late, small improvements stay visible; with plain numbers on the axis, not 2.4 x 10^0
        from matplotlib.ticker import FormatStrFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/character)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def principal_components(table: torch.Tensor, k: int = 2) -> torch.Tensor:
    """The rows of `table` projected onto its first k principal components (deterministic signs)."""
    centred = table - table.mean(0, keepdim=True)
    if table.size(1) <= k:
        return torch.nn.functional.pad(table, (0, k - table.size(1)))
    _, _, vh = torch.linalg.svd(centred.double(), full_matrices=False)
    axes = vh[:k]
    # an SVD's signs are arbitrary: make each axis's largest component positive
    signs = torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))
    return (centred.double() @ (axes * signs).T).float()


def _embedding_figure(table: torch.Tensor, labels: list[str]) -> Any:
    points = principal_components(table)
    projected = table.size(1) > 2
    fig, ax = _axes((8, 8))
    ax.scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=200)
    for i, (px, py) in enumerate(points.tolist()):
        ax.text(px, py, _label(labels, i), ha="center", va="center", color="white")
    ax.set_xlabel("principal component 1" if projected else "dimension 0")
    ax.set_ylabel("principal component 2" if projected else "dimension 1")
    ax.set_title(f"character embeddings ({table.size(1)}-D{', PCA' if projected else ''})")
    ax.grid(alpha=0.3)
    return fig


def _histogram_figure(tensors: dict[str, torch.Tensor], xlabel: str, activations: bool) -> Any:
    fig, ax = _axes((10, 4))
    for name, t in tensors.items():
        counts, edges = torch.histogram(t.flatten(), bins=50, density=True)
        if activations:
            saturated = (t.abs() > SATURATED).float().mean()
            legend = f"{name}: mean {t.mean():+.2f}, std {t.std():.2f}, saturated {saturated:.1%}"
        else:
            legend = f"{name}: mean {t.mean():+.2e}, std {t.std():.2e}"
        ax.plot(((edges[:-1] + edges[1:]) / 2).numpy(), counts.numpy(), label=legend)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title("activation distribution" if activations else "gradient distribution")
    ax.legend(fontsize=8)
    return fig


def _update_ratio_figure(ratios: dict[str, list]) -> Any:
    fig, ax = _axes((10, 4))
    for name, points in ratios.items():
        if points:
            ax.plot(*zip(*points, strict=True), label=name)
    ax.axhline(-3, color="k", linestyle="--", label="1e-3 (rule of thumb)")
    ax.set_xlabel("step")
    ax.set_ylabel("log10(update std / weight std)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(ratios) > 8 else 1)
    return fig
