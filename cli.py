"""gptkit's command line: one click group; each command is a thin layer over the library.

    python cli.py --help
    python cli.py train-tokenizer --input corpus.txt --vocab-size 4096 --output mytok
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shlex
import sys
import typing
import warnings
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import click
import torch

import minbpe
from gpt.char.baselines import TRAINED, markdown_table, run_baselines
from gpt.char.models import MODELS as CHAR_MODELS
from gpt.char.train import CharConfig, plan_char_run
from gpt.char.train import kept_when_stopped as char_kept_when_stopped
from gpt.char.train import train_char as train_char_model
from gpt.config import DTYPES, OPTIMIZERS, PRESETS, SettingsConflict, TrainConfig
from gpt.device import Launch, pick_device
from gpt.generate import SampleConfig
from gpt.hf import export_run
from gpt.model import ARCHS, GELU_ALIASES, GELUS
from gpt.plan import plan_training
from gpt.progress import StepBar
from gpt.runs import RunSampler, latest_run
from gpt.train import evaluate_checkpoint, evaluation_line, kept_when_stopped, train
from gptkit_base import texts
from gptkit_base.errors import GptkitError, NotUTF8Error
from gptkit_base.files import require_new_directory
from gptkit_base.signals import Terminated, stop_on_sigterm
from minbpe.compare import compare as compare_texts
from minbpe.compare import comparison_table, mismatch_report
from minbpe.core import BACKENDS, counted, parse_allowed_special, parse_ids, show_piece
from minbpe.hf_tokenizers import export_tokenizer
from minbpe.text import read_text
from pipeline.loader import TokenData
from pipeline.manifest import gptkit_version
from pipeline.prepare import PrepareBars, PrepareConfig, prepare

T = TypeVar("T")


def clean_errors(command: Callable) -> Callable:
    """Turn what a user's input causes (the project's errors, and the system's: a missing file, a full disk)
    into one 'Error: ...' line and exit code 1, or for settings that exclude each other (SettingsConflict: the
    command line must change) a usage error, exit code 2. Any other exception is a bug: it keeps its traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SettingsConflict as e:
            raise click.UsageError(str(e)) from None
        except (GptkitError, OSError) as e:
            raise click.ClickException(str(e)) from None

    return wrapper


def with_progress(work: Callable[[Any], T], bar: Any, kept: str | Callable[[], str]) -> T:
    """Run work(bar) with a progress bar; on Ctrl-C say what was kept (kept, or what kept() says then) and exit
    130, on SIGTERM 143 (the shell's codes for them)."""
    try:
        with closing(bar):  # closed before anything is said below: the bar's line ends, the message has its own
            return work(bar)
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, Terminated)
        click.echo(f"{'terminated' if terminated else 'interrupted'}: {kept() if callable(kept) else kept}", err=True)
        sys.exit(143 if terminated else 130)


allowed_special_option = click.option(
    "--allowed-special", default="none_raise", show_default=True,
    help="Special tokens in the text: 'all' encodes them as special ids, 'none' as ordinary "
    "text, 'none_raise' stops with an error, or a comma-separated list of names to allow.",
)
tokenizer_option = click.option(
    "--tokenizer", "spec", required=True, help="gpt2, gpt4, or a .model file written by train-tokenizer (or minbpe).",
)
backend_option = click.option(
    "--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
    help="auto: tiktoken's encoder when it is proven to give the same ids, else Python; "
    "python: the merge loop; tiktoken: refuse unless proven exact.",
)
errors_option = click.option(
    "--errors", type=click.Choice(["strict", "replace"]), default="strict", show_default=True,
    help="Bytes that are not UTF-8: strict stops with the file and offset; replace reads U+FFFD.",
)


