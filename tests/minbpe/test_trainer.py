"""The fast trainer gives exactly the oracle's merges, and its input stages are exact."""

import itertools
from collections import Counter

import pytest
import regex
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import TINYSHAKESPEARE
from minbpe import (
    GPT2_SPLIT_PATTERN,
    GPT4_SPLIT_PATTERN,
    MINBPE_GPT4_SPLIT_PATTERN,
    BasicTokenizer,
    RegexTokenizer,
    reference,
)
from minbpe import base as base_mod
from minbpe import text as text_mod
from minbpe import trainer as trainer_mod
from minbpe.text import ANY_PATTERN_CUTS, read_blocks, safe_cuts, split_blocks
from minbpe.trainer import count_chunks, learn_merges

# few distinct characters, so pairs repeat and counts tie; plus the characters the
# split patterns treat specially (newlines, spaces, digits, apostrophes, marks)
ALPHABET = "aab b\n\n \t\r1.'sé😀\u0301中"
texts = st.text(alphabet=ALPHABET, max_size=120)
PATTERNS = ["", GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN]


def fast_merges(text: str, pattern: str, n_merges: int, special=()) -> list[tuple[int, int]]:
    chunks = Counter(reference.chunks(text, pattern, list(special)))
    return learn_merges(chunks, n_merges)[0]


@pytest.fixture(params=["vectorized", "one by one"])
def merge_path(request, monkeypatch):
    """Run a test with every merge on numpy's path (where allowed), then with none."""
    monkeypatch.setattr(trainer_mod, "VECTOR_MIN", 1 if request.param == "vectorized" else 10**9)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(text=texts, n_merges=st.integers(0, 40), pattern=st.sampled_from(PATTERNS))
@example(text="aaaa", n_merges=5, pattern="")
@example(text="aaaaaaa aaa aa", n_merges=10, pattern=GPT4_SPLIT_PATTERN)
@example(text="abababab abab", n_merges=10, pattern="")
@example(text="", n_merges=10, pattern=GPT4_SPLIT_PATTERN)
@example(text="abcabc bcab", n_merges=0, pattern="")
def test_fast_trainer_equals_oracle(merge_path, text, n_merges, pattern):
    chunks = reference.chunks(text, pattern)
    assert fast_merges(text, pattern, n_merges) == reference.train(chunks, n_merges)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.dictionaries(st.text(alphabet="abc", min_size=1, max_size=12), st.integers(1, 1000), max_size=12),
       n_merges=st.integers(0, 30))
def test_weighted_chunks_equal_oracle(merge_path, chunks, n_merges):
    merges, input_bytes, tokens = learn_merges(chunks, n_merges)
    assert merges == reference.train(chunks, n_merges)
    assert input_bytes == sum(len(c) * n for c, n in chunks.items())


@settings(max_examples=200, deadline=None)
@given(chunks=st.dictionaries(st.text(alphabet="abc", min_size=1, max_size=12), st.integers(1, 6), max_size=12),
       n_merges=st.integers(0, 30))
def test_weighted_oracle_equals_the_oracle_on_copies(chunks, n_merges):
    """The oracle's counts (chunk -> count) give the merges of the chunks repeated, in any order."""
    expanded = [c for c, n in chunks.items() for _ in range(n)]
    assert reference.train(chunks, n_merges) == reference.train(expanded, n_merges)
    assert reference.train(chunks, n_merges) == reference.train(expanded[::-1], n_merges)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=ALPHABET + "<|>", max_size=80), n_merges=st.integers(0, 20))
def test_specials_are_cut_out_of_training(text, n_merges):
    special = ["<|eot|>", "<|x|>"]
    text = text.replace("|", "<|eot|>", 1).replace(">", "<|x|>", 1)
    tok = RegexTokenizer()
    tok.register_special_tokens({"<|eot|>": 256 + n_merges, "<|x|>": 257 + n_merges})  # the last ids
    tok.train(text, 258 + n_merges)
    expected = reference.train(reference.chunks(text, GPT4_SPLIT_PATTERN, special), n_merges)
    assert list(tok.merges) == expected


def test_overlapping_runs():
    # "aaaa" -> (a,a) twice: [aa, aa]; then (aa, aa)
    tok = BasicTokenizer()
    tok.train("aaaa", 258)
    assert tok.merges == {(97, 97): 256, (256, 256): 257}
    assert tok.encode("aaaaa") == [257, 97]


def spelled(merges: list[tuple[int, int]]) -> list[bytes]:
    vocab = [bytes([i]) for i in range(256)]
    for p0, p1 in merges:
        vocab.append(vocab[p0] + vocab[p1])
    return vocab[256:]


@settings(max_examples=300, deadline=None)
@given(chunks=st.dictionaries(st.text(alphabet="abc", min_size=1, max_size=8), st.integers(1, 5), max_size=8))
def test_trained_tokens_have_distinct_bytes(chunks):
    tokens = spelled(learn_merges(chunks, 40)[0])
    assert len(tokens) == len(set(tokens))


