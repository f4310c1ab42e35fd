"""gptkit's command line: one click group; each command is a thin layer over the library.

    python cli.py --help
    python cli.py train-tokenizer --input corpus.txt --vocab-size 4096 --output mytok

The commands live beside each other by area in the gptkit package (gptkit/tokenizer_commands.py,
data_commands.py, gpt_commands.py, char_commands.py, serve_command.py; what they share in
gptkit/options.py); this file is the group that holds them, the program's entry point.
"""

from __future__ import annotations

import click

from gptkit import char_commands, data_commands, gpt_commands, serve_command, tokenizer_commands
from gptkit_base.signals import stop_on_sigterm
from pipeline.manifest import gptkit_version


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(gptkit_version(), prog_name="gptkit")
def main() -> None:
    """gptkit: train a BPE tokenizer on your text, prepare token shards, train a GPT and sample from it."""
    click.get_current_context().call_on_close(stop_on_sigterm())


# every command, by area (`gptkit --help` lists them in alphabetical order)
for command in (
    tokenizer_commands.train_tokenizer, tokenizer_commands.encode, tokenizer_commands.decode,
    tokenizer_commands.compare,
    data_commands.prepare_command, data_commands.inspect,
    gpt_commands.train_gpt, gpt_commands.eval_command, gpt_commands.export, gpt_commands.generate_command,
    char_commands.train_char, char_commands.baselines,
    serve_command.serve_command,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
