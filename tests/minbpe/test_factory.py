"""minbpe.factory: train_tokenizer (the train-tokenizer command's library call), load and get_tokenizer."""

import warnings

import pytest

import minbpe
from conftest import ROOT
from minbpe import GPT2_SPLIT_PATTERN, BasicTokenizer, CharTokenizer, RegexTokenizer, TokenizerError, train_tokenizer

TAYLOR = ROOT / "data" / "taylorswift.txt"


def test_train_tokenizer_counts_specials_in_vocab_size(tmp_path):
    prefix = str(tmp_path / "tok")
    tok, stats = train_tokenizer([TAYLOR], 300, prefix, special=["<|endoftext|>", "<|x|>", "<|endoftext|>"], workers=1)
    assert isinstance(tok, RegexTokenizer) and tok.pattern == minbpe.GPT4_SPLIT_PATTERN
    assert (stats.requested_merges, stats.merges) == (42, 42)  # 300 = 256 bytes + 42 merges + 2 specials
    assert tok.special_tokens == {"<|endoftext|>": 298, "<|x|>": 299}
    assert tok.n_vocab == 300
    assert stats.seconds == stats.seconds_counting + stats.seconds_merging
    again = minbpe.load(prefix + ".model")
    assert again.merges == tok.merges and again.special_tokens == tok.special_tokens
    assert (tmp_path / "tok.vocab").is_file()


def test_train_tokenizer_creates_the_output_folder(tmp_path):
    tok, _ = train_tokenizer([TAYLOR], 260, str(tmp_path / "new" / "deeper" / "tok"), workers=1)
    assert minbpe.load(tmp_path / "new" / "deeper" / "tok.model").merges == tok.merges


def test_train_tokenizer_kinds_and_patterns(tmp_path):
    basic, stats = train_tokenizer([TAYLOR], 260, str(tmp_path / "b"), kind="basic", workers=1)
    assert type(basic) is BasicTokenizer and stats.merges == 4 and basic.n_vocab == 260
    gpt2, _ = train_tokenizer([TAYLOR], 260, str(tmp_path / "r"), pattern="gpt2", workers=1)
    assert gpt2.pattern == GPT2_SPLIT_PATTERN
    custom, _ = train_tokenizer([TAYLOR], 260, str(tmp_path / "c"), pattern=r"\w+|\W+", workers=1)
    assert custom.pattern == r"\w+|\W+"
    assert isinstance(minbpe.load(tmp_path / "b.model"), BasicTokenizer)


@pytest.mark.parametrize("kwargs, message", [
    ({"vocab_size": 255}, "a vocabulary of 255 tokens is too small: it needs at least 256 byte tokens$"),
    ({"vocab_size": 256, "special": ["<|eot|>"]}, "needs at least 256 byte tokens \\+ 1 special token$"),
    ({"vocab_size": 300, "kind": "basic", "pattern": "gpt2"}, "a split pattern applies to kind 'regex' only"),
    ({"vocab_size": 300, "kind": "char"}, "kind must be 'regex' or 'basic', got 'char'"),
])
def test_train_tokenizer_refuses_before_reading(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_tokenizer([tmp_path / "missing.txt"], output=str(tmp_path / "t"), **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_train_tokenizer_warns_when_pairs_run_out(tmp_path):
    text = tmp_path / "ab.txt"
    text.write_text("ab", encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tok, stats = train_tokenizer([text], 300, str(tmp_path / "t"), workers=1)
    assert stats.merges == 1 and stats.stopped_early and tok.n_vocab == 257
    assert [str(w.message) for w in caught] == [
        "the training text ran out of pairs to merge after 1 of 44 merges: the vocabulary has 257 tokens, not 300"
    ]


def test_load_chooses_the_class_by_header(tmp_path):
    char = CharTokenizer("abc")
    char.save(str(tmp_path / "c"))
    assert type(minbpe.load(tmp_path / "c.model")) is CharTokenizer
    assert type(minbpe.get_tokenizer(str(tmp_path / "c.model"))) is CharTokenizer
    with pytest.raises(TokenizerError, match="cannot read tokenizer file"):
        minbpe.load(tmp_path / "none.model")
    assert set(minbpe.PRETRAINED) == {"gpt2", "gpt4"}
