"""serve: the local web playground (the web stack is an extra, imported only when the command runs)."""

from __future__ import annotations

from pathlib import Path

import click
import torch

from gpt.device import pick_device
from gptkit.options import clean_errors


@click.command("serve")
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