def setting_options(settings: type, names: list[str], show_defaults: bool = False,
                    types: dict[str, click.ParamType] | None = None) -> Callable[[Callable], Callable]:
    """click options for settings of a config dataclass, in this order: --name-with-dashes, the field's type (or
    types[name], e.g. a click.Choice; a bool is a flag), the help text in its metadata, and default None (= not
    given: the preset's or the model's recipe's value) or, with show_defaults, the dataclass's default, shown."""
    fields = {f.name: f for f in dataclasses.fields(settings)}
    hints = typing.get_type_hints(settings)

    def decorate(command: Callable) -> Callable:
        for name in reversed(names):
            field, kind = fields[name], (types or {}).get(name, hints[name])
            kind = next(k for k in typing.get_args(kind) or (kind,) if k is not type(None))  # int | None: an int
            command = click.option(f"--{name.replace('_', '-')}", type=kind, is_flag=kind is bool,
                                   default=field.default if show_defaults else None, show_default=show_defaults,
                                   help=field.metadata["help"])(command)
        return command

    return decorate


def stdin_text(errors: str | None) -> str:
    """Standard input as text, for a command used in a pipe (a terminal with nothing piped in is a usage error);
    errors: the command's --errors policy, None for a command without one (then strict)."""
    stream = sys.stdin.buffer
    if stream.isatty():
        raise click.UsageError("give the input as an argument, with --input FILE, or pipe it in")
    try:
        return stream.read().decode("utf-8", errors or "strict")
    except UnicodeDecodeError as e:
        advice = " or use --errors replace" if errors else ""
        raise click.ClickException(f"standard input: invalid UTF-8 at byte offset {e.start}; fix it{advice}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(gptkit_version(), prog_name="gptkit")
def main() -> None:
    """gptkit: train a BPE tokenizer on your text, prepare token shards, train a GPT and sample from it."""
    click.get_current_context().call_on_close(stop_on_sigterm())


@main.command("train-tokenizer")
@click.option("--input", "inputs", multiple=True, required=True, help="UTF-8 text file to learn from (repeatable).")
@click.option("--vocab-size", type=int, required=True, help="Total vocabulary: 256 bytes + merges + special tokens.")
@click.option("--output", required=True, help="Prefix of the files to write: PREFIX.model and PREFIX.vocab.")
@click.option("--type", "kind", type=click.Choice(["regex", "basic"]), default="regex", show_default=True,
              help="regex: BPE inside the chunks of a split pattern; basic: BPE over the raw text.")
@click.option("--pattern", default="gpt4", show_default=True,
              help="Split pattern for --type regex: gpt2, gpt4, or a regular expression.")
@click.option("--special", multiple=True, help="A special token, e.g. '<|endoftext|>' (repeatable); gets the last ids.")
@click.option("--workers", type=int, default=None, help="Processes that split the text [default: all cores].")
@click.option("--overwrite", is_flag=True, help="Replace PREFIX.model and PREFIX.vocab if they exist.")
@errors_option
@clean_errors
def train_tokenizer(inputs, vocab_size, output, kind, pattern, special, workers, errors, overwrite) -> None:
    """Learn a byte-level BPE tokenizer from text files.

    \b
    Examples:
      python cli.py train-tokenizer --input data/taylorswift.txt --vocab-size 512 --output tok
      python cli.py train-tokenizer --input a.txt --input b.txt --vocab-size 32768 \\
          --pattern gpt2 --special '<|endoftext|>' --output out/tok32k
    """
    with warnings.catch_warnings(record=True) as caught:  # the library's warnings become notes
        warnings.simplefilter("always")
        tokenizer, stats = minbpe.train_tokenizer(inputs, vocab_size, output, kind, pattern, special, workers, errors,
                                                  verbose=True, overwrite=overwrite)
    for w in caught:
        click.echo(f"note: {w.message}", err=True)
    click.echo(stats.summary())
    click.echo(f"wrote {output}.model and {output}.vocab ({tokenizer.n_vocab} tokens)")


# background colours for --show on a terminal, cycled token by token
SHOW_COLOURS = ["blue", "magenta", "green", "yellow", "cyan", "red"]


@main.command()
@tokenizer_option
@click.option("--input", "input_file", type=click.Path(dir_okay=False), help="Encode this UTF-8 file instead of TEXT.")
@allowed_special_option
@backend_option
@click.option("--show", is_flag=True,
              help="Draw the token boundaries instead of printing ids: coloured on a terminal, [bracketed] if piped.")
@errors_option
@click.argument("text", required=False)
@clean_errors
def encode(spec, input_file, allowed_special, backend, show, errors, text) -> None:
    """Print the token ids of TEXT (or of --input FILE, or of standard input), separated by spaces.

    \b
    Examples:
      python cli.py encode --tokenizer tok.model "hello world"
      python cli.py encode --tokenizer gpt4 --show "How does GPT-4 split this?"
      python cli.py encode --tokenizer tok.model --input notes.txt --allowed-special all
      cat notes.txt | python cli.py encode --tokenizer gpt2 | python cli.py decode --tokenizer gpt2
    """
    if text is not None and input_file is not None:
        raise click.UsageError("give TEXT or --input FILE, not both")
    if input_file is not None:
        text = read_text(input_file, errors)
    elif text is None:
        text = stdin_text(errors)
    tokenizer = minbpe.get_tokenizer(spec)
    ids = tokenizer.encode(text, parse_allowed_special(allowed_special), backend)
    if not show:
        click.echo(" ".join(map(str, ids)))
        return
    pieces = [show_piece(tokenizer.decode_bytes([idx])) for idx in ids]
    if sys.stdout.isatty():
        out = "".join(click.style(p, bg=SHOW_COLOURS[i % len(SHOW_COLOURS)]) for i, p in enumerate(pieces))
    else:
        out = "".join(f"[{p}]" for p in pieces)
    click.echo(out)
    click.echo(f"({counted(len(ids), 'token')}, {counted(len(text), 'character')})", err=True)


@main.command()
@tokenizer_option
@click.argument("ids", nargs=-1)
@clean_errors
def decode(spec, ids) -> None:
    """Print the text of token IDS (separated by spaces or commas; read from standard input when none are given).

    \b
    Example:
      python cli.py decode --tokenizer tok.model 72 101 300
    """
    numbers = parse_ids(" ".join(ids) if ids else stdin_text(None))
    sys.stdout.write(minbpe.get_tokenizer(spec).decode(numbers) + "\n")


@main.command()
@tokenizer_option
@click.option("--encoding", "encoding_name", required=True,
              help="A tiktoken encoding: gpt2, r50k_base, cl100k_base (bundled), or any name tiktoken knows.")
@click.option("--input", "inputs", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="UTF-8 text file to encode with both (repeatable).")
@allowed_special_option
@backend_option
@errors_option
@clean_errors
def compare(spec, encoding_name, inputs, allowed_special, backend, errors) -> None:
    """Compare a tokenizer with a tiktoken encoding, token for token.

    One row per file and a total: whether the ids agree, token counts, bytes per
    token and MB/s of each side; for a file that differs, the first mismatch with
    its context and both id sequences. Exit code 0 when every file is identical,
    1 when not.

    \b
    Examples:
      python cli.py compare --tokenizer gpt4 --encoding cl100k_base --input data/taylorswift.txt
      python cli.py compare --tokenizer tok.model --encoding gpt2 --input a.txt --input b.txt
    """
    tokenizer = minbpe.get_tokenizer(spec)
    encoding = minbpe.get_encoding(encoding_name)
    policy = parse_allowed_special(allowed_special)
    results = [(path, compare_texts(tokenizer, encoding, read_text(path, errors), policy, backend))
               for path in inputs]
    click.echo("\n".join(comparison_table(results, spec, encoding.name)))
    mismatches = [(path, r) for path, r in results if not r.same]
    for path, r in mismatches:
        click.echo("\n" + "\n".join(mismatch_report(path, r, tokenizer, encoding, spec)))
    if mismatches:
        sys.exit(1)


def _command_line(ctx: click.Context) -> str:
    """The command as the user gave it (options left at their default omitted), for the manifest."""
    words = ["gptkit", ctx.info_name or ""]
    for param in ctx.command.params:
        if ctx.get_parameter_source(param.name) == click.core.ParameterSource.DEFAULT:
            continue
        value = ctx.params[param.name]
        if isinstance(param, click.Argument):
            words += [str(v) for v in (value if isinstance(value, tuple) else (value,))]
        elif param.is_flag:
            words.append(param.opts[0])
        else:
            for v in value if param.multiple else (value,):
                words += [param.opts[0], str(v)]
    return shlex.join(words)


@main.command("prepare")
@click.option("--input", "inputs", multiple=True, required=True,
              help="A text, JSONL or Parquet file, a directory, a glob, or hf:DATASET[?key=value&...] (repeatable).")
@click.option("--tokenizer", required=True, help="gpt2, gpt4, char (learned from the corpus) or a .model file.")
@click.option("--output", required=True,
              help="Directory for the shards and manifest.json: new, empty, or an interrupted run's (it resumes).")
@click.option("--workers", type=int, default=None, help="Tokenizing processes [default: all cores].")
@setting_options(PrepareConfig, ["shard_tokens", "val_fraction", "val_first_shard", "seed", "text_field",
                                 "doc_separator", "delimiter"], show_defaults=True)
@errors_option
@clean_errors
def prepare_command(inputs, tokenizer, output, workers, delimiter, errors, **settings) -> None:
    """Tokenize a corpus into token shards (llm.c's .bin format) and a manifest.

    \b
    Examples:
      python cli.py prepare --input data/taylorswift.txt --tokenizer gpt2 --output data/taylor
      python cli.py prepare --input corpus/ --input extra.jsonl --tokenizer mytok.model --output data/c
      python cli.py prepare --input names.txt --doc-separator line --tokenizer char --output data/names
    Running it again on an interrupted run's --output carries on where it stopped.
    """
    config = PrepareConfig(list(inputs), output, tokenizer, workers or os.cpu_count() or 1, **settings, errors=errors,
                           delimiter=None if delimiter == "none" else delimiter,
                           command=_command_line(click.get_current_context()))
    result = with_progress(lambda bars: prepare(config, bars), PrepareBars(),
                           f"{output} keeps the work done: run this again to resume")
    for line in result.summary():
        click.echo(line)
    for note in result.notes():
        click.echo(f"note: {note}", err=True)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--split", default="train", show_default=True, help="The split whose shard to show.")
@click.option("--shard", "shard_index", type=int, default=0, show_default=True, help="Which of its shards.")
@click.option("--tokens", "n_tokens", type=click.IntRange(min=0), default=64, show_default=True,
              help="How many tokens to decode.")
@click.option("--verify", is_flag=True, help="Also check the sha256 of every shard of the split.")
@clean_errors
def inspect(directory, split, shard_index, n_tokens, verify) -> None:
    """Summarize a prepared data directory and decode the first tokens of one of its shards.

    \b
    Examples:
      python cli.py inspect data/taylor
      python cli.py inspect data/taylor --split val --tokens 200 --verify
    """
    data = TokenData(directory, split, verify=verify)
    for line in [*data.manifest.summary(directory), *data.preview(shard_index, n_tokens)]:
        click.echo(line)


@main.command("train-gpt")
@click.option("--data", type=click.Path(file_okay=False), help="A prepared data directory (python cli.py prepare).")
@click.option("--input", "inputs", multiple=True, help="Text file(s) to prepare on the fly into OUT/data.")
@click.option("--tokenizer", "spec", default="char", show_default=True,
              help="With --input: char, gpt2, gpt4 or a .model file.")
@click.option("--out", default=None, help="Run directory (checkpoints, metrics.jsonl, loss.png). "
              "[default: out/<preset or 'run'>]")
@click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
              help="A nanoGPT recipe; flags override its values.")
