"""What a person reads of a data directory: PrepareResult.summary / notes (prepare), Manifest.summary (inspect).

The corpus is three one-line documents, tokenized by gpt2 into shards of 4 tokens;
with val_fraction 0.5 and seed 1337 the third document ("on the mat") is val.
"""

from dataclasses import replace

import pytest

from pipeline.prepare import PrepareConfig, prepare

TRAIN = "train: 7 tokens, 2 documents, 2 shards, 3.143 bytes/token"  # 2 delimiters + 5 tokens of 22 bytes
VAL = "val: 4 tokens, 1 document, 1 shard, 2.500 bytes/token"  # a delimiter + "on", " the", " mat"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("summary") / "c.txt"
    path.write_text("hello world\nthe cat sat\non the mat\n")
    return path


def run(corpus, name: str, val_fraction: float = 0.5):
    out = corpus.parent / name
    config = PrepareConfig([str(corpus)], str(out), "gpt2", doc_separator="line", val_fraction=val_fraction,
                           shard_tokens=4, command="gptkit prepare --input c.txt")
    return out, config, prepare(config)


def test_prepare_summary_and_notes(corpus):
    out, config, result = run(corpus, "out")
    result = replace(result, seconds=2.0)
    assert result.summary() == [
        f"prepared {out} in 2.00 s: 0.0 MB of text in 3 documents, 0.0 MB/s",
        TRAIN,
        VAL,
    ]
    assert result.notes() == []
    resumed = replace(result, resumed_shards=2)  # a resumed run's speed would mislead: none is given
    assert resumed.summary() == [
        f"prepared {out} in 2.00 s: 0.0 MB of text in 3 documents",
        "resumed an interrupted run: kept its 2 completed shards",
        TRAIN,
        VAL,
    ]
    assert replace(result, started_over="the files did not match").notes() == ["the files did not match"]
    again = prepare(config)
    assert again.up_to_date
    assert again.summary() == [f"{out} is already prepared with these settings; nothing to do", TRAIN, VAL]


def test_one_of_a_thing_is_singular(corpus):
    one = corpus.parent / "one.txt"
    one.write_text("hello world\n")
    config = PrepareConfig([str(one)], str(corpus.parent / "one"), "gpt2", shard_tokens=4096)
    result = replace(prepare(config), seconds=2.0, resumed_shards=1)
    assert result.summary() == [
        f"prepared {corpus.parent / 'one'} in 2.00 s: 0.0 MB of text in 1 document",  # its last tokens are val
        "resumed an interrupted run: kept its 1 completed shard",
        "train: 3 tokens, 1 document, 1 shard, 3.667 bytes/token",  # a delimiter, "hello", " world" | "\n"
        "val: 1 token, 0 documents, 1 shard, 1.000 bytes/token",
    ]


def test_a_note_when_no_document_was_drawn_for_val(corpus):
    _, _, result = run(corpus, "none-drawn", val_fraction=0.01)
    assert result.summary()[1:] == [
        "train: 11 tokens, 3 documents, 3 shards, 2.909 bytes/token",
        "val: 0 tokens, 0 documents, 0 shards",
    ]
    assert result.notes() == ["no document was drawn for validation; raise --val-fraction to get some"]


def test_manifest_summary(corpus):
    _, _, result = run(corpus, "inspected")
    manifest = replace(result.manifest, created="2025-01-01T00:00:00+00:00", gptkit_version="0.1.0")
    assert manifest.summary("data/c") == [
        "data/c: gptkit token shards (format 1), gptkit 0.1.0, created 2025-01-01T00:00:00+00:00",
        "tokenizer: gpt2, 50,257 tokens; tokens stored as uint16; document delimiter <|endoftext|> (id 50256)",
        "validation: documents drawn with probability 0.5 (seed 1337)",
        f"source: {corpus} (text, 35 bytes)",
        TRAIN,
        VAL,
        "command: gptkit prepare --input c.txt",
    ]
    other = replace(manifest, delimiter=None, val={"method": "last-tokens", "fraction": 0.1}, command=None,
                    sources=[{"input": "hf:names", "kind": "hf", "dataset": "names"}])
    assert other.summary("d")[1:4] == [
        "tokenizer: gpt2, 50,257 tokens; tokens stored as uint16; document delimiter none",
        "validation: the last 0.1 of the tokens of the one document",
        "source: names (hf)",
    ]
    assert other.summary("d")[-1] == VAL  # no command line
    first_shard = replace(manifest, val={"method": "first-shard", "tokens": 4})
    assert first_shard.summary("d")[2] == "validation: the first shard (4 tokens)"
