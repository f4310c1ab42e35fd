"""gptkit's command line: one click group; each command is a thin layer over the library.

    python cli.py --help
    python cli.py train-tokenizer --input corpus.txt --vocab-size 4096 --output mytok
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import signal
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import click
import torch
from tqdm.auto import tqdm

import minbpe
from gpt.char.baselines import TRAINED, markdown_table, run_baselines
from gpt.char.models import MODELS as CHAR_MODELS
from gpt.char.train import kept_when_stopped, plan_char_run
from gpt.char.train import train_char as train_char_model
from gpt.config import PRESETS, SettingsConflict
from gpt.device import Launch, pick_device
from gpt.generate import SampleConfig
from gpt.hf import export_run
from gpt.model import GELU_ALIASES, GELUS
from gpt.plan import plan_training
from gpt.progress import RunProgress
from gpt.runs import RunSampler, latest_run
from gpt.train import evaluate_checkpoint, train
from gptkit_base import texts
from gptkit_base.errors import GptkitError, NotUTF8Error
from gptkit_base.files import require_new_directory
from minbpe.compare import compare as compare_texts
from minbpe.compare import comparison_table, mismatch_report
from minbpe.core import BACKENDS, counted, parse_allowed_special, show_piece
from minbpe.hf_tokenizers import export_tokenizer
from minbpe.text import read_text
from pipeline.loader import TokenData
from pipeline.manifest import gptkit_version, load_tokenizer
from pipeline.prepare import PrepareConfig, Progress, prepare

T = TypeVar("T")

def clean_errors(command: Callable) -> Callable:
    """Turn what a user's input causes (the project's errors, and the system's: a missing file, a full disk)
    into one 'Error: ...' line and exit code 1. Any other exception is a bug: it keeps its traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (GptkitError, OSError) as e:
            raise click.ClickException(str(e)) from None

    return wrapper


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, a scheduler stopping the job), raised where the program is: it stops as on Ctrl-C, its
    with-blocks unwinding (a run keeps its last checkpoint, prepare its finished shards, and the lock file goes)."""


def stop_on_sigterm() -> Callable[[], None]:
    """Raise Terminated in this process on SIGTERM (until the returned function puts the old handler back)."""
    pid = os.getpid()

    def terminate(signum: int, frame: Any) -> None:
        if os.getpid() != pid:  # a forked worker (multiprocessing) inherited this: it ends as SIGTERM ends it
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    return lambda: signal.signal(signal.SIGTERM, previous)


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


class _StepBar:
    """One tqdm bar for a training run (train-gpt's and train-char's events), its text from gpt.progress.RunProgress:
    steps move it, figures and the time left sit beside it, evaluations and messages print above it. Opened at the
    first event, once the data has loaded."""

    # tqdm's own remaining time and rate are left out: they count the warm-up and the evaluations as steps
    FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"

    def __init__(self, total: int, disable: bool = False) -> None:
        self.total, self.disable, self.bar = total, disable, None
        self.progress = RunProgress(total)

    def __call__(self, event: dict) -> None:
        if self.disable:  # a DDP rank other than 0: rank 0 speaks for the run
            return
        if self.bar is None:
            self.bar = tqdm(total=self.total, unit="step", dynamic_ncols=True, bar_format=self.FORMAT)
        shown = self.progress.update(event, time.perf_counter())
        for line in shown.before:  # above the bar, which is on stderr too; stdout is for results
            self.bar.write(line, file=sys.stderr)
        if shown.step is not None:
            self.bar.update(shown.step - self.bar.n)
        if shown.postfix:
            self.bar.set_postfix(shown.postfix)
        for line in shown.after:
            self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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
    click.echo(
        f"learned {counted(stats.merges, 'merge')} in {stats.seconds:.2f} s "
        f"({stats.merges / max(stats.seconds, 1e-9):,.0f} merges/s) from {stats.distinct_chunks:,} distinct chunks "
        f"of {stats.input_bytes:,} bytes; "
        f"{stats.bytes_per_token:.3f} bytes/token on the input"
    )
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
    numbers = []
    for word in (" ".join(ids) if ids else stdin_text(None)).replace(",", " ").split():
        if not word.isdigit():
            raise click.ClickException(f"{word!r} is not a token id (ids are non-negative integers)")
        numbers.append(int(word))
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


class _PrepareProgress:
    """tqdm bars for prepare's progress: bytes of input read, with documents and tokens/s."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, p: Progress) -> None:
        if p.phase != self.phase:
            self.close()
            self.phase = p.phase
            desc = "reading characters" if p.phase == "scan" else "tokenizing"
            self.bar = tqdm(total=p.total_bytes, desc=desc, unit="B", unit_scale=True, file=sys.stderr)
        self.bar.update(p.read_bytes - self.bar.n)
        if p.phase == "tokenize":
            seconds = max(p.seconds, 1e-9)
            self.bar.set_postfix_str(
                f"{p.documents:,} docs, {p.text_bytes / seconds / 1e6:.1f} MB/s, {p.tokens / seconds / 1e6:.2f}M tok/s",
                refresh=False,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@main.command("prepare")
@click.option("--input", "inputs", multiple=True, required=True,
              help="A text, JSONL or Parquet file, a directory, a glob, or hf:DATASET[?key=value&...] (repeatable).")
@click.option("--tokenizer", required=True, help="gpt2, gpt4, char (learned from the corpus) or a .model file.")
@click.option("--output", required=True,
              help="Directory for the shards and manifest.json: new, empty, or an interrupted run's (it resumes).")
@click.option("--workers", type=int, default=None, help="Tokenizing processes [default: all cores].")
@click.option("--shard-tokens", type=int, default=PrepareConfig.shard_tokens, show_default=True,
              help="Tokens per shard.")
@click.option("--val-fraction", type=float, default=PrepareConfig.val_fraction, show_default=True,
              help="Fraction of documents (chosen by --seed) for validation; one document: its last tokens.")
@click.option("--val-first-shard", is_flag=True, help="Validate on the first shard instead (llm.c's convention).")
@click.option("--seed", type=int, default=PrepareConfig.seed, show_default=True, help="Picks the validation documents.")
@click.option("--text-field", default=PrepareConfig.text_field, show_default=True,
              help="The field or column that holds the text in JSONL, Parquet and datasets inputs.")
@click.option("--doc-separator", default=PrepareConfig.doc_separator, show_default=True,
              help="Text files: 'file' (a document each), 'line', 'blank-line', or a string such as '\\n\\n'.")
@click.option("--delimiter", default=PrepareConfig.delimiter, show_default=True,
              help="The special token put before each document; 'none' to put none.")
@errors_option
@clean_errors
def prepare_command(inputs, tokenizer, output, workers, shard_tokens, val_fraction, val_first_shard, seed,
                    text_field, doc_separator, delimiter, errors) -> None:
    """Tokenize a corpus into token shards (llm.c's .bin format) and a manifest.

    \b
    Examples:
      python cli.py prepare --input data/taylorswift.txt --tokenizer gpt2 --output data/taylor
      python cli.py prepare --input corpus/ --input extra.jsonl --tokenizer mytok.model --output data/c
      python cli.py prepare --input names.txt --doc-separator line --tokenizer char --output data/names
    Running it again on an interrupted run's --output carries on where it stopped.
    """
    config = PrepareConfig(
        inputs=list(inputs), output=output, tokenizer=tokenizer, workers=workers or os.cpu_count() or 1,
        shard_tokens=shard_tokens, val_fraction=val_fraction, val_first_shard=val_first_shard, seed=seed,
        text_field=text_field, doc_separator=doc_separator, delimiter=None if delimiter == "none" else delimiter,
        errors=errors, command=_command_line(click.get_current_context()),
    )
    result = with_progress(lambda bars: prepare(config, bars), _PrepareProgress(),
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
    m = data.manifest
    if not 0 <= shard_index < len(data.shards):
        raise click.ClickException(f"{split} has {counted(len(data.shards), 'shard')}; --shard must be below that")
    for line in m.summary(directory):
        click.echo(line)
    ids = data.shards[shard_index][:n_tokens].tolist()
    click.echo(f"\nfirst {len(ids)} tokens of {m.splits[split].shards[shard_index].file}:")
    click.echo(" ".join(map(str, ids)))
    click.echo("decoded:")
    click.echo(load_tokenizer(directory, m).decode(ids))


# every training setting as a flag named after nanoGPT's config key; None = the preset's or default value
TRAIN_FLAGS = [
    ("n-layer", int, "Transformer blocks."), ("n-head", int, "Attention heads."),
    ("n-embd", int, "Width of the residual stream."), ("block-size", int, "Context length in tokens."),
    ("batch-size", int, "Windows per micro-batch (per process)."),
    ("grad-accum", int, "Micro-batches per optimizer step."), ("max-iters", int, "Optimizer steps in all."),
    ("lr", float, "Peak learning rate."), ("min-lr", float, "Learning rate at the end of the cosine."),
    ("warmup-iters", int, "Steps of linear warmup."), ("lr-decay-iters", int, "Step where the cosine ends."),
    ("beta2", float, "AdamW beta2."), ("weight-decay", float, "AdamW weight decay (matrices only)."),
    ("dropout", float, "Dropout on embeddings, attention and residuals."),
    ("gelu", click.Choice([*GELUS, *GELU_ALIASES]), "GELU: exact = the erf form (nanoGPT's; faster on CPU), "
     "tanh = GPT-2's approximation; none = exact (torch's name for it)."),
    ("eval-interval", int, "Steps between checkpoint + evaluation."),
    ("eval-iters", int, "Validation batches per evaluation."),
    ("device", str, "auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps."),
    ("dtype", click.Choice(["auto", "float32", "bfloat16", "float16"]), "auto: bf16 on GPUs that have it, "
     "else fp16 with loss scaling; fp32 on CPU."),
    ("seed", int, "Seed of the initial weights and of the data stream."),
]


def flag_options(flags: list[tuple[str, type, str]]) -> Callable[[Callable], Callable]:
    """click options for (flag, type, help) rows, default None (= not given: the preset's value)."""

    def decorate(command: Callable) -> Callable:
        for flag, kind, text in reversed(flags):
            command = click.option(f"--{flag}", type=kind, default=None, help=text)(command)
        return command

    return decorate


@main.command("train-gpt")
@click.option("--data", type=click.Path(file_okay=False), help="A prepared data directory (python cli.py prepare).")
@click.option("--input", "inputs", multiple=True, help="Text file(s) to prepare on the fly into OUT/data.")
@click.option("--tokenizer", "spec", default="char", show_default=True,
              help="With --input: char, gpt2, gpt4 or a .model file.")
@click.option("--out", default=None, help="Run directory (checkpoints, metrics.jsonl, loss.png). "
              "[default: out/<preset or 'run'>]")
@click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
              help="A nanoGPT recipe; flags override its values.")
@flag_options(TRAIN_FLAGS)
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile the model.")
@click.option("--resume", is_flag=True,
              help="Continue OUT's run exactly where it stopped, with its settings; flags may change max-iters, the "
              "learning-rate schedule, evaluation, device, dtype and compile, not the model's shape, batch-size, "
              "grad-accum, seed or the data.")
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
    try:
        plan = plan_training(data, inputs, spec, preset, out, resume, overwrite, init_from, compile=compile_, **flags)
    except SettingsConflict as e:
        raise click.UsageError(str(e)) from None
    for note in plan.notes:
        click.echo(note, err=True)
    if (prepared := plan.prepare_data()) is not None:
        click.echo(prepared, err=True)
    cfg, master = plan.config, Launch.from_env().master
    result = with_progress(lambda bar: train(cfg, bar), _StepBar(cfg.max_iters, disable=not master),
                           f"{cfg.out} keeps its last checkpoint; continue with: gptkit train-gpt --out {cfg.out} "
                           "--resume")
    if not master:
        return
    for line in result.lines(cfg.eval_iters):
        click.echo(line)
    for i in range(samples):
        click.echo(f"--- sample {i + 1} ---")
        stream_samples(result.out, None, SampleConfig(max_new_tokens=300, temperature=0.8, top_k=200),
                       1, cfg.seed + i, "cpu")


CHAR_FLAGS = [  # train-char's flags; absent ones take the model's recipe (gpt/char/models.py REGISTRY)
    ("block-size", int, "Context length in characters (ngram: 5 = 6-grams; gpt: 0 = the longest example + 1)."),
    ("n-embd", int, "Embedding width."),
    ("n-hidden", int, "Hidden units of the MLPs and WaveNet."),
    ("n-layer", int, "gpt: Transformer blocks."),
    ("n-head", int, "gpt: attention heads."),
    ("dropout", float, "gpt: dropout."),
    ("max-steps", int, "Optimizer steps."),
    ("batch-size", int, "Rows per step (0 = the whole training split)."),
    ("lr-decay-at", float, "Fraction of the steps after which each next --lr value starts."),
    ("weight-decay", float, "gpt: AdamW's weight decay; bigram-nn: the L2 penalty."),
    ("smoothing", float, "bigram-counts: add-k smoothing."),
    ("eval-interval", int, "Steps between val evaluations (0 = 20 per run)."),
    ("ema", float, "Keep, evaluate and save the moving average of the weights with this decay (0 = off)."),
]


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
@flag_options(CHAR_FLAGS)
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
    try:
        cfg = plan_char_run(out=out, resume=resume, overwrite=overwrite, **settings)
    except SettingsConflict as e:
        raise click.UsageError(str(e)) from None
    if cfg.model != "gpt":
        torch.set_num_threads(1)  # the MLPs are tiny: a second thread only waits (measured: 1 thread is faster)
    result = with_progress(lambda bar: train_char_model(cfg, bar), _StepBar(cfg.max_steps),
                           lambda: kept_when_stopped(cfg))
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
                         lambda row: click.echo(f"{row.model} done in {row.seconds:.0f} s: val {row.val:.4f}",
                                                err=True), overwrite)
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
        scored = "the whole split" if max_batches is None else f"its first {counted(max_batches, 'batch', 'batches')}"
        click.echo(f"{checkpoint} (step {result['step']}) on {data} {split}: loss {result['loss']:.4f} nats/token, "
                   f"{result['bpb']:.4f} bits/byte, over {scored} ({counted(result['tokens'], 'token')})")


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