@setting_options(TrainConfig, ["arch", "n_layer", "n_head", "n_kv_head", "n_embd", "block_size", "batch_size",
                              "grad_accum", "max_iters", "lr", "min_lr", "warmup_iters", "lr_decay_iters", "beta2",
                              "weight_decay", "optimizer", "muon_lr", "muon_momentum", "muon_weight_decay", "dropout",
                              "gelu", "eval_interval", "eval_iters", "device", "dtype", "seed"],
                 types={"arch": click.Choice(ARCHS), "gelu": click.Choice([*GELUS, *GELU_ALIASES]),
                        "dtype": click.Choice(DTYPES), "optimizer": click.Choice(OPTIMIZERS)})
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile the model.")
@click.option("--resume", is_flag=True,
              help="Continue OUT's run exactly where it stopped, with its settings; flags may change max-iters, the "
              "learning-rate schedule, evaluation, device, dtype and compile, not the model's shape, batch-size, "
              "grad-accum, seed, optimizer or the data.")
@click.option("--overwrite", is_flag=True, help="Start afresh in an OUT that holds a run (replacing it).")
@click.option("--init-from", default=None, help="Start from a pretrained GPT-2: a Hugging Face directory, or gpt2, "
              "gpt2-medium, gpt2-large, gpt2-xl (fetched from the hub); its shape, --block-size may shorten it.")
