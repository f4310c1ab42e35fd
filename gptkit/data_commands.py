"""The data commands: prepare (a corpus into token shards and a manifest) and inspect (what a data directory holds)."""

from __future__ import annotations

import os
import shlex

import click

from gptkit.options import clean_errors, errors_option, setting_options, with_progress
from pipeline.loader import TokenData
from pipeline.prepare import ENGINES, PrepareBars, PrepareConfig, prepare


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


@click.command("prepare")
@click.option("--input", "inputs", multiple=True, required=True,
              help="A text, JSONL or Parquet file, a directory, a glob, or hf:DATASET[?key=value&...] (repeatable).")
@click.option("--tokenizer", required=True, help="gpt2, gpt4, char (learned from the corpus) or a .model file.")
@click.option("--output", required=True,
              help="Directory for the shards and manifest.json: new, empty, or an interrupted run's (it resumes).")
@click.option("--workers", type=int, default=None,
              help="Tokenizing processes of the local engine [default: all cores].")
@setting_options(PrepareConfig, ["shard_tokens", "val_fraction", "val_first_shard", "seed", "text_field",
                                 "doc_separator", "delimiter", "engine", "ray_address"], show_defaults=True,
                 types={"engine": click.Choice(ENGINES)})
@errors_option
@clean_errors
def prepare_command(inputs, tokenizer, output, workers, delimiter, errors, engine, **settings) -> None:
    """Tokenize a corpus into token shards (llm.c's .bin format) and a manifest.

    \b
    Examples:
      python cli.py prepare --input data/taylorswift.txt --tokenizer gpt2 --output data/taylor
      python cli.py prepare --input corpus/ --input extra.jsonl --tokenizer mytok.model --output data/c
      python cli.py prepare --input names.txt --doc-separator line --tokenizer char --output data/names
      python cli.py prepare --input shards/ --tokenizer gpt2 --output /shared/data/c --engine ray
    Running it again on an interrupted run's --output carries on where it stopped.
    """
    # with --engine ray, Ray decides the parallelism (a task per unit of input): no pool of workers
    workers = workers or (1 if engine == "ray" else os.cpu_count() or 1)
    config = PrepareConfig(list(inputs), output, tokenizer, workers, **settings, errors=errors, engine=engine,
                           delimiter=None if delimiter == "none" else delimiter,
                           command=_command_line(click.get_current_context()))
    result = with_progress(lambda bars: prepare(config, bars), PrepareBars(),
                           f"{output} keeps the work done: run this again to resume")
    for line in result.summary():
        click.echo(line)
    for note in result.notes():
        click.echo(f"note: {note}", err=True)


@click.command()
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
