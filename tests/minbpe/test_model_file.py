"""Hostile and damaged .model files: refused fast with one TokenizerError, never a hang, a MemoryError or a
different tokenizer."""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minbpe
from conftest import ROOT
from minbpe import RegexTokenizer, TokenizerError
from minbpe.model_file import MAX_TOKEN_BYTES

TAYLOR = ROOT / "data" / "taylorswift.txt"


def test_a_doubling_merge_chain_is_refused_at_once(tmp_path):
    """235 bytes that ask for a token of 2**61 bytes (each merge joins the last token to itself)."""
    lines = ["minbpe v1", "", "0", "97 97"] + [f"{256 + i} {256 + i}" for i in range(60)]
    path = tmp_path / "bomb.model"
    path.write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(TokenizerError, match=r"bomb.model line \d+: merge \(\d+, \d+\) makes a token of "):
        minbpe.load(path)
    assert time.perf_counter() - start < 1.0
    # the bound is far above real tokens: a chain that stays under it loads
    n = MAX_TOKEN_BYTES.bit_length() - 2  # longest token 2**(n+1) bytes
    path.write_text("\n".join(lines[: 4 + n]) + "\n")
    assert len(minbpe.load(path).vocab[256 + n]) == 2 ** (n + 1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[bytes, RegexTokenizer]:
    tok = RegexTokenizer()
    tok.train(TAYLOR.read_text(encoding="utf-8")[:20_000], 256 + 40)
    tok.register_special_tokens({"<|endoftext|>": 296, "<|pad|>": 297})
    prefix = tmp_path_factory.mktemp("tok") / "tok"
    tok.save(str(prefix))
    return (prefix.parent / "tok.model").read_bytes(), tok


def test_a_file_cut_at_any_byte_is_refused_or_is_a_prefix_of_the_merges(saved, tmp_path):
    data, full = saved
    merges = list(full.merges.items())
    path = tmp_path / "cut.model"
    loaded = 0
    for cut in range(len(data) + 1):
        path.write_bytes(data[:cut])
        try:
            tok = minbpe.load(path)
        except TokenizerError:
            continue
        loaded += 1
        # a cut at a line end is a smaller, valid tokenizer: the first merges, the same pattern and specials
        assert tok.pattern == full.pattern and tok.special_tokens == full.special_tokens
        assert list(tok.merges.items()) == merges[: len(tok.merges)]
        assert data[:cut].endswith(b"\n")
    assert loaded == len(merges) + 1  # the whole file, and every cut right after a merge line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.from_regex(r"\A\d{1,6} \d{1,6}\Z"), st.text(max_size=12)), max_size=30),
       st.sampled_from(["", "\\s+", "("]), st.integers(0, 3))
def test_random_files_load_or_raise_tokenizer_error(tmp_path, body, pattern, n_special):
    path = tmp_path / "fuzz.model"
    path.write_text("\n".join(["minbpe v1", pattern, str(n_special), *body]) + "\n", encoding="utf-8")
    start = time.perf_counter()
    try:
        tok = minbpe.load(path)
    except TokenizerError:
        pass
    else:
        assert len(tok.merges) <= len(body)
        tok.decode(list(range(min(tok.n_vocab, 300))) if not tok.special_tokens else [0])
    assert time.perf_counter() - start < 1.0
