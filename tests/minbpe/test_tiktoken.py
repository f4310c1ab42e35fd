"""GPT-2 / GPT-4 tokenizers and the tiktoken bridge: the same ids as tiktoken, or a clear refusal."""

import base64
import lzma
import pickle
import re
import socket
import string

import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiktoken_ext import openai_public

import minbpe
from conftest import ROOT, TINYSHAKESPEARE, rank_file
from harness import BENCH_DIR, MAKE_CORPUS
from minbpe import (
    GPT2_SPLIT_PATTERN,
    GPT4_SPLIT_PATTERN,
    MINBPE_GPT4_SPLIT_PATTERN,
    BasicTokenizer,
    CharTokenizer,
    GPT2Tokenizer,
    GPT4Tokenizer,
    RegexTokenizer,
    TokenizerError,
    from_tiktoken,
    pretrained,
)
from minbpe.compare import tiktoken_special_args
from minbpe.tiktoken_bridge import build_encoding

NAMES = {"gpt2": "r50k_base", "gpt4": "cl100k_base"}


def read_ranks(path) -> dict[bytes, int]:
    ranks = {}
    for line in path.read_bytes().splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


@pytest.fixture(scope="module", params=["gpt2", "gpt4"])
def pair(request):
    """(our pretrained tokenizer, tiktoken's own Encoding built from its own spec and the shared rank file)."""
    name = NAMES[request.param]
    ranks = read_ranks(rank_file(name))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(openai_public, "load_tiktoken_bpe", lambda *args, **kwargs: ranks)
        spec = getattr(openai_public, name)()
    ours = minbpe.get_tokenizer(request.param)
    assert len(ours.merges) == len(ranks) - 256  # recovered once for the module
    return ours, tiktoken.Encoding(**spec)


# text that exercises the split patterns: whitespace of every kind, \r\n, digits, contractions in
# any case, letters and marks of several scripts, emoji, lone surrogates, special-token names
ALPHABET = st.sampled_from(
    list(" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2000\u2028\u2029\u200b\u3000\ufeff")
    + list("aAzZ'’sdmtlvreSDMTLVRE0123456789٣٤¹½²ⅷ.,!?-_()[]{}<|>/\\\"#$%&*+=@^`~;:")
    + ["é", "e\u0301", "ß", "ǅ", "İ", "ﬁ", "안", "녕", "日", "本", "α", "Ω", "я", "ا", "ה", "क", "\u0900"]
    + ["😉", "👍🏽", "🇫🇷", "\U0001f9d1\u200d\U0001f4bb", "\U000e0067", "\ud800", "\udfff", "\uffff"]
    + ["<|endoftext|>", "<|fim_prefix|>", "<|endofprompt|>", "DON'T", "'ll", "'VE", "\r\n", "   ", "\n\n"]
)
TEXTS = st.lists(ALPHABET, max_size=40).map("".join)


CORPORA = ["taylorswift", "tinyshakespeare", "prose", "code"]


def corpus_sample(name: str) -> str:
    """Real text: the two shipped corpora, or prose or code from the bench corpus (a visible skip without one)."""
    if name == "taylorswift":
        return (ROOT / "data" / "taylorswift.txt").read_text(encoding="utf-8")
    if name == "tinyshakespeare":
        return TINYSHAKESPEARE.read_text(encoding="utf-8")[:300_000]
    path = BENCH_DIR / f"{name}.txt.xz"
    if not path.exists():
        pytest.skip(f"needs a bench corpus ({path}: not found): {MAKE_CORPUS}")
    with lzma.open(path, "rt", encoding="utf-8") as f:
        return f.read(300_000)


# --- pretrained: identical ids to tiktoken ----------------------------------------