def test_no_two_merges_spell_the_same_bytes_exhaustive():
    for length in range(2, 11):
        for letters in itertools.product("ab", repeat=length):
            tokens = spelled(learn_merges({"".join(letters): 1}, 12)[0])
            assert len(tokens) == len(set(tokens)), "".join(letters)


def test_vocab_256_and_empty_input():
    tok = RegexTokenizer()
    stats = tok.train("hello", 256)
    assert tok.merges == {} and stats.merges == 0 and not stats.stopped_early
    with pytest.warns(UserWarning, match="ran out of pairs to merge after 0 of 10 merges"):
        stats = tok.train("", 266)
    assert tok.merges == {} and stats.stopped_early


def test_runs_out_of_pairs_and_says_so():
    tok = BasicTokenizer()
    with pytest.warns(UserWarning, match=r"after 3 of 100 merges: the vocabulary has 259 tokens, not 356"):
        stats = tok.train("abcd", 356)
    assert stats.merges == 3 and len(tok.merges) == 3
    assert tok.encode("abcd") == [258]


def test_vocab_size_below_256_is_an_error():
    with pytest.raises(ValueError, match="a vocabulary of 255 tokens is too small: it needs at least 256 byte tokens$"):
        RegexTokenizer().train("hello", 255)


def test_iterable_of_documents_never_merges_across_documents():
    tok = BasicTokenizer()
    tok.train(["ab", "ab", "ba"], 260)
    # "ba" only spans a document boundary once in "abab"+"ba" but never inside a document here
    assert list(tok.merges) == reference.train(["ab", "ab", "ba"], 4)
    assert (98, 97) in tok.merges  # 'ba' does occur inside the third document


PATTERN_NAMES = {"gpt2": GPT2_SPLIT_PATTERN, "gpt4": GPT4_SPLIT_PATTERN, "minbpe-gpt4": MINBPE_GPT4_SPLIT_PATTERN}
# each split pattern with its own cut rule, and the rule for any pattern with each pattern
RULES = [(name, safe_cuts(pattern)) for name, pattern in PATTERN_NAMES.items()] + \
    [(name, ANY_PATTERN_CUTS) for name in PATTERN_NAMES]


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet="ab. \n\r\t1'é", max_size=200), block=st.integers(1, 20), rule=st.sampled_from(RULES))
def test_safe_cuts_change_no_chunk(text, block, rule):
    name, cuts = rule
    blocks = split_blocks(text, block, cuts)
    assert "".join(blocks) == text
    pattern = PATTERN_NAMES[name]
    assert [c for b in blocks for c in regex.findall(pattern, b)] == regex.findall(pattern, text)


def test_each_pattern_cuts_a_blank_line_where_its_chunks_allow():
    """Paragraphs separated by blank lines have no "x\\nY": GPT-4 cuts after the blank line, GPT-2 inside it."""
    text = "One paragraph.\n\nAnother one.\n\nA third."
    assert split_blocks(text, 5, ANY_PATTERN_CUTS) == [text]
    gpt4, gpt2 = safe_cuts(GPT4_SPLIT_PATTERN), safe_cuts(GPT2_SPLIT_PATTERN)
    assert split_blocks(text, 5, gpt4) == ["One paragraph.\n\n", "Another one.\n\n", "A third."]
    assert split_blocks(text, 5, gpt2) == ["One paragraph.\n", "\nAnother one.\n", "\nA third."]
    # and each is wrong for the other pattern: the rules are not interchangeable
    for mine, other in ((GPT4_SPLIT_PATTERN, GPT2_SPLIT_PATTERN), (GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN)):
        blocks = split_blocks(text, 5, safe_cuts(mine))
        assert [c for b in blocks for c in regex.findall(other, b)] != regex.findall(other, text)


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet="ab. \n\r\t1'é😀", max_size=200), block=st.integers(1, 20),
       rule=st.sampled_from(RULES))
def test_read_blocks_streams_exactly(tmp_path_factory, text, block, rule):
    name, cuts = rule
    path = tmp_path_factory.mktemp("blocks") / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    blocks = list(read_blocks(str(path), block_bytes=block, cuts=cuts))
    assert "".join(blocks) == text
    got = count_chunks(blocks, PATTERN_NAMES[name])
    assert got == Counter(regex.findall(PATTERN_NAMES[name], text))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="ab. \n\r\t1'é😀", max_size=200), offsets=st.lists(st.integers(0, 400), max_size=6),
       window=st.integers(1, 24), rule=st.sampled_from(RULES))