@click.option("--samples", type=click.IntRange(min=0), default=1, show_default=True,
              help="Samples to print at the end.")
@clean_errors
def train_gpt(data, inputs, spec, out, preset, compile_, resume, overwrite, init_from, samples, **flags) -> None:
    """Train a GPT on prepared shards (or on text files, prepared on the fly).

    With no arguments, trains a small character-level GPT on the bundled Tiny
    Shakespeare (nanoGPT's CPU recipe, a few minutes on a laptop) and prints a sample.

    \b
    Examples:
      python cli.py train-gpt
      python cli.py train-gpt --data out/owt --preset gpt2-124m --compile
      python cli.py train-gpt --input notes.txt --tokenizer gpt2 --max-iters 500 --out out/notes
      torchrun --nproc_per_node 8 cli.py train-gpt --data out/owt --preset gpt2-124m
    """
    plan = plan_training(data, inputs, spec, preset, out, resume, overwrite, init_from, compile=compile_, **flags)
    for note in plan.notes:
        click.echo(note, err=True)
    if (prepared := plan.prepare_data()) is not None:
        click.echo(prepared, err=True)
    cfg, master = plan.config, Launch.from_env().master
    result = with_progress(lambda bar: train(cfg, bar), StepBar(cfg.max_iters, disable=not master),
                           kept_when_stopped(cfg))
    if not master:
        return
    for line in result.lines(cfg.eval_iters):
        click.echo(line)
    for i in range(samples):
        click.echo(f"--- sample {i + 1} ---")
        stream_samples(result.out, None, SampleConfig(max_new_tokens=300, temperature=0.8, top_k=200),
                       1, cfg.seed + i, "cpu")