def test_bundled_rank_files_are_tiktokens(monkeypatch):
    expected = {}

    def capture(url: str, expected_hash: str) -> dict:
        expected[url.rsplit("/", 1)[1]] = expected_hash
        return {}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", capture)
    for name, (filename, sha256, pattern, special_tokens) in pretrained.BUNDLED.items():
        spec = getattr(openai_public, name)()
        assert (expected[filename], pattern, special_tokens) == (sha256, spec["pat_str"], spec["special_tokens"])
        assert pretrained.read_rank_file(pretrained.DATA_DIR / filename, sha256) == read_ranks(rank_file(name))


@pytest.mark.parametrize("corpus", CORPORA)
def test_pretrained_on_real_text(pair, corpus):
    ours, theirs = pair
    text = corpus_sample(corpus)
    expected = theirs.encode_ordinary(text)
    assert ours.encode(text, backend="python") == expected
    assert ours.encode(text) == expected
    assert ours.decode(expected) == text


def assert_auto_takes_tiktoken(tok, monkeypatch, text: str) -> None:
    """backend="auto" encodes with the tokenizer's tiktoken Encoding and never reaches the Python merge loop:
    with the loop made to fail, auto still gives the loop's ids (taken before), and so does to_tiktoken()."""
    special = "all" if tok.special_tokens else "none_raise"
    expected = tok.encode(text, special, backend="python")
    assert tok.to_tiktoken().encode(text, allowed_special=set(tok.special_tokens)) == expected

    def python_path(*args, **kwargs):
        raise AssertionError("backend='auto' ran the Python merge loop")

    monkeypatch.setattr(tok, "_encode_ordinary", python_path)
    assert tok.encode(text, special) == expected
    assert tok.encode_ordinary(text) == tok.to_tiktoken().encode_ordinary(text)
    assert tok.encode_batch([text, text[::-1]], special, workers=2) == [
        tok.to_tiktoken().encode(t, allowed_special=set(tok.special_tokens)) for t in (text, text[::-1])
    ]
    with pytest.raises(AssertionError, match="ran the Python merge loop"):  # the patch is in the way of "python"
        tok.encode(text, special, backend="python")


def test_auto_takes_tiktoken_for_pretrained(pair, monkeypatch, taylorswift):
    assert_auto_takes_tiktoken(pair[0], monkeypatch, taylorswift[:5_000] + " DON'T 😉\r\n  ")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS, policy=st.sampled_from(["all", "none", "none_raise", "one"]))
def test_pretrained_on_generated_text(pair, text, policy):
    ours, theirs = pair
    allowed = {"<|endoftext|>"} if policy == "one" else policy
    try:
        expected = theirs.encode(text, **tiktoken_special_args(allowed))
    except ValueError:
        for backend in ("python", "auto"):
            with pytest.raises(ValueError, match="special token"):
                ours.encode(text, allowed, backend)
        return
    assert ours.encode(text, allowed, "python") == expected
    assert ours.encode(text, allowed) == expected


@pytest.mark.parametrize(
    "text",
    [
        "a" * 200_000,
        " " * 100_000 + "x",
        "1" * 100_000,
        "\n" * 50_000 + "  ",
        "ab" * 100_000,
        "DON'T I'LL we'Ve " * 100,
        "  trailing spaces   ",
        "tabs\t\t\tand\r\n\r\nwindows\r\n",
        "\u0915\u094d\u0937" * 1000 + "e\u0301" * 1000,
    ],
    ids=["a-run", "space-run", "digit-run", "newline-run", "ab-run", "contractions", "trailing", "crlf", "marks"],
)
def test_pretrained_on_hard_cases(pair, text):
    ours, theirs = pair
    expected = theirs.encode_ordinary(text)
    assert ours.encode(text, backend="python") == expected
    assert ours.encode(text) == expected


