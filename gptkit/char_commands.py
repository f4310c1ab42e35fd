"""The makemore lab's commands: train-char (one character-level model) and baselines (all of them, one table)."""

from __future__ import annotations

import os

import click
import torch

from gpt.char.baselines import TRAINED, markdown_table, run_baselines
from gpt.char.models import MODELS as CHAR_MODELS
from gpt.char.train import CharConfig, plan_char_run
from gpt.char.train import kept_when_stopped as char_kept_when_stopped
from gpt.char.train import train_char as train_char_model
from gpt.config import OPTIMIZERS
from gpt.progress import StepBar
from gptkit.options import clean_errors, setting_options, with_progress
from gptkit_base import texts


def parse_lr(value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected a number or numbers with commas (e.g. 0.1,0.01), got {value!r}") from None


@click.command("train-char")
@click.option("--model", type=click.Choice(CHAR_MODELS), default=None, help="[default: mlp; with --resume: the run's]")
@click.option("--input", "input_file", default=None, help="One example per line [default: the bundled names.txt].")
@click.option("--stream", is_flag=True, help="The input is one long text (e.g. Tiny Shakespeare), not examples.")
@click.option("--split", type=click.Choice(["80/10/10", "none"]), default="80/10/10", show_default=True,
              help="none: train and evaluate on every example (the lectures' first setting); prints 'nll VALUE'.")
@setting_options(CharConfig, ["block_size", "n_embd", "n_hidden", "n_layer", "n_head", "dropout", "max_steps",
                              "batch_size", "lr_decay_at", "weight_decay", "optimizer", "muon_lr", "smoothing",
                              "eval_interval", "ema"], types={"optimizer": click.Choice(OPTIMIZERS)})
@click.option("--lr", default=None, help="Learning rate, or rates with commas for a step schedule (0.1,0.01).")
@click.option("--seed", type=int, default=None, help="Seed of the split, the weights and the batches [default: 42].")
@click.option("--out", default=None, help="Run directory [default: out/char/<model>].")
@click.option("--members", default=None,
              help="ensemble: the run directories to mix, with commas (runs on the same --input and split).")
@click.option("--plots", is_flag=True, help="Also write PNGs: counts, loss, embeddings, activations, update ratios.")
@click.option("--num-samples", type=click.IntRange(min=0), default=20, show_default=True, help="Samples to print.")
@click.option("--overwrite", is_flag=True, help="Replace the run already in OUT.")
@click.option("--resume", is_flag=True,
              help="Continue OUT's run from its latest.pt (saved at each evaluation, and at the last step done when "
              "stopped), with its settings; flags may change max-steps, lr, muon-lr, lr-decay-at, eval-interval, "
              "num-samples, plots and device, not the model, its shape, the data, split, seed, batch-size, "
              "weight-decay, optimizer or ema.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, mps or auto (these models are tiny).")
@clean_errors
def train_char(model, input_file, stream, split, lr, seed, out, members, plots, num_samples, overwrite, resume, device,
               **flags) -> None:
    """Train a character-level baseline (makemore): bigram counts, bigram net, MLP, BatchNorm MLP, WaveNet, GPT.

    Reports the NLL of the train / val / test splits, writes OUT/latest.pt (for
    `generate`), split.json and metrics.json, and prints samples; * marks the ones
    that are not in the training set. A model trained by steps saves latest.pt at
    each evaluation and when stopped (Ctrl-C, kill); --resume goes on from it.

    \b
    Examples:
      python cli.py train-char --model bigram-counts --split none
      python cli.py train-char --model ngram
      python cli.py train-char --model ensemble --members out/char/gpt,out/char/ngram
      python cli.py train-char --model wavenet --plots
      python cli.py train-char --model gpt --input cities.txt --max-steps 5000
      python cli.py train-char --model mlp --stream --input data/tinyshakespeare.txt --block-size 8
      python cli.py train-char --model gpt --resume --max-steps 20000
    """
    settings = dict(model=model, input=input_file, stream=stream, split=split, lr=parse_lr(lr), seed=seed,
                    plots=plots, members=[m.strip() for m in members.split(",") if m.strip()] if members else None,
                    num_samples=num_samples, device=device, **flags)
    if resume:  # the run's own settings, changed only by the flags given
        source = click.get_current_context().get_parameter_source
        settings = {k: None if source("input_file" if k == "input" else k) == click.core.ParameterSource.DEFAULT
                    else v for k, v in settings.items()}
    cfg = plan_char_run(out=out, resume=resume, overwrite=overwrite, **settings)
    if cfg.model not in ("gpt", "gpt-modern"):
        torch.set_num_threads(1)  # the MLPs are tiny: a second thread only waits (measured: 1 thread is faster)
    result = with_progress(lambda bar: train_char_model(cfg, bar), StepBar(cfg.max_steps),
                           lambda: char_kept_when_stopped(cfg))
    for line in result.lines(cfg):
        click.echo(line)


@click.command("baselines")
@click.option("--input", "input_file", default=None, help="One example per line [default: the bundled names.txt].")
@click.option("--out", default="out/baselines", show_default=True, help="Directory for the runs and the tables.")
@click.option("--models", default=",".join(TRAINED), show_default=True,
              help="Which models, with commas; with two or more, their ensemble is the last row.")
@click.option("--workers", type=click.IntRange(min=1), default=min(2, os.cpu_count() or 1), show_default=True,
              help="Models trained at the same time (one thread each).")
@click.option("--overwrite", is_flag=True, help="Replace the runs already in OUT.")
@clean_errors
def baselines(input_file, out, models, workers, overwrite) -> None:
    """Train every baseline with its default recipe on the same splits and print one table.

    Also writes OUT/baselines.md and OUT/baselines.json, and each model's run
    directory OUT/<model> (for `generate`).
    """
    names = tuple(m.strip() for m in models.split(",") if m.strip())
    rows = run_baselines(input_file or str(texts.NAMES), out, names, workers,
                         lambda row: click.echo(row.done_line(), err=True), overwrite)
    click.echo(markdown_table(rows), nl=False)
    click.echo(f"wrote {out}/baselines.md and baselines.json")
