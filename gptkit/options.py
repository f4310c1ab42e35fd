"""What gptkit's commands share: how an error reaches the user, Ctrl-C during a long run, options declared
from the config dataclasses, and the options several commands take.

An error the user's input causes (the project's GptkitError, or the system's OSError) ends as one
'Error: ...' line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import typing
from collections.abc import Callable
from contextlib import closing
from typing import Any, TypeVar

import click

from gpt.config import SettingsConflict
from gptkit_base.errors import GptkitError
from gptkit_base.signals import Terminated
from minbpe.core import BACKENDS

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
