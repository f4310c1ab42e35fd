"""Run the gptkit command: `python -m gptkit --help`."""

from cli import main

if __name__ == "__main__":
    main(prog_name="gptkit")
