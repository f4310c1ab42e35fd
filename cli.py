"""gptkit's command line: one click group; each command is a thin layer over the library.

    python cli.py --help
    python cli.py train-tokenizer --input corpus.txt --vocab-size 4096 --output mytok
"""

from __future__ import annotations

import functools
import sys
import time
import warnings
from collections.abc import Callable

import click

import minbpe
from minbpe import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, BasicTokenizer, RegexTokenizer, TokenizerError
from minbpe.trainer import read_text

PATTERNS = {"gpt2": GPT2_SPLIT_PATTERN, "gpt4": GPT4_SPLIT_PATTERN}


def clean_errors(command: Callable) -> Callable:
    """Turn the library's errors into one 'Error: ...' line and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (TokenizerError, ValueError, OSError, UnicodeError) as e:
            raise click.ClickException(str(e)) from None

    return wrapper


def allowed_special_option(command: Callable) -> Callable:
    return click.option(
        "--allowed-special",
        default="none_raise",
        show_default=True,
        help="Special tokens in the text: 'all' encodes them as special ids, 'none' as ordinary "
        "text, 'none_raise' stops with an error, or a comma-separated list of names to allow.",
    )(command)


def parse_allowed_special(value: str) -> str | set[str]:
    return value if value in ("all", "none", "none_raise") else set(value.split(","))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """gptkit: train a BPE tokenizer on your text, then (soon) a GPT on its tokens."""


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
@click.option("--errors", type=click.Choice(["strict", "replace"]), default="strict", show_default=True,
              help="Bytes that are not UTF-8: strict stops with the file and offset; replace reads U+FFFD.")
@clean_errors
def train_tokenizer(inputs, vocab_size, output, kind, pattern, special, workers, errors) -> None:
    """Learn a byte-level BPE tokenizer from text files.

    \b
    Examples:
      python cli.py train-tokenizer --input data/taylorswift.txt --vocab-size 512 --output tok
      python cli.py train-tokenizer --input a.txt --input b.txt --vocab-size 32768 \\
          --pattern gpt2 --special '<|endoftext|>' --output out/tok32k
    """
    specials = list(dict.fromkeys(special))
    if vocab_size < 256 + len(specials):
        raise click.ClickException(
            f"--vocab-size {vocab_size} is too small: it needs at least 256 byte tokens"
            + (f" + {len(specials)} special tokens" if specials else "")
        )
    if kind == "basic":
        if pattern != "gpt4":
            raise click.ClickException("--pattern applies to --type regex only")
        tokenizer = BasicTokenizer()
    else:
        tokenizer = RegexTokenizer(PATTERNS.get(pattern, pattern))
    merge_vocab = vocab_size - len(specials)
    tokenizer.register_special_tokens({name: merge_vocab + i for i, name in enumerate(specials)})
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = tokenizer.train_from_files(inputs, merge_vocab, verbose=True, workers=workers, errors=errors)
    seconds = time.perf_counter() - start
    tokenizer.save(output)
    for w in caught:
        click.echo(f"note: {w.message}", err=True)
    click.echo(
        f"learned {stats.merges} merges in {seconds:.2f} s ({stats.merges / max(seconds, 1e-9):,.0f} merges/s) "
        f"from {stats.distinct_chunks:,} distinct chunks of {stats.input_bytes:,} bytes; "
        f"{stats.bytes_per_token:.3f} bytes/token on the input"
    )
    click.echo(f"wrote {output}.model and {output}.vocab ({tokenizer.n_vocab} tokens)")


@main.command()
@click.option("--tokenizer", "model", required=True, help="A .model file written by train-tokenizer (or minbpe).")
@click.option("--input", "input_file", type=click.Path(dir_okay=False), help="Encode this UTF-8 file instead of TEXT.")
@allowed_special_option
@click.argument("text", required=False)
@clean_errors
def encode(model, input_file, allowed_special, text) -> None:
    """Print the token ids of TEXT (or of --input FILE), separated by spaces.

    \b
    Examples:
      python cli.py encode --tokenizer tok.model "hello world"
      python cli.py encode --tokenizer tok.model --input notes.txt --allowed-special all
    """
    if (text is None) == (input_file is None):
        raise click.ClickException("give either TEXT or --input FILE")
    if input_file is not None:
        text = read_text(input_file)
    ids = minbpe.load(model).encode(text, parse_allowed_special(allowed_special))
    click.echo(" ".join(map(str, ids)))


@main.command()
@click.option("--tokenizer", "model", required=True, help="A .model file written by train-tokenizer (or minbpe).")
@click.argument("ids", nargs=-1, required=True)
@clean_errors
def decode(model, ids) -> None:
    """Print the text of token IDS (separated by spaces or commas).

    \b
    Example:
      python cli.py decode --tokenizer tok.model 72 101 300
    """
    numbers = []
    for word in " ".join(ids).replace(",", " ").split():
        if not word.isdigit():
            raise click.ClickException(f"{word!r} is not a token id (ids are non-negative integers)")
        numbers.append(int(word))
    sys.stdout.write(minbpe.load(model).decode(numbers) + "\n")


if __name__ == "__main__":
    main()
