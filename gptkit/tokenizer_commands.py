"""The tokenizer's commands: train-tokenizer, encode, decode, compare (with tiktoken's encodings)."""

from __future__ import annotations

import sys
import warnings

import click

import minbpe
from gptkit.options import (
    allowed_special_option,
    backend_option,
    clean_errors,
    errors_option,
    stdin_text,
    tokenizer_option,
)
from minbpe.compare import compare as compare_texts
from minbpe.compare import comparison_table, mismatch_report
from minbpe.core import counted, parse_allowed_special, parse_ids, show_piece
from minbpe.text import read_text


@click.command("train-tokenizer")
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
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Who splits and counts: local processes, or Ray tasks (needs .[ray]); the same merges.")
@click.option("--ray-address", default=None,
              help="A Ray cluster to run on (e.g. head:6379) [default: start Ray on this machine's CPUs].")
@errors_option
@clean_errors
def train_tokenizer(inputs, vocab_size, output, kind, pattern, special, workers, errors, overwrite, engine,
                    ray_address) -> None:
    """Learn a byte-level BPE tokenizer from text files.

    \b
    Examples:
      python cli.py train-tokenizer --input data/taylorswift.txt --vocab-size 512 --output tok
      python cli.py train-tokenizer --input a.txt --input b.txt --vocab-size 32768 \\
          --pattern gpt2 --special '<|endoftext|>' --output out/tok32k
      python cli.py train-tokenizer --input /shared/corpus.txt --vocab-size 32768 \\
          --engine ray --ray-address head:6379 --output out/tok32k
    """
    with warnings.catch_warnings(record=True) as caught:  # the library's warnings become notes
        warnings.simplefilter("always")
        tokenizer, stats = minbpe.train_tokenizer(inputs, vocab_size, output, kind, pattern, special, workers, errors,
                                                  verbose=True, overwrite=overwrite, engine=engine,
                                                  ray_address=ray_address)
    for w in caught:
        click.echo(f"note: {w.message}", err=True)
    click.echo(stats.summary())
    click.echo(f"wrote {output}.model and {output}.vocab ({tokenizer.n_vocab} tokens)")


# background colours for --show on a terminal, cycled token by token
SHOW_COLOURS = ["blue", "magenta", "green", "yellow", "cyan", "red"]


@click.command()
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


@click.command()
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


@click.command()
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