def test_pretrained_special_tokens_and_ids():
    gpt2, gpt4 = GPT2Tokenizer(), GPT4Tokenizer()
    assert gpt2.special_tokens == {"<|endoftext|>": 50256} and gpt2.n_vocab == 50257
    assert gpt4.special_tokens["<|endofprompt|>"] == 100276 and gpt4.n_vocab == 100277
    assert gpt2.encode("<|endoftext|>!", allowed_special="all") == [50256, 0]  # GPT-2 gives "!" id 0
    assert gpt2.vocab[0] == b"!" and gpt2.decode([50256]) == "<|endoftext|>"
    assert gpt4.encode("<|fim_prefix|>x", allowed_special={"<|fim_prefix|>"}) == [100258, 87]
    with pytest.raises(ValueError, match="<|endoftext|>"):
        gpt4.encode("a <|endoftext|>")


@pytest.fixture
def network_attempts(monkeypatch) -> list[str]:
    """No network: every way into it (name lookup, a socket, a connection) fails as on an unplugged
    machine, and is recorded, so a test sees an attempt even where the caller swallows the error."""
    attempts = []

    def refuse(name: str) -> None:
        attempts.append(name)
        raise OSError(101, "Network is unreachable")

    class UnpluggedSocket(socket.socket):  # still a class: ssl and urllib3 subclass socket.socket on import
        def __init__(self, *args, **kwargs):
            refuse("socket")

    monkeypatch.setattr(socket, "socket", UnpluggedSocket)
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: refuse("getaddrinfo"))
    return attempts


def test_pretrained_tokenizers_work_offline(network_attempts):
    pretrained.bundled_encoding.cache_clear()
    assert GPT4Tokenizer().encode("hello world") == [15339, 1917]
    assert minbpe.get_encoding("gpt2").encode("hello world") == [31373, 995]
    assert network_attempts == []


def test_unbundled_encoding_offline_is_a_clear_error(network_attempts, monkeypatch, tmp_path):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    with pytest.raises(TokenizerError, match="not bundled.*could not load it"):
        minbpe.get_encoding("p50k_base")
    assert network_attempts  # the download was tried, and failed only for want of a network
    with pytest.raises(TokenizerError, match="unknown tiktoken encoding 'no_such_encoding'; tiktoken knows gpt2"):
        minbpe.get_encoding("no_such_encoding")


def test_rank_file_hash_mismatch(tmp_path, monkeypatch):
    data = bytearray((pretrained.DATA_DIR / "r50k_base.tiktoken").read_bytes())
    data[100] ^= 1
    (tmp_path / "r50k_base.tiktoken").write_bytes(bytes(data))
    monkeypatch.setattr(pretrained, "DATA_DIR", tmp_path)
    pretrained.bundled_encoding.cache_clear()
    try:
        with pytest.raises(TokenizerError, match=r"r50k_base.tiktoken: sha256 is [0-9a-f]{64}, expected 306cd27f"):
            GPT2Tokenizer()
    finally:
        pretrained.bundled_encoding.cache_clear()


def test_pretrained_cannot_be_trained_or_saved(tmp_path):
    gpt2 = GPT2Tokenizer()
    with pytest.raises(TokenizerError, match="fixed vocabulary"):
        gpt2.train("some text", 300)
    with pytest.raises(TokenizerError, match="cannot be written"):
        gpt2.save(str(tmp_path / "x"))
    assert list(tmp_path.iterdir()) == []


def test_pretrained_pickles_and_encodes_in_workers():
    gpt4 = GPT4Tokenizer()
    copy = pickle.loads(pickle.dumps(gpt4))
    texts = ["hello world", "DON'T  stop\r\n", "😉 " * 50] * 4
    expected = [gpt4.encode(t) for t in texts]
    assert copy.encode_batch(texts) == expected
    assert gpt4.encode_batch(texts, workers=2, backend="python") == expected


def test_get_tokenizer_errors(tmp_path):
    with pytest.raises(TokenizerError, match="give gpt2 or gpt4, or the path of a .model file"):
        minbpe.get_tokenizer("gpt3")
    (tmp_path / "bad.model").write_text("nonsense\n")
    with pytest.raises(TokenizerError, match="not a minbpe .model file"):
        minbpe.get_tokenizer(tmp_path / "bad.model")