def parse_lr(value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected a number or numbers with commas (e.g. 0.1,0.01), got {value!r}") from None


@main.command("train-char")
@click.option("--model", type=click.Choice(CHAR_MODELS), default=None, help="[default: mlp; with --resume: the run's]")
@click.option("--input", "input_file", default=None, help="One example per line [default: the bundled names.txt].")
@click.option("--stream", is_flag=True, help="The input is one long text (e.g. Tiny Shakespeare), not examples.")
@click.option("--split", type=click.Choice(["80/10/10", "none"]), default="80/10/10", show_default=True,
              help="none: train and evaluate on every example (the lectures' first setting); prints 'nll VALUE'.")
@setting_options(CharConfig, ["block_size", "n_embd", "n_hidden", "n_layer", "n_head", "dropout", "max_steps",
                              "batch_size", "lr_decay_at", "weight_decay", "smoothing", "eval_interval", "ema"])
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
              "stopped), with its settings; flags may change max-steps, lr, lr-decay-at, eval-interval, "
              "num-samples, plots and device, not the model, its shape, the data, split, seed, batch-size, "
              "weight-decay or ema.")
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
    if cfg.model != "gpt":
        torch.set_num_threads(1)  # the MLPs are tiny: a second thread only waits (measured: 1 thread is faster)
    result = with_progress(lambda bar: train_char_model(cfg, bar), StepBar(cfg.max_steps),
                           lambda: char_kept_when_stopped(cfg))
    for line in result.lines(cfg):
        click.echo(line)


