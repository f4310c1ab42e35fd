"""gptkit's commands, by area, and `python -m gptkit`.

tokenizer_commands, data_commands, gpt_commands, char_commands and serve_command each hold the commands
of one part of the library (what they share is in options); cli.py is the click group that holds them
all. Each command parses its options, calls one library function and prints what it returns.

The wheel installs the packages under their design names (minbpe, pipeline, gpt, playground, the
module cli); this package also gives the command a name that cannot be mistaken for another project's:
`python -m gptkit`, `python cli.py` in a clone and the installed `gptkit` script run the same program.
"""
