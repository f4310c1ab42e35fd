"""Split patterns: the regexes that cut a text into chunks before BPE merges inside each chunk.

tiktoken's patterns for gpt2 / r50k_base and cl100k_base (GPT-4) are copied character for character,
so that our chunks are tiktoken's. minbpe's GPT-4 pattern lacks the `\\s++$` branch and splits trailing
whitespace with newlines differently; a .model file carries its own pattern, so minbpe's files keep
minbpe's pattern. tiktoken_bridge.py lists which patterns are proven to split the same in both regex
engines.

This module imports nothing from the package, so the tokenizer classes and the tiktoken bridge can
both use it.
"""

GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
# minbpe's GPT-4 pattern, as minbpe writes it into its .model files
MINBPE_GPT4_SPLIT_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""  # noqa: E501
GPT4_SPLIT_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""  # noqa: E501

# the patterns a user may name instead of writing a regex (train-tokenizer --pattern)
PATTERNS = {"gpt2": GPT2_SPLIT_PATTERN, "gpt4": GPT4_SPLIT_PATTERN}
