"""RegexTokenizer: byte-level BPE inside the chunks of a split pattern (GPT-2 / GPT-4).

The pattern keeps merges inside words, numbers, punctuation runs and whitespace
runs, as OpenAI's tokenizers do. The pattern is saved in the .model file and is
the one used at encode time. The patterns themselves are in patterns.py.
"""

from .base import Tokenizer
from .core import TokenizerError
from .patterns import GPT4_SPLIT_PATTERN


class RegexTokenizer(Tokenizer):
    _needs_pattern = True

    def __init__(self, pattern: str | None = None) -> None:
        """pattern: the split regex; None means GPT-4's (as in minbpe)."""
        if pattern == "":
            raise TokenizerError("RegexTokenizer needs a non-empty pattern; use BasicTokenizer for no splitting")
        super().__init__(pattern=GPT4_SPLIT_PATTERN if pattern is None else pattern)