@main.command("baselines")
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


def stream_samples(checkpoint: str, prompt: str | None, sample: SampleConfig, num_samples: int, seed: int,
                   device: str) -> None:
    """Print samples from a checkpoint as they are generated: train-gpt's (or a Hugging Face GPT-2
    directory's) streamed token by token, train-char's as whole examples (names...) of a line dataset,
    or text of a stream."""
    sampler = RunSampler(checkpoint, device)
    if sampler.warning:
        click.echo(f"warning: {sampler.warning}", err=True)
    for i, pieces in enumerate(sampler.samples(prompt, sample, num_samples, seed)):
        if num_samples > 1 and sampler.streams:  # a character model's samples are one per line
            click.echo(f"--- sample {i + 1} ---")
        sys.stdout.write(prompt or "")
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")


@main.command("eval")
@click.option("--checkpoint", required=True, help="A train-gpt run directory (its latest.pt) or a .pt file.")
@click.option("--data", required=True, type=click.Path(file_okay=False),
              help="A data directory prepared with the run's tokenizer.")
@click.option("--split", default="val", show_default=True, help="The split to score.")
@click.option("--max-batches", type=click.IntRange(min=1), default=None, help="Score only this many batches "
              "[default: the whole split].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: the run's]")
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
@clean_errors
def eval_command(checkpoint, data, split, max_batches, batch_size, device, as_json) -> None:
    """Score a trained GPT on prepared data: loss (nats per token) and bits per byte.

    Bits per byte divides by the text's bytes, not its tokens, so runs with different
    tokenizers compare.

    \b
    Example:
      python cli.py eval --checkpoint out/shakespeare-char-cpu --data out/shakespeare-char-cpu/data
    """
    result = evaluate_checkpoint(checkpoint, data, split, max_batches, batch_size, device)
    if as_json:
        click.echo(json.dumps({"checkpoint": str(checkpoint), "data": str(data), **result}))
    else:
        click.echo(evaluation_line(result, checkpoint, data, max_batches))


@main.command("export")
@click.option("--checkpoint", default=None, help="A train-gpt run directory (its latest.pt) or a .pt file.")
@click.option("--tokenizer", "spec", default=None, help="Or only a tokenizer: gpt2, gpt4 or a .model file.")
@click.option("--output", required=True, help="The directory to write (new or empty).")
@clean_errors
def export(checkpoint, spec, output) -> None:
    """Write a train-gpt run as a Hugging Face GPT-2 model directory, or a tokenizer as tokenizer.json.

    A run: config.json, model.safetensors and generation_config.json, which
    `transformers.AutoModelForCausalLM.from_pretrained(OUTPUT)` loads with this model's
    logits, and its tokenizer. A tokenizer: tokenizer.json and tokenizer_config.json
    (`AutoTokenizer.from_pretrained(OUTPUT)` gives its ids) and tiktoken's rank file. Each
    is checked to give exactly our ids, or refused with the reason. Needs the extra:
    pip install 'gptkit[hf]'.

    \b
    Examples:
      python cli.py export --checkpoint out/shakespeare-char-cpu --output out/hf-shakespeare
      python cli.py export --tokenizer tok.model --output out/hf-tok
    """
    if (checkpoint is None) == (spec is None):
        raise click.UsageError("give --checkpoint (a run) or --tokenizer, one of them")
    if checkpoint is not None:
        written, notes = export_run(checkpoint, output)
    else:
        tokenizer = minbpe.get_tokenizer(spec)
        require_new_directory(output)
        written, notes = export_tokenizer(tokenizer, output)
    click.echo(f"wrote {output}: {', '.join(p.name for p in written)}")
    for note in notes:
        click.echo(f"note: {note}", err=True)


