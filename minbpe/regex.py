"""RegexTokenizer: byte-level BPE inside the chunks of a split pattern (GPT-2 / GPT-4).

The pattern keeps merges inside words, numbers, punctuation runs and whitespace
runs, as OpenAI's tokenizers do. The pattern is saved in the .model file and is
the one used at encode time.
"""

from .base import Tokenizer

# tiktoken's split patterns for gpt2 / r50k_base and cl100k_base (GPT-4), character
# for character, so that our chunks are tiktoken's. (minbpe's GPT-4 pattern lacks
# the `\s++$` branch and splits trailing whitespace with newlines differently; a
# .model file carries its own pattern, so minbpe's files keep minbpe's pattern.)
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
# minbpe's GPT-4 pattern, as minbpe writes it into its .model files
MINBPE_GPT4_SPLIT_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""  # noqa: E501
GPT4_SPLIT_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""  # noqa: E501


class RegexTokenizer(Tokenizer):
    _needs_pattern = True

    def __init__(self, pattern: str | None = None) -> None:
        """pattern: the split regex; None means GPT-4's (as in minbpe)."""
        if pattern == "":
            raise ValueError("RegexTokenizer needs a non-empty pattern; use BasicTokenizer for no splitting")
        super().__init__(pattern=GPT4_SPLIT_PATTERN if pattern is None else pattern)
