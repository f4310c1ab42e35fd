"""`python -m gptkit`: the gptkit command under the project's own name.

The wheel installs the packages under their design names (minbpe, pipeline, gpt, playground, the
module cli); this package only gives the command a name that cannot be mistaken for another project's.
`python -m gptkit`, `python cli.py` in a clone and the installed `gptkit` script run the same program.
"""
