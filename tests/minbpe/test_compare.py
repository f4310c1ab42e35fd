"""minbpe.compare: the comparison with tiktoken, its table and the first-mismatch report, line for line."""

import pytest
import tiktoken

from minbpe import BasicTokenizer
from minbpe.compare import Comparison, compare, comparison_table, first_mismatch, mismatch_report


@pytest.fixture(scope="module")
def toy() -> tiktoken.Encoding:
    """Bytes plus one token "ab": our byte-only tokenizer differs wherever "ab" occurs."""
    ranks = {bytes([i]): i for i in range(256)} | {b"ab": 256}
    return tiktoken.Encoding("toy", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={})


def test_first_mismatch():
    assert first_mismatch([1, 2, 3], [1, 2, 3]) is None
    assert first_mismatch([1, 2, 3], [1, 5, 3]) == 1
    assert first_mismatch([1, 2], [1, 2, 3]) == 2
    assert first_mismatch([], []) is None


def test_table_rows_and_total():
    same = Comparison(list(range(1500)), list(range(1500)), 2.0, 0.5, 6_000_000, None, None)
    differ = Comparison([1, 2], [1, 3, 4], 1.0, 4.0, 2_000_000, 1, 5, ("ab", "cd"))
    assert comparison_table([("a.txt", same), ("long/b.txt", differ)], "gpt4", "cl100k_base") == [
        "file        same  tokens gpt4  tokens cl100k_base  bytes/token ours      theirs  MB/s ours  theirs",
        "a.txt        yes        1,500               1,500          4000.000    4000.000       3.00   12.00",
        "long/b.txt    NO            2                   3       1000000.000  666666.667       2.00    0.50",
        "total         NO        1,502               1,503          5326.232    5322.688       2.67    1.78",
    ]
    # one text: no total row
    assert comparison_table([("a.txt", same)], "gpt4", "cl100k_base") == [
        "file   same  tokens gpt4  tokens cl100k_base  bytes/token ours    theirs  MB/s ours  theirs",
        "a.txt   yes        1,500               1,500          4000.000  4000.000       3.00   12.00",
    ]


def test_mismatch_in_the_middle(toy):
    tok = BasicTokenizer()
    result = compare(tok, toy, "x" * 50 + "ab" + "y" * 50, backend="python")
    assert not result.same
    assert (result.mismatch, result.mismatch_byte, result.n_bytes) == (50, 50, 102)
    assert result.context == ("x" * 40, "ab" + "y" * 38)
    assert mismatch_report("t.txt", result, tok, toy, "bytes.model") == [
        f"t.txt: first mismatch at token 50 (byte 50): '{'x' * 40}' | 'ab{'y' * 38}'",
        "  bytes.model, tokens 48..: 120:'x' 120:'x' 97:'a' 98:'b' 121:'y' 121:'y'",
        "  toy, tokens 48..: 120:'x' 120:'x' 256:'ab' 121:'y' 121:'y' 121:'y'",
    ]


def test_mismatch_report_shows_bytes_and_newlines(toy):
    tok = BasicTokenizer()
    result = compare(tok, toy, "é\nab", backend="python")
    assert result.context == ("é\n", "ab")
    assert mismatch_report("t.txt", result, tok, toy, "bytes.model") == [
        "t.txt: first mismatch at token 3 (byte 3): 'é\\n' | 'ab'",
        "  bytes.model, tokens 1..: 169:'\\\\xa9' 10:'\\\\n\\n' 97:'a' 98:'b'",
        "  toy, tokens 1..: 169:'\\\\xa9' 10:'\\\\n\\n' 256:'ab'",
    ]


def test_identical_texts_have_no_report(toy):
    tok = BasicTokenizer()
    result = compare(tok, toy, "xyz", backend="python")
    assert result.same and result.context is None and result.mismatch_byte is None
    with pytest.raises(ValueError, match="t.txt: the ids agree"):
        mismatch_report("t.txt", result, tok, toy, "bytes.model")