@main.command("generate")
@click.option("--checkpoint", default=None,
              help="A run directory (its latest.pt), a checkpoint .pt file, or a Hugging Face GPT-2 directory "
              "[default: the most recently written run under out/].")
@click.option("--prompt", default=None, help="Text to continue.")
@click.option("--prompt-file", type=click.File("r", encoding="utf-8"), default=None,
              help="Read the prompt from a file ('-' for stdin).")
@click.option("--max-new-tokens", type=click.IntRange(min=0), default=500, show_default=True)
@click.option("--temperature", type=float, default=0.8, show_default=True, help="0 = always the likeliest token.")
@click.option("--top-k", type=int, default=200, show_default=True, help="Sample among the k likeliest (0 = all).")
@click.option("--top-p", type=float, default=None, help="Sample among the likeliest tokens up to this mass.")
@click.option("--num-samples", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=1337, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--no-cache", is_flag=True, help="Recompute the whole context for every token (no KV cache).")
@clean_errors
def generate_command(checkpoint, prompt, prompt_file, max_new_tokens, temperature, top_k, top_p, num_samples, seed,
                     device, no_cache) -> None:
    """Sample text from a trained GPT, streamed as it is generated.

    \b
    Examples:
      python cli.py generate --checkpoint out/shakespeare-char-cpu --prompt "ROMEO:"
      echo "Once upon a time" | python cli.py generate --checkpoint out/run --prompt-file - --top-p 0.9
    """
    if prompt is not None and prompt_file is not None:
        raise click.ClickException("give --prompt or --prompt-file, not both")
    if checkpoint is None:
        checkpoint = latest_run("out")
        if checkpoint is None:
            raise click.UsageError("no --checkpoint, and no run under out/: train one (gptkit train-gpt) first")
        click.echo(f"sampling from {checkpoint} (the most recent run under out/)", err=True)
    if prompt_file is not None:
        try:
            prompt = prompt_file.read()
        except UnicodeDecodeError as e:
            raise NotUTF8Error.reading(prompt_file.name, e) from None
    sample = SampleConfig(max_new_tokens, temperature, top_k or None, top_p, use_cache=not no_cache)
    stream_samples(checkpoint, prompt, sample, num_samples, seed, device)


@main.command("serve")
@click.option("--runs", default="out", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="A directory of runs (train-gpt, train-char) to show and sample from.")
@click.option("--tokenizer", "tokenizers", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A .model file to offer beside gpt2 and gpt4 (repeatable).")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0: any free port.")
@click.option("--device", default="auto", show_default=True, help="Where samples are generated.")
@clean_errors
def serve_command(runs, tokenizers, host, port, device) -> None:
    """A local web playground: tokens of each tokenizer, runs' loss curves, streamed samples.

    \b
    Examples:
      python cli.py serve
      python cli.py serve --runs out --tokenizer mytok.model --port 8080
    """
    try:
        from playground import PlaygroundConfig, PlaygroundServer, is_loopback
    except ImportError as e:
        missing = (e.name or "a module").split(".")[0]
        raise click.ClickException(f"the playground needs the web stack ({missing} is not installed): "
                                   "pip install 'gptkit[serve]'") from None
    if pick_device(device).type == "cpu":  # (and a device this machine lacks is an error now, not at the first sample)
        # a sample is drawn a token at a time, in products too small to share: a second thread only waits for its
        # turn, and on a busy machine each operation waits (measured beside 2 busy processes on 2 cores: 120 tokens
        # of a small char GPT 10 s with 2 threads, 0.2 s with 1; GPT-2 124M 400 against 50 ms a token)
        torch.set_num_threads(1)
    server = PlaygroundServer(PlaygroundConfig(runs, list(tokenizers), device), host, port)
    if not is_loopback(host):
        click.echo(f"warning: listening on {host}: anyone who can reach this machine can use the playground "
                   "(and its CPU or GPU, by sampling)", err=True)
    click.echo(f"gptkit playground at {server.address} (Ctrl-C to stop)", err=True)
    server.run()


if __name__ == "__main__":
    main()
