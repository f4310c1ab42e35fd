"""The tokenizers' public behaviour: exact ids, the special-token policy, files that reload."""

import errno
import os

import pytest
import regex
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken_ext import openai_public

import minbpe
from minbpe import (
    GPT2_SPLIT_PATTERN,
    GPT4_SPLIT_PATTERN,
    MINBPE_GPT4_SPLIT_PATTERN,
    BasicTokenizer,
    CharTokenizer,
    RegexTokenizer,
    TokenizerError,
    merge_chunk,
    reference,
)

SPECIALS = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|endofprompt|>": 100276}
SAMPLES = ["", "?", "hello world!!!? (안녕하세요!) lol123 😉", "  trailing spaces  \r\n\n\tand tabs\t\t"]


@pytest.fixture(scope="module")
def trained(taylorswift) -> RegexTokenizer:
    tok = RegexTokenizer()
    tok.train(taylorswift, 512)
    return tok


@pytest.mark.parametrize("cls", [BasicTokenizer, RegexTokenizer])
def test_wikipedia_example(cls):
    # "aaabdaaabac": Z=aa -> 256, Y=ab -> 257, X=ZY -> 258, giving "XdXac"
    tok = cls()
    tok.train("aaabdaaabac", 256 + 3)
    assert tok.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert tok.decode([258, 100, 258, 97, 99]) == "aaabdaaabac"


@pytest.mark.parametrize("cls", [BasicTokenizer, RegexTokenizer, CharTokenizer])
@pytest.mark.parametrize("text", SAMPLES + ["FILE"])
def test_encode_decode_identity(cls, text, taylorswift):
    text = taylorswift if text == "FILE" else text
    tok = cls()
    tok.train(taylorswift + "".join(SAMPLES), 300)
    assert tok.decode(tok.encode(text)) == text


@pytest.fixture(params=["python", "tiktoken"])
def backend(request) -> str:
    return request.param


def test_encode_equals_minbpe_loop(trained, taylorswift, backend):
    text = taylorswift[:30_000]
    chunks = reference.chunks(text, trained.pattern)
    expected = [i for c in chunks for i in reference.encode_chunk(list(c.encode()), trained.merges)]
    assert trained.encode(text, backend=backend) == expected


def test_merge_chunk_equals_minbpe_loop(trained, taylorswift):
    """Byte strings made of the tokens' own bytes, slices of the training text and random bytes: most of
    them merge, many times over (random bytes alone almost never do)."""
    tokens = [trained.vocab[idx] for idx in trained.merges.values()]
    text = taylorswift.encode("utf-8")
    pieces = st.one_of(
        st.sampled_from(tokens),
        st.tuples(st.integers(0, len(text)), st.integers(1, 40)).map(lambda s: text[s[0] : s[0] + s[1]]),
        st.binary(max_size=8),
    )
    merged = []

    @settings(max_examples=200, deadline=None)
    @given(data=st.lists(pieces, max_size=30).map(b"".join))
    def check(data):
        expected = reference.encode_chunk(list(data), trained.merges)
        assert merge_chunk(list(data), trained.merges) == expected
        merged.append(len(data) - len(expected))

    check()
    assert sum(n >= 5 for n in merged) > len(merged) / 2, sorted(merged)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet="ab\n", max_size=400))
def test_merge_chunk_long_runs(text):
    tok = BasicTokenizer()
    tok.train("aabab\nbaab" * 20 + "a" * 50, 300)
    data = list(text.encode())
    assert merge_chunk(data, tok.merges) == reference.encode_chunk(data, tok.merges)


def test_default_pattern_is_gpt4_and_patterns_are_tiktokens(monkeypatch):
    assert RegexTokenizer().pattern == GPT4_SPLIT_PATTERN
    # read tiktoken's own definitions without loading (downloading) their ranks
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *args, **kwargs: {})
    monkeypatch.setattr(openai_public, "data_gym_to_mergeable_bpe_ranks", lambda *args, **kwargs: {})
    assert openai_public.r50k_base()["pat_str"] == openai_public.gpt2()["pat_str"] == GPT2_SPLIT_PATTERN
    assert openai_public.cl100k_base()["pat_str"] == GPT4_SPLIT_PATTERN


