"""Where the bundled texts are: the clone's data/ folder, or the installed package gptkit_data.

A clone keeps the texts in data/ (so `--input data/names.txt` works there), and the wheel installs that
folder as the package `gptkit_data`. Only an installed gptkit can import that name, so `python cli.py`
in a clone that was never pip-installed looks beside its own packages instead. A clone is recognised by
its pyproject.toml beside the packages: then its own data/ is used even when another gptkit is installed.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

_TOP = Path(__file__).resolve().parent.parent  # the clone's root, or site-packages when installed


def bundled_dir() -> Path:
    """The folder holding the bundled texts."""
    if (_TOP / "pyproject.toml").is_file() and (_TOP / "data").is_dir():
        return _TOP / "data"
    return Path(str(importlib.resources.files("gptkit_data")))


DIR = bundled_dir()
NAMES = DIR / "names.txt"  # makemore's 32,033 names: train-char and baselines
TINYSHAKESPEARE = DIR / "tinyshakespeare.txt"  # nanoGPT's character-level corpus: the train-gpt demo
TAYLORSWIFT = DIR / "taylorswift.txt"  # the article minbpe trains its tokenizers on
