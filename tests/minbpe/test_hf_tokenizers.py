"""tokenizer.json and tiktoken rank files: written only when they give exactly our ids, checked here on the
bundled GPT-2 / GPT-4 tokenizers and trained ones, over generated text."""

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minbpe
from cli import main
from conftest import ROOT
from minbpe import BasicTokenizer, CharTokenizer, RegexTokenizer
from minbpe.hf_tokenizers import HFTokenizerError, export_tokenizer
from minbpe.patterns import GPT2_SPLIT_PATTERN

transformers = pytest.importorskip("transformers", reason="the hf extra: pip install 'gptkit[hf]'")
tiktoken_load = pytest.importorskip("tiktoken.load")

TAYLOR = (ROOT / "data" / "taylorswift.txt").read_text(encoding="utf-8")
SPECIALS = ["<|endoftext|>", "<|fim_prefix|>", "<|x|>"]


def trained(kind: str):
    tok = {"regex": RegexTokenizer(), "gpt2-pattern": RegexTokenizer(GPT2_SPLIT_PATTERN),
           "basic": BasicTokenizer()}[kind]
    tok.train(TAYLOR[:60_000], 256 + 200)
    tok.register_special_tokens({"<|endoftext|>": 456, "<|x|>": 460})  # a gap before the second, on purpose
    return tok


TOKENIZERS = {"gpt2": lambda: minbpe.get_tokenizer("gpt2"), "gpt4": lambda: minbpe.get_tokenizer("gpt4"),
              "regex": lambda: trained("regex"), "gpt2-pattern": lambda: trained("gpt2-pattern"),
              "basic": lambda: trained("basic")}


@pytest.fixture(scope="module", params=list(TOKENIZERS))
def exported(request, tmp_path_factory):
    tok = TOKENIZERS[request.param]()
    directory = tmp_path_factory.mktemp(request.param)
    written, notes = export_tokenizer(tok, directory)
    assert {p.name for p in written} == {"tokenizer.json", "tokenizer_config.json", "tokenizer.tiktoken"}
    assert notes == []
    hf = transformers.AutoTokenizer.from_pretrained(str(directory))
    ranks = tiktoken_load.load_tiktoken_bpe(str(directory / "tokenizer.tiktoken"))
    import tiktoken

    encoding = tiktoken.Encoding("exported", pat_str=tok.to_tiktoken()._pat_str, mergeable_ranks=ranks,
                                 special_tokens=tok.special_tokens)
    return tok, hf, encoding


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200) | st.lists(
    st.sampled_from(["  ", "\r\n", "\n\n", "\t", "123", "4567", "日本語", "e\u0301", "👍🏽", "it's", "'LL", " a", "ab",
                     "aaaa", *SPECIALS]), max_size=40).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT)
def test_transformers_and_tiktoken_give_our_ids(exported, text):
    tok, hf, encoding = exported
    ours = tok.encode(text, allowed_special="all", backend="python")
    assert hf.encode(text, add_special_tokens=False) == ours
    assert encoding.encode(text, allowed_special="all") == ours
    assert hf.decode(ours) == tok.decode(ours)


def test_what_cannot_be_exact_is_refused(tmp_path):
    custom = RegexTokenizer(r"\w+|\s+|[^\w\s]+")
    custom.train(TAYLOR[:5_000], 260)
    with pytest.raises(HFTokenizerError, match="Oniguruma"):
        export_tokenizer(custom, tmp_path / "custom")
    char = CharTokenizer()
    char.train("abc")
    with pytest.raises(HFTokenizerError, match="not byte-level BPE"):
        export_tokenizer(char, tmp_path / "char")
    overlapping = trained("regex")
    overlapping.register_special_tokens({"<|end|>": 470, "<|end|>x": 471})
    with pytest.raises(HFTokenizerError, match="overlap"):
        export_tokenizer(overlapping, tmp_path / "overlap")
    assert not any(tmp_path.iterdir())  # nothing written for any of them


def test_the_cli_exports_a_tokenizer(tmp_path):
    result = CliRunner().invoke(main, ["export", "--tokenizer", "gpt2", "--output", str(tmp_path / "gpt2")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "gpt2").iterdir()) == ["tokenizer.json", "tokenizer.tiktoken",
                                                                    "tokenizer_config.json"]
    again = CliRunner().invoke(main, ["export", "--tokenizer", "gpt2", "--output", str(tmp_path / "gpt2")])
    assert again.exit_code == 1 and "exists and is not an empty directory" in again.output
    neither = CliRunner().invoke(main, ["export", "--output", str(tmp_path / "x")])
    assert neither.exit_code == 2