# --- special tokens ------------------------------------------------------------


@pytest.fixture
def with_specials(trained) -> RegexTokenizer:
    tok = RegexTokenizer()
    tok.merges, tok.vocab = dict(trained.merges), dict(trained.vocab)
    tok.register_special_tokens(SPECIALS)
    return tok


def test_allowed_special_all(with_specials, backend):
    text = "<|endoftext|>hi<|fim_prefix|> there<|endofprompt|>"
    ids = with_specials.encode(text, "all", backend=backend)
    assert ids[0] == 100257 and 100258 in ids and ids[-1] == 100276
    assert ids[1:ids.index(100258)] == with_specials.encode_ordinary("hi", backend)
    assert with_specials.decode(ids) == text
    assert with_specials.encode(text, allowed_special="all", backend=backend) == ids  # keyword form


def test_allowed_special_none_reads_them_as_text(with_specials, backend):
    text = "a<|endoftext|>b"
    assert with_specials.encode(text, "none", backend=backend) == with_specials.encode_ordinary(text, backend)
    assert 100257 not in with_specials.encode(text, "none", backend=backend)


def test_none_raise_is_the_default(with_specials, backend):
    with pytest.raises(ValueError, match=r"special token '<\|endoftext\|>' at character 1"):
        with_specials.encode("a<|endoftext|>b", backend=backend)
    text = "no specials here"
    assert with_specials.encode(text, backend=backend) == with_specials.encode_ordinary(text, backend)


def test_allowed_special_set_raises_for_the_others(with_specials, backend):
    text = "<|endoftext|>x<|fim_prefix|>"
    with pytest.raises(ValueError, match="fim_prefix"):
        with_specials.encode(text, {"<|endoftext|>"}, backend=backend)
    ids = with_specials.encode("<|endoftext|>x", {"<|endoftext|>"}, backend=backend)
    assert ids[0] == 100257
    with pytest.raises(ValueError, match="not special tokens of this tokenizer"):
        with_specials.encode("x", {"<|eot|>"}, backend=backend)
    with pytest.raises(ValueError, match="allowed_special must be"):
        with_specials.encode("x", "some", backend=backend)


def test_special_token_collisions(trained):
    tok = RegexTokenizer()
    tok.merges, tok.vocab = dict(trained.merges), dict(trained.vocab)
    with pytest.raises(TokenizerError, match="id 300, which collides with a learned token; choose an id >= 512"):
        tok.register_special_tokens({"<|eot|>": 300})
    with pytest.raises(TokenizerError, match="collides with a byte token"):
        tok.register_special_tokens({"<|eot|>": 65})
    with pytest.raises(TokenizerError, match="share id 600"):
        tok.register_special_tokens({"<|a|>": 600, "<|b|>": 600})
    with pytest.raises(TokenizerError, match="one-line"):
        tok.register_special_tokens({"a\nb": 600})
    fresh = RegexTokenizer()
    fresh.register_special_tokens({"<|eot|>": 300})  # before training: it must hold the vocabulary's last id
    with pytest.raises(TokenizerError, match="id 300, which collides with a learned token; choose an id >= 511"):
        fresh.train("hello world", 512)
    fresh.register_special_tokens({"<|eot|>": 512})
    with pytest.raises(TokenizerError, match=r"id 512, outside a vocabulary of 512 tokens: .* \(ids 511\.\.511\)"):
        fresh.train("hello world", 512)


