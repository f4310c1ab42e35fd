"""BasicTokenizer: byte-level BPE over the raw text, with no regex splitting.

Each document (the whole text, or each item of an iterable) is one chunk, so
merges may cross spaces and punctuation. Trained by the shared trainer, which
never rescans a long chunk per merge.
"""

from .base import Tokenizer


class BasicTokenizer(Tokenizer):
    _needs_pattern = False

    def __init__(self) -> None:
        super().__init__(pattern="")