def test_byte_ranges_cut_where_blocks_may_end(tmp_path_factory, monkeypatch, text, offsets, window, rule):
    """The Ray engine's units: each task moves its byte offsets to the first cut at or after them, so tasks that
    never read each other's bytes agree on their ends, and their ranges count the file's chunks exactly."""
    name, cuts = rule
    monkeypatch.setattr(text_mod, "CUT_WINDOW", window)  # breaks near a read's end are read again
    path = tmp_path_factory.mktemp("ranges") / "t.txt"
    data = text.encode("utf-8")
    path.write_bytes(data)
    # the independent expectation: cuts of the whole text by the rule, in bytes, right after a line break
    allowed = {len(text[: m.start()].encode()) for m in regex.finditer(cuts, text)}
    after_breaks = sorted(b for b in allowed if data[b - 1 : b] == b"\n")
    for offset in range(len(data) + 1):
        expected = 0 if offset == 0 else next((b for b in after_breaks if b >= offset), len(data))
        assert text_mod.cut_at_or_after(str(path), offset, cuts) == expected
    bounds = sorted({0, len(data)} | {text_mod.cut_at_or_after(str(path), o, cuts) for o in offsets})
    blocks = [b for lo, hi in itertools.pairwise(bounds) for b in read_blocks(str(path), "strict", 3, cuts, lo, hi)]
    assert "".join(blocks) == text
    assert count_chunks(blocks, PATTERN_NAMES[name]) == Counter(regex.findall(PATTERN_NAMES[name], text))


def test_a_blank_line_corpus_is_streamed_not_held(tmp_path):
    """One-line paragraphs between blank lines: with the pattern's rule the blocks stay near block_bytes."""
    path = tmp_path / "paragraphs.txt"
    path.write_text("".join(f"Paragraph {i} says something.\n\n" for i in range(20_000)), encoding="utf-8")
    for pattern in (GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN):
        blocks = list(read_blocks(str(path), block_bytes=4096, cuts=safe_cuts(pattern)))
        assert len(blocks) > 100 and max(map(len, blocks)) < 2 * 4096
    assert len(list(read_blocks(str(path), block_bytes=4096))) == 1  # ANY_PATTERN_CUTS finds no "x\\nY" here


def test_train_from_files_equals_train(tmp_path, taylorswift, monkeypatch):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    half = taylorswift.index("\n", len(taylorswift) // 2) + 1
    a.write_text(taylorswift[:half], encoding="utf-8")
    b.write_text(taylorswift[half:], encoding="utf-8")
    blocks: dict[str, list[str]] = {}

    def recorded(path, errors, block_bytes, cuts):
        blocks[path] = list(read_blocks(path, errors, block_bytes, cuts))
        return blocks[path]

    monkeypatch.setattr(base_mod, "read_blocks", recorded)
    from_files = RegexTokenizer()
    from_files.train_from_files([a, b], 400, block_bytes=2_000)
    # the files really were cut (each ~93 kB half into 10+ blocks), and read whole
    assert [len(blocks[str(p)]) >= 10 for p in (a, b)] == [True, True]
    assert ["".join(blocks[str(p)]) for p in (a, b)] == [taylorswift[:half], taylorswift[half:]]
    from_docs = RegexTokenizer()
    from_docs.train([taylorswift[:half], taylorswift[half:]], 400)  # each half one block: BLOCK_CHARS > 100 kB
    assert from_files.merges == from_docs.merges


def test_worker_processes_give_the_same_counts(monkeypatch, taylorswift):
    # small batches so that several go to the pool
    monkeypatch.setattr(trainer_mod, "BATCH_CHARS", 20_000)
    blocks = split_blocks(taylorswift, 5_000)
    one = count_chunks(blocks, GPT4_SPLIT_PATTERN, workers=1)
    two = count_chunks(blocks, GPT4_SPLIT_PATTERN, workers=2)
    assert one == two == Counter(regex.findall(GPT4_SPLIT_PATTERN, taylorswift))


TAYLOR_HEAD = 60_000


@pytest.fixture(scope="module")
def taylorswift_oracle(taylorswift) -> list[tuple[int, int]]:
    """The plain loop's 64 merges of taylorswift's head (every chunk as often as it occurs), run once."""
    return reference.train(reference.chunks(taylorswift[:TAYLOR_HEAD], GPT4_SPLIT_PATTERN), 64)


def test_taylorswift_matches_oracle_and_encodes_to_reported_tokens(merge_path, taylorswift, taylorswift_oracle):
    tok = RegexTokenizer()
    tok.train(taylorswift[:TAYLOR_HEAD], 256 + 64)
    assert list(tok.merges) == taylorswift_oracle
    stats = tok.train(taylorswift, 1024)
    ids = tok.encode(taylorswift)
    assert stats.tokens == len(ids)
    assert stats.input_bytes == len(taylorswift.encode("utf-8"))
    assert tok.decode(ids) == taylorswift


def test_basic_long_single_chunk(merge_path, taylorswift):
    tok = BasicTokenizer()
    text = taylorswift[:20_000]
    stats = tok.train(text, 256 + 48)
    assert list(tok.merges) == reference.train([text], 48)
    assert stats.distinct_chunks == 1 and stats.tokens == len(tok.encode(text))


def test_tinyshakespeare_train_from_file_equals_oracle_counts():
    path = TINYSHAKESPEARE
    text = path.read_text(encoding="utf-8")
    blocks = list(read_blocks(str(path), block_bytes=4096))
    assert count_chunks(blocks, GPT4_SPLIT_PATTERN) == Counter(regex.findall(GPT4_SPLIT_PATTERN, text))
