"""cli.py prepare / inspect: a run end to end, its summary, and bad input that ends in one clear error line."""

import json

from click.testing import CliRunner
from test_cli import error_line

from cli import main
from conftest import ROOT

TAYLOR = str(ROOT / "data" / "taylorswift.txt")


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help_lists_prepare_and_inspect():
    out = run("--help").output
    for command in ("prepare", "inspect"):
        assert command in out
        assert "Example" in run(command, "--help").output


def test_prepare_then_inspect(tmp_path):
    out = str(tmp_path / "data")
    result = run("prepare", "--input", TAYLOR, "--tokenizer", "char", "--output", out, "--workers", "2",
                 "--shard-tokens", "50000", "--val-fraction", "0.1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"prepared {out} in ") and "MB/s" in lines[0] and "in 1 document," in lines[0]
    assert lines[1].startswith("train: ") and "4 shards" in lines[1] and "bytes/token" in lines[1]
    assert lines[2].startswith("val: ") and "1 shard," in lines[2]
    assert "tokenizing" in result.stderr and "docs" in result.stderr  # the progress bar
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert manifest["command"] == (f"gptkit prepare --input {TAYLOR} --tokenizer char --output {out} "
                                   "--workers 2 --shard-tokens 50000 --val-fraction 0.1")
    shown = run("inspect", out, "--tokens", "30", "--verify")
    assert shown.exit_code == 0, shown.output
    text = shown.output
    assert "tokenizer: char (sha256 " in text and "tokens stored as uint16" in text
    assert "validation: the last 0.1 of the tokens of the one document" in text
    assert "first 30 tokens of train_000000.bin:" in text
    assert text.endswith("decoded:\n<|endoftext|>Copy paste of the Wikipedia a\n")  # 30 tokens: 1 + 29 characters
    again = run("prepare", "--input", TAYLOR, "--tokenizer", "char", "--output", out, "--shard-tokens", "50000",
                "--val-fraction", "0.1")
    assert again.stdout.startswith(f"{out} is already prepared with these settings; nothing to do")


def test_errors_are_one_line(tmp_path):
    out = str(tmp_path / "data")
    assert "nope.txt: no such file or directory" in error_line(
        run("prepare", "--input", str(tmp_path / "nope.txt"), "--tokenizer", "char", "--output", out))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"abc\xff")
    assert "bad.txt: invalid UTF-8 at byte offset 3" in error_line(
        run("prepare", "--input", str(bad), "--tokenizer", "char", "--output", out))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "holds no documents" in error_line(run("prepare", "--input", str(empty), "--tokenizer", "char",
                                                  "--output", out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "empty.txt"]  # nothing half-written
    assert run("prepare", "--input", TAYLOR, "--tokenizer", "char", "--output", out).exit_code == 0
    line = error_line(run("prepare", "--input", TAYLOR, "--tokenizer", str(tmp_path / "x.model"), "--output", out))
    assert "x.model" in line
    assert "no manifest.json" in error_line(run("inspect", str(tmp_path)))
    assert "--shard must be below" in error_line(run("inspect", out, "--shard", "7"))