# --- to_tiktoken / from_tiktoken ------------------------------------------------------


@pytest.fixture(scope="module", params=["gpt4", "gpt2", "minbpe", "basic"])
def trained(request, taylorswift):
    if request.param == "basic":
        tok = BasicTokenizer()
    else:
        patterns = {"gpt4": GPT4_SPLIT_PATTERN, "gpt2": GPT2_SPLIT_PATTERN, "minbpe": MINBPE_GPT4_SPLIT_PATTERN}
        tok = RegexTokenizer(patterns[request.param])
    tok.train(taylorswift, 1000)
    tok.register_special_tokens({"<|endoftext|>": 1000, "<|bos|>": 1001})
    return tok


def test_trained_tokenizer_exports_exactly(trained, taylorswift):
    assert trained.tiktoken_incompatibility() is None
    enc = trained.to_tiktoken()
    assert enc is trained.to_tiktoken()  # built once
    assert enc.n_vocab == 1002 and enc.special_tokens_set == {"<|endoftext|>", "<|bos|>"}
    text = taylorswift[:50_000] + "<|endoftext|>" + taylorswift[-20_000:] + "<|bos|> 😉\r\n  "
    expected = trained.encode(text, "all", backend="python")
    assert enc.encode(text, allowed_special="all") == expected
    assert trained.encode(text, "all") == expected
    assert trained.encode(text, "all", backend="tiktoken") == expected
    back = from_tiktoken(enc)
    assert back.encode(text, "all", backend="python") == expected
    assert back.merges == trained.merges and back.vocab == trained.vocab


def test_auto_takes_tiktoken_for_trained(trained, monkeypatch, taylorswift):
    assert_auto_takes_tiktoken(trained, monkeypatch, taylorswift[:5_000] + "<|endoftext|> 😉\r\n  <|bos|>")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_trained_tokenizer_export_on_generated_text(trained, text):
    expected = trained.encode(text, "all", backend="python")
    assert trained.to_tiktoken().encode(text, allowed_special="all") == expected


@settings(max_examples=150, deadline=None)
@given(
    corpus=st.lists(st.text(alphabet="abc ", min_size=1, max_size=30), min_size=1, max_size=5),
    probe=st.text(alphabet="abc ", max_size=40),
    vocab=st.integers(256, 300),
)
def test_every_trained_tokenizer_is_exportable(corpus, probe, vocab):
    """Greedy training always gives a self-consistent table (the argument in tiktoken_bridge.py)."""
    for tok in (BasicTokenizer(), RegexTokenizer()):
        tok.train(corpus, vocab)
        assert tok.tiktoken_incompatibility() is None
        assert tok.encode(probe, backend="tiktoken") == tok.encode(probe, backend="python")


@st.composite
def merge_tables(draw):
    """A random merge table over the bytes a, b, c: each merge joins two existing tokens."""
    ids = [97, 98, 99]
    merges = {}
    for idx in range(256, 256 + draw(st.integers(1, 12))):
        pair = (draw(st.sampled_from(ids)), draw(st.sampled_from(ids)))
        if pair not in merges:
            merges[pair] = idx = 256 + len(merges)
            ids.append(idx)
    return merges


@settings(max_examples=300, deadline=None)
@given(merges=merge_tables(), probes=st.lists(st.text(alphabet="abc", max_size=12), min_size=20, max_size=20))
def test_the_check_is_sound_on_random_merge_tables(merges, probes):
    """Whenever a table passes the check, tiktoken equals the merge loop; a table that fails is refused,
    and (whole text as one chunk) the token the check names really is encoded differently by tiktoken."""
    tok = BasicTokenizer()
    tok.merges = merges
    tok.vocab = tok._build_vocab()
    reason = tok.tiktoken_incompatibility()
    if reason is None:
        enc = tok.to_tiktoken()
        for probe in probes:
            assert enc.encode(probe) == tok.encode(probe, backend="python")
        return
    with pytest.raises(TokenizerError, match="cannot export"):
        tok.to_tiktoken()
    assert tok.encode(probes[0]) == tok.encode(probes[0], backend="python")  # auto falls back
    if named := re.match(r"token (\d+) ", reason):
        text = tok.decode([int(named[1])])
        assert build_encoding(tok).encode(text) != tok.encode(text, backend="python")


