"""The CLI: commands that work end to end, and bad input that ends in one clear error line."""

import re

import pytest
import tiktoken
import torch
from click.testing import CliRunner

import minbpe
from cli import main
from conftest import ROOT
from gptkit import data_commands, gpt_commands
from pipeline.prepare import PrepareConfig, Progress

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
    for command in ("train-tokenizer", "encode", "decode", "compare"):
        assert command in out
        assert "Example" in run(command, "--help").output


def test_setting_flags_are_the_settings():
    """train-gpt's, train-char's and prepare's settings as flags: named after the setting, typed, with help;
    prepare shows its defaults, the trainers none (a flag not given leaves the preset's or the model's value)."""

    def help_of(command: str) -> str:
        result = CliRunner().invoke(main, [command, "--help"], terminal_width=200, max_content_width=200)
        return " ".join(result.output.split())  # one line: wrapped words rejoined

    train_gpt = help_of("train-gpt")
    assert "--n-layer INTEGER Transformer blocks. --n-head INTEGER" in train_gpt
    assert "--lr-decay-iters INTEGER Step where the cosine ends." in train_gpt
    assert "--dtype [auto|float32|bfloat16|float16] auto: bf16" in train_gpt
    assert "--lr FLOAT Peak learning rate. --min-lr" in train_gpt  # no [default: ...]: the preset decides
    train_char = help_of("train-char")
    assert "--ema FLOAT Keep, evaluate and save the moving average of the weights with this decay (0 = off)." \
        in train_char
    prepare = help_of("prepare")
    assert "--shard-tokens INTEGER Tokens per shard. [default: 100000000]" in prepare
    assert "--val-first-shard Validate on the first shard instead (llm.c's convention). --seed" in prepare
    assert "The special token put before each document; 'none' to put none. [default: <|endoftext|>]" in prepare
    refused = CliRunner().invoke(main, ["train-gpt", "--dtype", "float64"])
    assert refused.exit_code == 2 and "'float64' is not one of" in refused.output