def test_vocab_size_is_the_whole_vocabulary(taylorswift):
    plain = RegexTokenizer()
    plain.train(taylorswift, 300)  # minbpe's train(text, vocab_size): 256 bytes + 44 merges
    assert (len(plain.merges), plain.n_vocab) == (44, 300)
    tok = RegexTokenizer()
    tok.register_special_tokens({"<|x|>": 299, "<|eot|>": 298})  # the last two ids, in any order
    stats = tok.train(taylorswift, 300)
    assert (stats.requested_merges, len(tok.merges), tok.n_vocab, len(tok.vocab)) == (42, 42, 300, 300)
    assert list(tok.merges) == list(plain.merges)[:42]
    with pytest.raises(ValueError, match="a vocabulary of 257 tokens is too small: it needs at least 256 byte "
                                         "tokens \\+ 2 special tokens$"):
        tok.train(taylorswift, 257)


def test_lone_surrogates_follow_tiktoken():
    # with no merges, tiktoken and we both emit the UTF-8 bytes of the (repaired) text
    enc = tiktoken.Encoding("bytes", pat_str=GPT4_SPLIT_PATTERN, mergeable_ranks={bytes([i]): i for i in range(256)},
                            special_tokens={})
    tok = RegexTokenizer()
    for text in ["a\ud800b", "\udfff", "x\ud83d\ude00y", "\ud83d", "ok"]:
        assert tok.encode(text, backend="python") == enc.encode(text)
    assert tok.decode(tok.encode("a\ud800b")) == "a\ufffdb"


def test_decode_invalid_utf8_and_unknown_ids(trained):
    assert trained.decode([0xFF]) == "\ufffd"
    assert trained.decode([0xE2, 0x82]) == "\ufffd"
    assert trained.decode_bytes([0xFF, 104]) == b"\xffh"
    with pytest.raises(TokenizerError, match="unknown token id 512: this tokenizer has ids 0..511"):
        trained.decode([104, 512])
    with pytest.raises(TokenizerError, match="unknown token id -1"):
        trained.decode([-1])


def test_encode_batch_in_processes(trained, taylorswift):
    docs = taylorswift.split("\n")[:300]
    expected = [trained.encode(d, backend="python") for d in docs]
    assert trained.encode_batch(docs, workers=2, backend="python") == expected
    assert trained.encode_batch(docs, workers=2, backend="tiktoken") == expected


# --- files -------------------------------------------------------------------------


def test_save_writes_minbpe_format_exactly(tmp_path):
    tok = BasicTokenizer()
    tok.train("aaabdaaabac", 259)
    tok.register_special_tokens({"<|endoftext|>": 259})
    tok.save(str(tmp_path / "t"))
    assert (tmp_path / "t.model").read_text() == "minbpe v1\n\n1\n<|endoftext|> 259\n97 97\n97 98\n256 257\n"
    vocab = (tmp_path / "t.vocab").read_text().splitlines()
    assert "[a][a] -> [aa] 256" in vocab and "[aa][ab] -> [aaab] 258" in vocab
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.model", "t.vocab"]  # no temporary files left


