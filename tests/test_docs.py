"""The docs run: every shell and Python block of README.md and docs/*.md runs as a user types it, or says why not.

A fence's language says what a block is: none, `bash`, `sh` or `console` is shell (in `console` only the
`$ ` lines and their continuations are commands; the other lines show what they print), `python` is
Python, and `text` is what a command prints or a file holds, never run. A shell or Python block runs
unless the line before its fence is `<!-- not run: REASON -->`; a block that is neither, or a fence of
another language, fails test_every_block_runs_or_says_why_not.

test_page_runs[PAGE] runs a page's blocks in order in one temporary directory laid out like a clone
(a copy of data/, and cli.py and benchmarks/), so a later command sees what an earlier one wrote: shell
blocks with `bash -e -o pipefail`, each Python block in a fresh interpreter (a block stands on its own).
Each command is a process of its own, so the pages need no core of the test process: they run from the
session's start, beside the other tests (conftest's Background), and a test here waits on its page's run.
The files an example takes as the reader's own (`notes.txt`, `corpus/`, `mytok.model`, ...) are made by
USER_FILES when a page's blocks name them. Commands run with one torch thread (OMP_NUM_THREADS=1), as the
other tests train their tiny models: two threads spin against each other on a busy machine (a 20-step
`train-gpt` took 37 s with two and 3 s with one beside other jobs).

Where a command as written would run for minutes, SHRINK lists it, exactly as the page writes it, with
the flags the test adds at its end (the last value of a flag wins): `--max-iters 20` for a training run,
say. Every other command runs exactly as written, and an entry whose command is no longer in its page
fails, so the table cannot go stale. A renamed flag, a missing file or a failing example is a failure
that names the page and the line of the block.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, TINYSHAKESPEARE, Background

pytestmark = pytest.mark.docs

PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
SHELL = {"", "bash", "sh", "console"}
PYTHON = {"python"}
SHOWN = {"text"}  # output and file contents
FENCE = re.compile(r"^\s*```(\S*)\s*$")
NOT_RUN = re.compile(r"<!-- not run: (\S.*?) -->")
LAYOUT = ("cli.py", "benchmarks")  # linked into a page's directory beside a copy of data/

# page -> {command as the page writes it (its comment left out): flags added at its end}
SHRINK = {
    "README.md": {
        "gptkit train-gpt --data out/shakespeare --preset shakespeare-char-cpu --max-iters 500 --out out/quick":
            "--max-iters 20 --eval-interval 10",
        "gptkit baselines": "--models bigram-counts",
    },
    "docs/char-level.md": {
        "gptkit train-char --model mlp --plots": "--max-steps 300",
        # one narrow layer: evaluating every split of 32,033 names, here and in the ensemble, was most of the time
        "gptkit train-char --model gpt": "--max-steps 30 --eval-interval 15 --n-layer 1 --n-embd 32",
        "gptkit train-char --model gpt --input mydata.txt --out out/char/mine":
            "--max-steps 30 --eval-interval 15 --n-layer 1 --n-embd 32",
        "gptkit train-char --model mlp --stream --input data/tinyshakespeare.txt --block-size 8 --out out/char/stream":
            "--max-steps 300",
        "gptkit baselines": "--models bigram-counts",
    },
    "docs/data.md": {
        'gptkit prepare --input "hf:json?data_files=web.jsonl" --tokenizer gpt4 --output out/web --workers 8':
            "--workers 2",
    },
    "docs/training.md": {
        "gptkit train-gpt": "--max-iters 20",
        # GPT-2's 50,257-wide output layer makes each step costly: few steps of small batches (resume keeps them)
        "gptkit train-gpt --input notes.txt --tokenizer gpt2 --max-iters 500 --out out/notes":
            "--max-iters 3 --eval-iters 1 --batch-size 2",
        "gptkit train-gpt --out out/notes --resume --max-iters 1000": "--max-iters 5 --eval-iters 1",
    },
    "docs/benchmarks.md": {
        "python benchmarks/make_corpus.py --out bench": "--prose-mb 1 --code-mb 1",
    },
}


def _text(path: Path) -> None:
    path.write_text(TINYSHAKESPEARE.read_text(encoding="utf-8")[:200_000], encoding="utf-8")


def _corpus(path: Path) -> None:
    path.mkdir()
    shutil.copy(ROOT / "data" / "taylorswift.txt", path / "taylorswift.txt")
    _text(path / "shakespeare.txt")


def _jsonl(path: Path) -> None:
    paragraphs = TINYSHAKESPEARE.read_text(encoding="utf-8")[:100_000].split("\n\n")
    path.write_text("".join(json.dumps({"text": p}) + "\n" for p in paragraphs), encoding="utf-8")


def _examples(path: Path) -> None:
    """One example per line: the words of Tiny Shakespeare."""
    words = sorted(set(re.findall(r"[a-z]+", TINYSHAKESPEARE.read_text(encoding="utf-8").lower())))
    path.write_text("\n".join(words) + "\n", encoding="utf-8")


def _tokenizer(path: Path) -> None:
    """A small BPE tokenizer with <|endoftext|>, prepare's default delimiter."""
    from minbpe import RegexTokenizer

    tok = RegexTokenizer()
    tok.train_from_files([str(ROOT / "data" / "taylorswift.txt")], vocab_size=300)
    tok.register_special_tokens({"<|endoftext|>": 300})
    tok.save(str(path.with_suffix("")))


