"""Sources: documents from text (files, globs, directories, separators), JSONL, Parquet and HF datasets."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

import minbpe
from minbpe.text import ANY_PATTERN_CUTS, BLOCK_CHARS
from pipeline.encode import piece_cuts
from pipeline.sources import Corpus, ReadCounter, SourceError, separator_regex, split_stream

DOCS = ["first document", "second: naïve 😉\nwith two lines", "third <|endoftext|> text"]


def docs_of(corpus: Corpus, cuts: str | None = ANY_PATTERN_CUTS) -> list[str]:
    """Documents rebuilt from the pieces."""
    out: list[str] = []
    for text, start in corpus.pieces(cuts):
        if start:
            out.append(text)
        else:
            out[-1] += text
    return out


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ab \n\t<>", max_size=200), cuts=st.lists(st.integers(0, 200), max_size=6),
       separator=st.sampled_from(["line", "blank-line", "<>", "\\n\\n", "ab"]))
def test_split_stream_equals_splitting_the_whole(text, cuts, separator):
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    blocks = [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    pattern = separator_regex(separator)
    assert list(split_stream(blocks, pattern)) == [d for d in pattern.split(text) if d]


def test_separators(tmp_path):
    (tmp_path / "t.txt").write_bytes(b"a\nb\r\n\nc\n \n\nd\n")
    for sep, expected in [
        ("file", ["a\nb\r\n\nc\n \n\nd\n"]),
        ("line", ["a", "b", "c", " ", "d"]),
        ("blank-line", ["a\nb\r", "c", "d\n"]),
        ("\\n\\n", ["a\nb\r", "c\n ", "d\n"]),
    ]:
        assert docs_of(Corpus([str(tmp_path / "t.txt")], doc_separator=sep)) == expected, sep


def test_directories_and_globs_in_sorted_order(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / ".git").mkdir()
    for name, text in [("d/b.txt", "B"), ("d/a.txt", "A"), ("d/sub/c.txt", "C"), ("d/.hidden", "H"),
                       ("d/.git/x.txt", "X"), ("d/empty.txt", "")]:
        (tmp_path / name).write_text(text)
    assert docs_of(Corpus([str(tmp_path / "d")])) == ["A", "B", "C"]
    assert docs_of(Corpus([str(tmp_path / "d" / "*.txt")])) == ["A", "B"]
    assert docs_of(Corpus([str(tmp_path / "d" / "**" / "*.txt")])) == ["A", "B", "C"]
    (tmp_path / "none").mkdir()
    with pytest.raises(SourceError, match="none: the directory has no files"):
        Corpus([str(tmp_path / "none")])


def test_long_documents_come_in_pieces_cut_at_safe_line_breaks(tmp_path):
    text = "".join(f"line {i} of a long document\n" for i in range(3 * BLOCK_CHARS // 25))
    (tmp_path / "long.txt").write_text(text)
    (tmp_path / "long.jsonl").write_text(json.dumps({"text": text}) + "\n")
    for name in ("long.txt", "long.jsonl"):
        corpus = Corpus([str(tmp_path / name)])
        pieces = list(corpus.pieces())
        assert len(pieces) >= 3 and [start for _, start in pieces] == [True] + [False] * (len(pieces) - 1)
        assert all(p.endswith("\n") and len(p) <= 2 * BLOCK_CHARS for p, _ in pieces[:-1])
        assert "".join(p for p, _ in pieces) == text
        assert list(corpus.pieces(None)) == [(text, True)]


def test_jsonl(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": i, "body": d}) + "\n" for i, d in enumerate(DOCS)) + "\n")
    counter = ReadCounter()
    assert [t for t, _ in Corpus([str(path)], text_field="body").pieces(counter=counter)] == DOCS
    assert counter.bytes == path.stat().st_size
    with pytest.raises(SourceError, match=r"docs.jsonl line 1: no field 'text' \(fields: id, body\).*--text-field"):
        docs_of(Corpus([str(path)]))
    path.write_text('{"text": "ok"}\n{"text": 3}\n')
    with pytest.raises(SourceError, match="line 2: field 'text' is int, not text"):
        docs_of(Corpus([str(path)]))
    path.write_text('{"text": "ok"}\n["text"]\n')
    with pytest.raises(SourceError, match="line 2: expected a JSON object, got list"):
        docs_of(Corpus([str(path)]))
    path.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(SourceError, match="line 2: not valid JSON"):
        docs_of(Corpus([str(path)]))


def test_parquet(tmp_path):
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"text": DOCS * 700, "n": list(range(2100))}), path, row_group_size=500)
    counter = ReadCounter()
    assert [t for t, _ in Corpus([str(path)]).pieces(counter=counter)] == DOCS * 700
    assert counter.bytes == pytest.approx(path.stat().st_size, rel=0.01)
    with pytest.raises(SourceError, match=r"no column 'body' \(columns: text, n\)"):
        docs_of(Corpus([str(path)], text_field="body"))
    with pytest.raises(SourceError, match="column 'n' holds int64, not text"):
        docs_of(Corpus([str(path)], text_field="n"))
    pq.write_table(pa.table({"text": ["a", None]}), path)
    with pytest.raises(SourceError, match="docs.parquet row 1: column 'text' is null"):
        docs_of(Corpus([str(path)]))
    path.write_bytes(b"not parquet at all")
    with pytest.raises(SourceError, match="docs.parquet: not a readable Parquet file"):
        docs_of(Corpus([str(path)]))


def test_hf_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"content": DOCS, "n": [1, 2, 3]}).save_to_disk(str(saved))
    assert docs_of(Corpus([f"hf:{saved}"], text_field="content")) == DOCS
    split = tmp_path / "split"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": DOCS}),
                          "test": datasets.Dataset.from_dict({"text": ["held out"]})}).save_to_disk(str(split))
    assert docs_of(Corpus([f"hf:{split}?split=test"])) == ["held out"]
    with pytest.raises(SourceError, match="no split 'valid' .splits: train, test"):
        docs_of(Corpus([f"hf:{split}?split=valid"]))
    with pytest.raises(SourceError, match="no column 'text' .columns: content, n"):
        docs_of(Corpus([f"hf:{saved}"]))
    # load_dataset arguments, streamed
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps({"text": d}) + "\n" for d in DOCS))
    assert docs_of(Corpus([f"hf:json?data_files={jsonl}"])) == DOCS
    with pytest.raises(SourceError, match="cannot load the dataset"):
        docs_of(Corpus([f"hf:json?data_files={tmp_path / 'missing.jsonl'}"]))


def test_bad_separator_and_errors_policy():
    with pytest.raises(SourceError, match="separator is empty"):
        separator_regex("")
    assert separator_regex("<doc>").pattern == regex.escape("<doc>")
    with pytest.raises(SourceError, match="errors must be 'strict' or 'replace'"):
        Corpus(["x"], errors="ignore")


@pytest.mark.parametrize("name", ["gpt2", "gpt4"])
def test_paragraphs_between_blank_lines_come_in_pieces_that_encode_as_the_whole(tmp_path, name):
    """No "x\\nY" in the text: the tokenizer's own cut rule still hands it on in pieces, and their ids are the
    whole text's (where ANY_PATTERN_CUTS, the rule for any pattern, would hold the document whole)."""
    tokenizer = minbpe.get_tokenizer(name)
    text = "".join(f"Paragraph {i} says something, then stops.\n\n" for i in range(3 * BLOCK_CHARS // 40))
    (tmp_path / "paragraphs.txt").write_text(text)
    corpus = Corpus([str(tmp_path / "paragraphs.txt")])
    assert len(list(corpus.pieces(ANY_PATTERN_CUTS))) == 1
    pieces = [piece for piece, _ in corpus.pieces(piece_cuts(tokenizer))]
    assert len(pieces) >= 3 and "".join(pieces) == text
    assert [i for piece in pieces for i in tokenizer.encode_ordinary(piece)] == tokenizer.encode_ordinary(text)