@pytest.mark.parametrize("cls, vocab_size", [(RegexTokenizer, 270), (CharTokenizer, None)])
def test_a_save_that_crashes_mid_write_leaves_the_old_model(cls, vocab_size, tmp_path, monkeypatch):
    old = cls()
    old.train("the old text", vocab_size)
    old.save(str(tmp_path / "t"))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    new = cls()
    new.train("a new, longer text " * 20, vocab_size)
    partial = []
    real_fdopen = os.fdopen

    def disk_full_halfway(fd, *args, **kwargs):
        """The opened file takes half of what is written to it, then the disk is full."""
        f = real_fdopen(fd, *args, **kwargs)
        write = f.write

        def half_then_fail(data):
            write(data[: len(data) // 2])
            f.flush()
            partial.append(os.fstat(f.fileno()).st_size)
            raise OSError(errno.ENOSPC, "No space left on device")

        f.write = half_then_fail
        return f

    monkeypatch.setattr(os, "fdopen", disk_full_halfway)
    with pytest.raises(OSError, match="No space left"):
        new.save(str(tmp_path / "t"))
    monkeypatch.undo()
    assert partial and partial[0] > 0  # the crash came with half of the new .model on disk
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporary file either
    again = minbpe.load(tmp_path / "t.model")
    assert again.encode("the old text") == old.encode("the old text")


def minbpe_style_load(path):
    """minbpe's own reading of a .model file, from its format description."""
    with open(path, encoding="utf-8") as f:
        assert f.readline().strip() == "minbpe v1"
        pattern = f.readline().strip()
        specials = dict(f.readline().strip().split() for _ in range(int(f.readline().strip())))
        merges = {tuple(map(int, line.split())): 256 + i for i, line in enumerate(f)}
    return pattern, {k: int(v) for k, v in specials.items()}, merges


@pytest.mark.parametrize("cls", [BasicTokenizer, RegexTokenizer])
def test_save_load_round_trip_and_minbpe_reads_it(cls, tmp_path, taylorswift):
    tok = cls()
    tok.train(taylorswift, 256 + 64)
    tok.register_special_tokens(SPECIALS)
    text = "<|endoftext|>" + taylorswift[:2000] + "<|endofprompt|>"
    ids = tok.encode(text, "all")
    tok.save(str(tmp_path / "tok"))
    again = minbpe.load(tmp_path / "tok.model")
    assert type(again) is cls
    assert again.merges == tok.merges and again.special_tokens == SPECIALS and again.pattern == tok.pattern
    assert again.encode(text, "all") == ids and again.decode(ids) == text
    pattern, specials, merges = minbpe_style_load(tmp_path / "tok.model")
    assert (pattern, specials, merges) == (tok.pattern, SPECIALS, tok.merges)


def test_minbpe_written_file_loads(tmp_path):
    # what minbpe's RegexTokenizer.save writes after training "aaabdaaabac" for 3 merges
    path = tmp_path / "m.model"
    lines = ["minbpe v1", MINBPE_GPT4_SPLIT_PATTERN, "1", "<|endoftext|> 100257", "97 97", "97 98", "256 257"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tok = RegexTokenizer()
    tok.load(path)
    assert tok.pattern == MINBPE_GPT4_SPLIT_PATTERN
    assert tok.encode("aaabdaaabac<|endoftext|>", "all") == [258, 100, 258, 97, 99, 100257]
    assert isinstance(minbpe.load(path), RegexTokenizer)


def test_duplicate_tokens_from_a_foreign_file_load_as_in_minbpe(tmp_path):
    path = tmp_path / "dup.model"
    path.write_text("minbpe v1\n\n0\n97 98\n256 99\n98 99\n97 258\n", encoding="utf-8")
    tok = minbpe.load(path)
    assert tok.duplicate_tokens() == [[257, 259]]
    assert tok.decode([257]) == tok.decode([259]) == "abc"
    assert tok.encode("abc") == [257] and tok.encode("bc") == [258]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "not a minbpe .model file"),
        ('{"vocab": 1}\n', "not a minbpe .model file"),
        ("minbpe v1\n", "line 2: missing the pattern"),
        ("minbpe v1\n\nx\n", "line 3: expected the number of special tokens"),
        ("minbpe v1\n\n2\n<|a|> 300\n", "line 5: expected 2 special-token lines"),
        ("minbpe v1\n\n1\n<|a|>\n", "line 4: expected '<special token> <id>'"),
        ("minbpe v1\n\n0\n97 98\n97\n", "line 5: expected two token ids"),
        ("minbpe v1\n\n0\n97 300\n", "line 4: merge \\(97, 300\\) makes token 256 from a token that does not exist"),
        ("minbpe v1\n\n0\n97 98\n97 98\n", "line 5: merge \\(97, 98\\) appears twice"),
        ("minbpe v1\n(unclosed\n0\n", "line 2: the split pattern does not compile"),
        ("minbpe v1\n\n1\n<|a|> 256\n97 98\n", "collides with a learned token"),
    ],
)
def test_corrupt_model_files(tmp_path, content, message):
    path = tmp_path / "bad.model"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TokenizerError, match=message) as e:
        minbpe.load(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_foreign_binary_and_missing_files(tmp_path):
    png = tmp_path / "x.model"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(TokenizerError, match="not UTF-8 text|not a minbpe"):
        minbpe.load(png)
    with pytest.raises(TokenizerError, match="cannot read tokenizer file"):
        minbpe.load(tmp_path / "nope.model")


def test_class_mismatch_on_load(tmp_path):
    RegexTokenizer().save(str(tmp_path / "r"))
    BasicTokenizer().save(str(tmp_path / "b"))
    with pytest.raises(TokenizerError, match="holds a RegexTokenizer"):
        BasicTokenizer().load(tmp_path / "r.model")
    with pytest.raises(TokenizerError, match="holds a BasicTokenizer"):
        RegexTokenizer().load(tmp_path / "b.model")


# --- characters ---------------------------------------------------------------------


def test_char_tokenizer(tmp_path):
    tok = CharTokenizer()
    tok.train(["hello\n", "world"])
    assert tok.chars == sorted("helo\nwrd") and tok.n_vocab == 8
    assert tok.encode("hello") == [3, 2, 4, 4, 5]  # "\n" d e h l o r w
    assert tok.decode(tok.encode("world\nhello")) == "world\nhello"
    with pytest.raises(TokenizerError, match=r"character 'z' \(U\+007A\) at position 3 is not in"):
        tok.encode("helz")
    tok.register_special_tokens({"<|endoftext|>": 8})
    assert tok.encode("he<|endoftext|>", "all") == [3, 2, 8]
    # encode_known: a character outside the vocabulary stands as itself; a special token is still one id, though
    # its characters are not in the vocabulary, and the special-token policy still holds
    assert tok.encode_known("hez<|endoftext|>", "all") == [3, 2, "z", 8]
    assert tok.encode_known("h<|e", "none") == [3, "<", "|", 2]
    assert tok.encode_known("hello") == tok.encode("hello")
    with pytest.raises(ValueError, match="not allowed"):
        tok.encode_known("<|endoftext|>")
    with pytest.raises(TokenizerError, match="collides"):
        tok.register_special_tokens({"<|endoftext|>": 3})
    tok.save(str(tmp_path / "c"))
    again = minbpe.load(tmp_path / "c.model")
    assert isinstance(again, CharTokenizer) and again.chars == tok.chars and again.special_tokens == tok.special_tokens
    (tmp_path / "c.model").write_text("minbpe-char v1\n{\"chars\": \"ba\"}\n")
    with pytest.raises(TokenizerError, match="line 2"):
        minbpe.load(tmp_path / "c.model")


def test_char_vocab_limit_and_files(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abcabc\n" * 10_000, encoding="utf-8")
    tok = CharTokenizer()
    tok.train_from_files([path])
    assert tok.chars == ["\n", "a", "b", "c"]
    with pytest.raises(ValueError, match="4 distinct characters"):
        tok.train("abc\n", vocab_size=3)
    tok.register_special_tokens({"<|eot|>": 5})  # the whole vocabulary is then 6 ids
    with pytest.raises(TokenizerError, match="id 5, outside a vocabulary of 5 tokens"):
        tok.train("xyz\n", vocab_size=5)
    assert tok.chars == ["\n", "a", "b", "c"]  # a refused training changes nothing
    tok.train("abc\n", vocab_size=6)
    assert tok.n_vocab == 6


def test_split_pattern_is_used_at_encode_time(tmp_path):
    gpt2 = RegexTokenizer(GPT2_SPLIT_PATTERN)
    gpt2.train("don't stop", 256)
    assert gpt2.encode("ab  c") == list(b"ab  c")
    assert [gpt2.decode(gpt2.encode(c)) for c in regex.findall(GPT2_SPLIT_PATTERN, "ab  c")] == ["ab", " ", " c"]