# the reader's own files in the examples, made where a page's blocks name them
USER_FILES: dict[str, Callable[[Path], None]] = {
    "notes.txt": _text,
    "corpus/": _corpus,
    "extra.jsonl": _jsonl,
    "web.jsonl": _jsonl,
    "mydata.txt": _examples,
    "mytok.model": _tokenizer,
}


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence
    lang: str
    body: str
    not_run: str | None  # the reason, when the page says it is not run

    @property
    def runs(self) -> bool:
        return self.lang in SHELL | PYTHON and self.not_run is None

    def commands(self) -> list[str]:
        """A shell block's commands, one per line (continued lines joined); a console block's `$ ` lines only."""
        commands: list[str] = []
        continued = False
        for line in self.body.splitlines():
            if continued:
                commands[-1] = commands[-1][:-1].rstrip() + " " + line.strip()
            elif self.lang != "console" or line.startswith("$ "):
                commands.append(line.removeprefix("$ ") if self.lang == "console" else line)
            else:
                continue
            continued = line.endswith("\\")
        return commands


def blocks(page: str) -> list[Block]:
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```")), None)
        assert end is not None, f"{page}:{i + 1}: a fence that is never closed"
        mark = NOT_RUN.fullmatch(lines[i - 1].strip()) if i else None
        found.append(Block(page, i + 1, fence.group(1), "\n".join(lines[i + 1:end]), mark and mark.group(1)))
        i = end + 1
    return found


def names(text: str, file: str) -> bool:
    """Whether the text names the file as a path of its own (`mytok.model`, not `out/mytok.model`)."""
    return re.search(rf"(?<![\w/.]){re.escape(file)}", text) is not None


def words(command: str) -> list[str] | None:
    """A command's words as the shell reads them, its comment left out (None where shlex cannot read it)."""
    try:
        return shlex.split(command, comments=True)
    except ValueError:
        return None


def shrunk(page: str, command: str) -> str:
    """The command with SHRINK's flags added when the page lists it, else as written."""
    for listed, flags in SHRINK.get(page, {}).items():
        if words(command) == shlex.split(listed):
            return shlex.join([*shlex.split(listed), *shlex.split(flags)])
    return command


def test_every_block_runs_or_says_why_not():
    """Every fence is shell, Python or text, and a `not run` mark, with its reason, stands right before its block
    (a mark anywhere else would leave the block it meant running, or mark nothing)."""
    for page in PAGES:
        marks = {block.line - 1 for block in blocks(page) if block.not_run}
        for n, line in enumerate((ROOT / page).read_text(encoding="utf-8").splitlines(), 1):
            assert "<!-- not run" not in line or n in marks, (
                f"{page}:{n}: a `<!-- not run: REASON -->` mark must be the line right before a shell or Python fence")
        for block in blocks(page):
            where = f"{page}:{block.line}"
            assert block.lang in SHELL | PYTHON | SHOWN, (
                f"{where}: a ```{block.lang} block; shell is ``` ```bash ```sh ```console, Python ```python, "
                "and what a command prints ```text")
            assert block.lang not in SHOWN or block.not_run is None, f"{where}: a ```text block is never run"


def test_the_shrink_table_and_user_files_are_used():
    """Each SHRINK entry is a command its page runs, and each of USER_FILES is named by a block that runs."""
    for page, table in SHRINK.items():
        run = [words(c) for b in blocks(page) if b.runs and b.lang in SHELL for c in b.commands()]
        for listed in table:
            assert shlex.split(listed) in run, f"SHRINK: {page} runs no command `{listed}` any more"
    for name in USER_FILES:
        assert any(names(b.body, name) for page in PAGES for b in blocks(page) if b.runs), (
            f"USER_FILES: no block that runs names {name}")


def test_the_readme_set_up_is_what_ci_runs():
    """The README's set-up block is not run here: .ci/run runs each of its lines, as written, in a fresh venv."""
    set_up = next(b for b in blocks("README.md") if "pip install" in b.body and "pytest" in b.body)
    assert set_up.not_run
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for command in set_up.commands():
        assert command in ci, f".ci/run does not run the README's `{command}`"


def run_block(block: Block, directory: Path, scripts: Path, env: dict[str, str], background: Background) -> None:
    if block.lang in PYTHON:
        script = scripts / f"{Path(block.page).stem}-{block.line}.py"
        script.write_text(block.body + "\n", encoding="utf-8")
        argv = [sys.executable, str(script)]
        shown = block.body
    else:
        shown = "\n".join(shrunk(block.page, c) for c in block.commands())
        argv = ["bash", "-e", "-o", "pipefail", "-c", shown]
    # a limit far above any block's time, so a hung command fails instead of holding the suite
    done = background.run(argv, 600, cwd=directory, env=env)
    assert done.returncode == 0, (f"{block.page}:{block.line}: the block failed (exit {done.returncode}):\n{shown}\n"
                                  f"--- stdout (end)\n{done.stdout[-3000:]}\n--- stderr (end)\n{done.stderr[-3000:]}")


def run_page(page: str, tmp_path: Path, background: Background) -> None:
    directory = tmp_path / "clone"
    directory.mkdir()
    shutil.copytree(ROOT / "data", directory / "data")
    for name in LAYOUT:
        (directory / name).symlink_to(ROOT / name)
    page_blocks = [b for b in blocks(page) if b.runs]
    for name, make in USER_FILES.items():
        if any(names(b.body, name) for b in page_blocks):
            make(directory / name.rstrip("/"))
    scripts = tmp_path / "blocks"
    scripts.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    for block in page_blocks:
        run_block(block, directory, scripts, env, background)


def start_in_background(background: Background, items: list[pytest.Item],
                        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The selected pages' runs, from the session's start (conftest's Background)."""
    for item in items:
        if item.originalname == "test_page_runs":
            page = item.callspec.params["page"]
            background.submit(("docs", page), run_page, page, tmp_path_factory.mktemp(Path(page).stem), background)


@pytest.mark.parametrize("page", [p for p in PAGES if any(b.runs for b in blocks(p))])
def test_page_runs(page, background):
    background.result(("docs", page))