def test_version_is_the_packages(monkeypatch):
    """--version: the installed package's version, or in a clone never installed (python cli.py) pyproject.toml's."""
    from importlib.metadata import PackageNotFoundError

    from pipeline import manifest

    declared = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert run("--version").output == f"gptkit, version {declared}\n"

    def not_installed(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(manifest, "version", not_installed)
    assert manifest.gptkit_version() == declared


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


def test_an_existing_tokenizer_is_replaced_only_with_overwrite(tmp_path):
    prefix = str(tmp_path / "tok")
    assert run("train-tokenizer", "--input", TAYLOR, "--vocab-size", "300", "--output", prefix,
               "--special", "<|endoftext|>", "--workers", "1").exit_code == 0
    before = {name: (tmp_path / name).read_bytes() for name in ("tok.model", "tok.vocab")}
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    line = error_line(run("train-tokenizer", "--input", str(empty), "--vocab-size", "300", "--output", prefix))
    assert line == f"Error: {prefix}.model already exists: give another --output, or --overwrite to replace it"
    assert {name: (tmp_path / name).read_bytes() for name in before} == before  # the special token is still there
    replaced = run("train-tokenizer", "--input", str(empty), "--vocab-size", "300", "--output", prefix, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert minbpe.load(prefix + ".model").special_tokens == {}


def test_missing_input_file(tmp_path):
    line = error_line(run("train-tokenizer", "--input", str(tmp_path / "nope.txt"), "--vocab-size", "300",
                          "--output", str(tmp_path / "t")))
    assert "nope.txt" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size, specials, expected", [
    ("255", [], "needs at least 256 byte tokens"),
    ("256", ["--special", "<|eot|>"], "256 byte tokens + 1 special token"),
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
    # the advice is one the command takes
    replaced = run("encode", "--tokenizer", "gpt2", "--input", str(bad), "--errors", "replace")
    assert replaced.exit_code == 0
    ids = [int(i) for i in replaced.output.split()]
    assert minbpe.get_tokenizer("gpt2").decode(ids).endswith("caf\ufffd au lait\n")
    compared = run("compare", "--tokenizer", "gpt2", "--encoding", "gpt2", "--input", str(bad), "--errors", "replace")
    assert compared.exit_code == 0, compared.output


def test_corrupt_model_and_bad_ids(tmp_path):
    model = tmp_path / "x.model"
    model.write_text("minbpe v1\n\n0\n97 98\n1 2 3\n", encoding="utf-8")
    assert "x.model line 5" in error_line(run("encode", "--tokenizer", str(model), "hi"))
    model.write_text("minbpe v1\n\n0\n97 98\n", encoding="utf-8")
    assert "unknown token id 9999" in error_line(run("decode", "--tokenizer", str(model), "97", "9999"))
    model.write_text("minbpe v1\n\n1\n<|end|> 349\n97 98\n", encoding="utf-8")  # ids 0..256, then 349
    assert error_line(run("decode", "--tokenizer", str(model), "300")) == (
        "Error: unknown token id 300: this tokenizer has ids 0..256 and the special tokens' [349]")
    assert "'x1' is not a token id" in error_line(run("decode", "--tokenizer", str(model), "x1"))
    assert "'²' is not a token id" in error_line(run("decode", "--tokenizer", str(model), "²"))  # a digit, not an id
    assert run("encode", "--tokenizer", str(model)).output == "\n"  # no argument: standard input, empty here


def test_special_token_in_text_needs_permission(tmp_path):
    prefix = str(tmp_path / "t")
    run("train-tokenizer", "--input", TAYLOR, "--vocab-size", "260", "--output", prefix, "--special", "<|eot|>")
    line = error_line(run("encode", "--tokenizer", prefix + ".model", "a<|eot|>"))
    assert "special token '<|eot|>'" in line
    ids = run("encode", "--tokenizer", prefix + ".model", "--allowed-special", "<|eot|>", "a<|eot|>").output.split()
    assert ids == ["97", "259"]


def test_pretrained_by_name():
    assert run("encode", "--tokenizer", "gpt2", "hello world").output == "31373 995\n"
    assert run("encode", "--tokenizer", "gpt4", "--backend", "python", "hello world").output == "15339 1917\n"
    assert run("decode", "--tokenizer", "gpt4", "15339", "1917").output == "hello world\n"
    assert "give gpt2 or gpt4" in error_line(run("encode", "--tokenizer", "gpt5", "hi"))


def test_encode_show_brackets_tokens_when_piped():
    result = run("encode", "--tokenizer", "gpt2", "--show", "Hello world!!\n\tDON'T 😉")
    assert result.exit_code == 0
    # a newline is shown escaped and kept; bytes of a split character are shown as \xNN
    assert result.stdout == "[Hello][ world][!!][\\n\n][\\t][DON]['][T][ \\xf0\\x9f\\x98][\\x89]\n"
    assert result.stderr == "(10 tokens, 22 characters)\n"
    assert run("encode", "--tokenizer", "gpt2", "--show", "a").stderr == "(1 token, 1 character)\n"


def test_compare_identical(tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("DON'T stop   \r\n 1234567 😉\n", encoding="utf-8")
    result = run("compare", "--tokenizer", "gpt4", "--encoding", "cl100k_base", "--input", TAYLOR,
                 "--input", str(other), "--backend", "python")
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    assert rows[0].split()[:4] == ["file", "same", "tokens", "gpt4"]
    assert rows[1].split()[:4] == [TAYLOR, "yes", "49,298", "49,298"]
    assert rows[3].split()[:2] == ["total", "yes"] and len(rows) == 4


def test_compare_shows_the_first_mismatch(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("The same words, then a difference: antidisestablishmentarianism.", encoding="utf-8")
    result = run("compare", "--tokenizer", "gpt2", "--encoding", "cl100k_base", "--input", str(text))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[1].split()[1] == "NO"
    assert lines[3].startswith(f"{text}: first mismatch at token 0 (byte 0): '' | 'The same words")
    assert lines[4].strip().startswith("gpt2, tokens 0..: 464:'The' 976:' same'")
    assert lines[5].strip().startswith("cl100k_base, tokens 0..: 791:'The' 1890:' same'")


def test_compare_mismatch_in_the_middle(tmp_path, monkeypatch):
    prefix = str(tmp_path / "bytes")
    run("train-tokenizer", "--input", TAYLOR, "--vocab-size", "256", "--output", prefix, "--workers", "1")
    ranks = {bytes([i]): i for i in range(256)} | {b"ab": 256}
    toy = tiktoken.Encoding("toy", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={})
    monkeypatch.setattr(minbpe, "get_encoding", lambda name: toy)
    text = tmp_path / "t.txt"
    text.write_text("x" * 50 + "ab" + "y" * 50, encoding="utf-8")
    result = run("compare", "--tokenizer", prefix + ".model", "--encoding", "toy", "--input", str(text))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[1].split()[1:4] == ["NO", "102", "101"]
    assert lines[3] == f"{text}: first mismatch at token 50 (byte 50): '{'x' * 40}' | 'ab{'y' * 38}'"
    assert lines[4] == f"  {prefix}.model, tokens 48..: 120:'x' 120:'x' 97:'a' 98:'b' 121:'y' 121:'y'"
    assert lines[5] == "  toy, tokens 48..: 120:'x' 120:'x' 256:'ab' 121:'y' 121:'y' 121:'y'"


def test_compare_errors(tmp_path):
    assert "no such file" in error_line(
        run("compare", "--tokenizer", "gpt2", "--encoding", "gpt2", "--input", str(tmp_path / "missing.txt"))
    ).lower()
    line = error_line(run("compare", "--tokenizer", "gpt2", "--encoding", "nope_base", "--input", TAYLOR))
    assert "unknown tiktoken encoding 'nope_base'" in line


def test_user_mistakes_end_in_one_line(tmp_path):
    """Each of these was a traceback or a wrong message once."""
    line = error_line(run("train-tokenizer", "--input", TAYLOR, "--vocab-size", "300", "--pattern", "(",
                          "--output", str(tmp_path / "tok")))
    assert line.startswith("Error: the split pattern '(' is not a valid regular expression")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty.txt").write_text("")
    line = error_line(run("train-gpt", "--input", str(tmp_path / "empty.txt"), "--out", str(tmp_path / "run")))
    assert line == f"Error: the input holds no documents ({tmp_path / 'empty.txt'} is empty)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.txt"]  # no run directory was left behind
    if not torch.cuda.is_available():
        line = error_line(run("generate", "--checkpoint", str(tmp_path / "run"), "--device", "cuda"))
        assert line == "Error: --device cuda: this machine has no CUDA GPU (or this torch has no CUDA); use cpu or auto"
    line = error_line(run("generate", "--checkpoint", str(tmp_path / "run"), "--device", "tpu"))
    assert line == "Error: unknown device 'tpu': give auto, cpu, cuda, cuda:N or mps"
    bad = CliRunner().invoke(main, ["inspect", str(tmp_path), "--tokens", "-5"])
    assert bad.exit_code == 2 and "-5 is not in the range x>=0" in bad.output


def test_each_kind_of_user_mistake_is_one_error_line(tmp_path):
    """The project's errors (a setting, a damaged file, text that is not UTF-8) and the system's (a missing file)."""
    (tmp_path / "names.txt").write_bytes(b"emma\nol\xefvia\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "latest.pt").write_bytes(b"not a checkpoint")
    mistakes = {
        ("train-tokenizer", "--input", TAYLOR, "--vocab-size", "100", "--output", str(tmp_path / "t")):
            "a vocabulary of 100 tokens is too small",
        ("encode", "--tokenizer", "gpt2", "--input", str(tmp_path / "missing.txt")): "missing.txt",
        ("train-char", "--model", "bigram-counts", "--input", str(tmp_path / "names.txt"),
         "--out", str(tmp_path / "c")): "names.txt line 2: not UTF-8 text",
        ("train-char", "--model", "bigram-nn", "--lr", "-1", "--out", str(tmp_path / "c")): "lr must be",
        ("generate", "--checkpoint", str(tmp_path / "run" / "latest.pt")): "latest.pt: not a readable checkpoint",
        ("generate", "--checkpoint", str(tmp_path / "run"), "--prompt-file", str(tmp_path / "names.txt")):
            "names.txt: not UTF-8 text",
    }
    for args, expected in mistakes.items():
        assert expected in error_line(run(*args)), args


@pytest.mark.parametrize("bug", [ValueError("a bug inside"), ZeroDivisionError("division by zero")])
def test_a_bug_is_not_dressed_as_a_user_error(monkeypatch, bug):
    """Only the project's errors and OSError become an Error: line; a plain ValueError or ZeroDivisionError from
    inside the library is a bug and propagates with its traceback."""
    import minbpe.text

    def broken(*args, **kwargs):
        raise bug

    monkeypatch.setattr(minbpe.text, "read_blocks", broken)  # what encode --input reads the file with
    with pytest.raises(type(bug), match=str(bug)):
        run("encode", "--tokenizer", "gpt2", "--input", TAYLOR)
    shown = CliRunner().invoke(main, ["encode", "--tokenizer", "gpt2", "--input", TAYLOR])
    assert shown.exception is bug and "Error:" not in shown.output


@pytest.mark.parametrize("flag, value", [("--num-samples", "0"), ("--max-new-tokens", "-1")])
def test_generate_refuses_counts_that_mean_nothing(tmp_path, flag, value):
    result = CliRunner().invoke(main, ["generate", "--checkpoint", str(tmp_path), flag, value])
    assert result.exit_code == 2 and f"Invalid value for '{flag}'" in result.output


def test_ctrl_c_exits_130_and_says_what_was_kept(tmp_path, monkeypatch):
    """On a line of its own: the progress bar is on screen when Ctrl-C comes."""
    def interrupted(config, bar):
        bar(Progress("tokenize", 1, 1, 1, 1, 10, 1.0) if isinstance(config, PrepareConfig) else
            {"event": "step", "step": 1, "train_loss": 2.0})
        raise KeyboardInterrupt

    monkeypatch.setattr(data_commands, "prepare", interrupted)
    result = CliRunner().invoke(main, ["prepare", "--input", TAYLOR, "--tokenizer", "gpt2", "--output",
                                       str(tmp_path / "d")])
    assert result.exit_code == 130 and "docs" in result.stderr  # the bar was drawn
    assert result.stderr.split("\n")[-2] == (
        f"interrupted: {tmp_path / 'd'} keeps the work done: run this again to resume")
    monkeypatch.setattr(gpt_commands, "train", interrupted)
    result = CliRunner().invoke(main, ["train-gpt", "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 130 and "loss=2.0000" in result.stderr
    assert result.stderr.split("\n")[-2].startswith("interrupted: ")
    assert result.stderr.split("\n")[-2].endswith(f"--out {tmp_path / 'run'} --resume")


def test_encode_and_decode_work_in_a_pipe():
    ids = CliRunner().invoke(main, ["encode", "--tokenizer", "gpt2"], input=b"hello world\n")
    assert ids.exit_code == 0 and ids.output.split() == ["31373", "995", "198"]
    text = CliRunner().invoke(main, ["decode", "--tokenizer", "gpt2"], input=ids.output)
    assert text.exit_code == 0 and text.output == "hello world\n\n"
    bad = CliRunner().invoke(main, ["encode", "--tokenizer", "gpt2"], input=b"caf\xe9")
    assert bad.exit_code == 1 and "standard input: invalid UTF-8 at byte offset 3" in bad.output
    ok = CliRunner().invoke(main, ["encode", "--tokenizer", "gpt2", "--errors", "replace"], input=b"caf\xe9")
    assert ok.exit_code == 0 and minbpe.get_tokenizer("gpt2").decode(map(int, ok.output.split())) == "caf\ufffd"
    both = CliRunner().invoke(main, ["encode", "--tokenizer", "gpt2", "--input", TAYLOR, "hi"])
    assert both.exit_code == 2 and "not both" in both.output
