"""minbpe.core's special-token policy and token display, and text.py's batches: exact results."""

import pytest

from minbpe.core import allowed_tokens, check_disallowed, parse_allowed_special, render_token, show_piece
from minbpe.text import size_batches

SPECIALS = {"<|a|>": 300, "<|b|>": 301}


@pytest.mark.parametrize("text, policy", [
    ("all", "all"), ("none", "none"), ("none_raise", "none_raise"),
    ("<|a|>", {"<|a|>"}), ("<|a|>,<|b|>", {"<|a|>", "<|b|>"}), ("All", {"All"}),
])
def test_parse_allowed_special(text, policy):
    assert parse_allowed_special(text) == policy


def test_allowed_tokens():
    assert allowed_tokens("all", SPECIALS) == SPECIALS
    assert allowed_tokens("none", SPECIALS) == {} and allowed_tokens("none_raise", SPECIALS) == {}
    assert allowed_tokens({"<|b|>"}, SPECIALS) == {"<|b|>": 301}
    with pytest.raises(ValueError, match=r"allowed_special names \['<\|c\|>'\], which are not special tokens"):
        allowed_tokens(parse_allowed_special("<|b|>,<|c|>"), SPECIALS)
    with pytest.raises(ValueError, match="allowed_special must be 'all', 'none', 'none_raise' or a set of names"):
        allowed_tokens("some", SPECIALS)


def test_check_disallowed():
    check_disallowed("x<|a|>", SPECIALS, {}, "none")  # read as text
    check_disallowed("x<|a|>", SPECIALS, {"<|a|>": 300}, {"<|a|>"})
    with pytest.raises(ValueError, match=r"special token '<\|b\|>' at character 1, which is not allowed"):
        check_disallowed("x<|b|><|a|>", SPECIALS, {"<|a|>": 300}, {"<|a|>"})
    with pytest.raises(ValueError, match=r"special token '<\|a\|>' at character 0"):
        check_disallowed("<|a|>", SPECIALS, {}, "none_raise")


def test_token_display():
    assert show_piece(b"a\n") == "a\\n\n"
    assert show_piece(b"\t\xf0\x9f") == "\\t\\xf0\\x9f"
    assert render_token(b"a\n\xf0") == "a\\u000a\ufffd"


def test_size_batches():
    words = ["aaa", "b", "cc", "dddd", "e"]
    assert list(size_batches(words, 4)) == [["aaa", "b"], ["cc", "dddd"], ["e"]]
    assert list(size_batches(words, 100, max_items=2)) == [["aaa", "b"], ["cc", "dddd"], ["e"]]
    assert list(size_batches(words, 1)) == [[w] for w in words]
    pairs = [("ab", True), ("c", False), ("defg", True)]
    assert list(size_batches(pairs, 3, size=lambda p: len(p[0]))) == [[("ab", True), ("c", False)], [("defg", True)]]
    assert list(size_batches([], 4)) == []
