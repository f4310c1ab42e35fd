"""The CLI: commands that work end to end, and bad input that ends in one clear error line."""

import pytest
from click.testing import CliRunner

from cli import main
from conftest import ROOT

TAYLOR = str(ROOT / "data" / "taylorswift.txt")


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def error_line(result) -> str:
    """The one error line a failed command printed (progress bars may come before it)."""
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ") and not any(line.startswith("Error") for line in lines[:-1])
    return lines[-1]


def test_help_lists_commands_with_examples():
    out = run("--help").output
    for command in ("train-tokenizer", "encode", "decode"):
        assert command in out
        assert "Example" in run(command, "--help").output


def test_train_encode_decode_round_trip(tmp_path):
    prefix = str(tmp_path / "tok")
    result = run("train-tokenizer", "--input", TAYLOR, "--vocab-size", "300", "--output", prefix,
                 "--special", "<|endoftext|>", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "learned 43 merges" in result.output and "bytes/token on the input" in result.output
    assert "(300 tokens)" in result.output
    ids = run("encode", "--tokenizer", prefix + ".model", "--allowed-special", "all", "Taylor Swift<|endoftext|>")
    assert ids.exit_code == 0
    numbers = ids.output.split()
    assert numbers[-1] == "299"
    text = run("decode", "--tokenizer", prefix + ".model", *numbers)
    assert text.output == "Taylor Swift<|endoftext|>\n"


def test_basic_type_and_input_file(tmp_path):
    prefix = str(tmp_path / "b")
    assert run("train-tokenizer", "--input", TAYLOR, "--vocab-size", "260", "--output", prefix,
               "--type", "basic").exit_code == 0
    sample = tmp_path / "s.txt"
    sample.write_text("hello", encoding="utf-8")
    out = run("encode", "--tokenizer", prefix + ".model", "--input", str(sample)).output.split()
    assert run("decode", "--tokenizer", prefix + ".model", ",".join(out)).output == "hello\n"


def test_missing_input_file(tmp_path):
    line = error_line(run("train-tokenizer", "--input", str(tmp_path / "nope.txt"), "--vocab-size", "300",
                          "--output", str(tmp_path / "t")))
    assert "nope.txt" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size, specials, expected", [
    ("255", [], "needs at least 256 byte tokens"),
    ("256", ["--special", "<|eot|>"], "256 byte tokens + 1 special tokens"),
])
def test_vocab_size_too_small(tmp_path, size, specials, expected):
    line = error_line(run("train-tokenizer", "--input", TAYLOR, "--vocab-size", size, "--output",
                          str(tmp_path / "t"), *specials))
    assert expected in line


def test_non_utf8_input_names_file_and_offset(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello world\n" * 100 + b"caf\xe9 au lait\n")
    prefix = str(tmp_path / "t")
    line = error_line(run("train-tokenizer", "--input", str(bad), "--vocab-size", "300", "--output", prefix))
    assert "bad.txt: invalid UTF-8 at byte offset 1203" in line and "--errors replace" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]  # nothing half-written
    ok = run("train-tokenizer", "--input", str(bad), "--vocab-size", "300", "--output", prefix, "--errors", "replace")
    assert ok.exit_code == 0
    assert "offset 1203" in error_line(run("encode", "--tokenizer", prefix + ".model", "--input", str(bad)))


def test_corrupt_model_and_bad_ids(tmp_path):
    model = tmp_path / "x.model"
    model.write_text("minbpe v1\n\n0\n97 98\n1 2 3\n", encoding="utf-8")
    assert "x.model line 5" in error_line(run("encode", "--tokenizer", str(model), "hi"))
    model.write_text("minbpe v1\n\n0\n97 98\n", encoding="utf-8")
    assert "unknown token id 9999" in error_line(run("decode", "--tokenizer", str(model), "97", "9999"))
    assert "'x1' is not a token id" in error_line(run("decode", "--tokenizer", str(model), "x1"))
    assert "TEXT or --input" in error_line(run("encode", "--tokenizer", str(model)))


def test_special_token_in_text_needs_permission(tmp_path):
    prefix = str(tmp_path / "t")
    run("train-tokenizer", "--input", TAYLOR, "--vocab-size", "260", "--output", prefix, "--special", "<|eot|>")
    line = error_line(run("encode", "--tokenizer", prefix + ".model", "a<|eot|>"))
    assert "special token '<|eot|>'" in line
    ids = run("encode", "--tokenizer", prefix + ".model", "--allowed-special", "<|eot|>", "a<|eot|>").output.split()
    assert ids == ["97", "259"]
