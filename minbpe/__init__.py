"""minbpe: byte-level BPE tokenizers (Basic, Regex, Char, GPT-2, GPT-4), a fast exact trainer,
and the bridge to tiktoken.

    from minbpe import RegexTokenizer
    tok = RegexTokenizer()                   # GPT-4 split pattern
    tok.train(open("corpus.txt").read(), vocab_size=1024)
    ids = tok.encode("hello world")          # tiktoken's speed when proven exact, else Python
    tok.save("mytok")                        # mytok.model (+ mytok.vocab)
    tok = minbpe.load("mytok.model")         # any of our tokenizers, by its header
    gpt4 = minbpe.get_tokenizer("gpt4")      # tiktoken's cl100k_base ids, offline
    enc = tok.to_tiktoken()                  # a tiktoken.Encoding giving the same ids

The modules, lowest first (each imports only modules above it in this list):
    core             merge loop, TokenizerError, special-token policy, token display
    patterns         split patterns (GPT-2, GPT-4, minbpe's GPT-4)
    text             streamed UTF-8 reading, safe cuts, size-bounded batches
    model_file       the .model / .vocab formats
    trainer          the BPE training algorithm
    tiktoken_bridge  tables <-> tiktoken, and the proof that both encode alike
    base             the Tokenizer class
    basic, regex, char, pretrained (TiktokenTokenizer, GPT-2/GPT-4), compare, factory (load, train)
"""

from __future__ import annotations

from .base import Tokenizer
from .basic import BasicTokenizer
from .char import CharTokenizer
from .core import ENDOFTEXT, TokenizerError, merge_chunk
from .factory import get_tokenizer, load, train_tokenizer
from .model_file import CHAR_HEADER
from .patterns import GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, MINBPE_GPT4_SPLIT_PATTERN, PATTERNS
from .pretrained import PRETRAINED, GPT2Tokenizer, GPT4Tokenizer, TiktokenTokenizer, from_tiktoken, get_encoding
from .regex import RegexTokenizer
from .trainer import TrainStats

__all__ = [
    "BasicTokenizer",
    "CHAR_HEADER",
    "CharTokenizer",
    "ENDOFTEXT",
    "GPT2_SPLIT_PATTERN",
    "GPT2Tokenizer",
    "GPT4Tokenizer",
    "GPT4_SPLIT_PATTERN",
    "MINBPE_GPT4_SPLIT_PATTERN",
    "PATTERNS",
    "PRETRAINED",
    "RegexTokenizer",
    "TiktokenTokenizer",
    "Tokenizer",
    "TokenizerError",
    "TrainStats",
    "from_tiktoken",
    "get_encoding",
    "get_tokenizer",
    "load",
    "merge_chunk",
    "train_tokenizer",
]