def test_export_refuses_a_table_tiktoken_would_encode_differently():
    tok = BasicTokenizer()
    tok.merges = {(97, 98): 256, (98, 99): 257, (97, 257): 258}  # "abc" = a + bc, but "ab" merges first
    tok.vocab = tok._build_vocab()
    assert tok.encode("abc", backend="python") == [256, 99]
    reason = tok.tiktoken_incompatibility()
    assert "token 258 [abc] encodes as [256, 99] from its own bytes" in reason
    with pytest.raises(TokenizerError, match="token 258"):
        tok.encode("abc", backend="tiktoken")
    assert tok.encode("abc") == [256, 99]  # auto keeps the merges' answer
    # and tiktoken, made without the check, does give another answer: the check is needed
    assert build_encoding(tok).encode("abc") == [258]


def test_export_refusals_name_the_reason():
    custom = RegexTokenizer(r"\w+|\s+|[^\w\s]+")
    custom.train("hello world, hello there", 260)
    with pytest.raises(TokenizerError, match="split pattern is not gpt2's"):
        custom.to_tiktoken()
    assert custom.encode("hello there") == custom.encode("hello there", backend="python")

    dup = BasicTokenizer()
    dup.merges = {(97, 98): 256, (256, 99): 257, (98, 99): 258, (97, 258): 259}
    dup.vocab = dup._build_vocab()
    assert "tokens [257, 259] spell the same bytes [abc]" in dup.tiktoken_incompatibility()

    overlap = BasicTokenizer()
    overlap.register_special_tokens({"<|a|>": 256, "<|a|>x": 257})
    assert "overlap" in overlap.tiktoken_incompatibility()

    chars = CharTokenizer("abc")
    with pytest.raises(TokenizerError, match="id per character"):
        chars.to_tiktoken()
    with pytest.raises(ValueError, match="backend must be one of auto, python, tiktoken"):
        chars.encode("abc", backend="fast")


def test_from_tiktoken_of_any_encoding():
    letters = {bytes([i]): i for i in range(256)}
    for i, token in enumerate([b"ab", b"abc", b"cd", b"abcd"]):
        letters[token] = 256 + i
    enc = tiktoken.Encoding("toy", pat_str=r"\S+|\s+", mergeable_ranks=letters, special_tokens={"<s>": 300})
    tok = from_tiktoken(enc)
    assert tok.merges == {(97, 98): 256, (256, 99): 257, (99, 100): 258, (257, 100): 259}
    for text in ["abcd abc", "dcba", "<s>abcd", string.printable]:
        assert tok.encode(text, "all") == enc.encode(text, allowed_special="all")
        assert tok.encode(text, "all", backend="python") == enc.encode(text, allowed_special="all")
    assert tok.to_tiktoken() is enc  # tiktoken defines this tokenizer: no pattern check
    assert "split pattern" in tok.tiktoken_incompatibility()  # the Python path's splits are not proven

    gaps = {bytes([i]): i for i in range(256)} | {b"xy": 500, b"xyz": 300}
    broken = from_tiktoken(tiktoken.Encoding("gaps", pat_str=r"\S+", mergeable_ranks=gaps, special_tokens={}))
    assert broken.encode("xyz") == [300]  # tiktoken itself still encodes it
    with pytest.raises(TokenizerError, match=r"token 300 \[xyz\] is not the merge of two tokens ranked before it"):
        broken.encode("xyz", backend="python")
