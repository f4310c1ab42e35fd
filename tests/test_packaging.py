"""A wheel, not the clone: `pip install .` into a fresh environment, then the no-argument demos from elsewhere.

The venv sees the packages of the interpreter running the tests (torch, tiktoken...) so nothing is
downloaded, but gptkit itself comes only from the wheel: the bundled texts must be package data and the
commands must not reach for files beside cli.py in a clone.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import site
import subprocess
import sys
import urllib.request
import venv
from pathlib import Path

import pytest

from conftest import ROOT, Background


def install_wheel(work: Path, background: Background) -> Path:
    """A fresh venv in work/venv with gptkit installed from a wheel of this clone: the venv."""
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    see_outer_packages(python)
    # build from a copy: setuptools writes build/ and *.egg-info beside the sources, and a stale build/lib
    # in the clone would slip removed modules into the wheel
    source = work / "source" / "gptkit"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "out", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"))
    build = work / "build"
    build.mkdir()
    pip(background, build, "wheel", "--no-deps", "-q", "-w", str(build), str(source))
    wheel = next(build.glob("gptkit-*.whl"))
    pip(background, build, "--python", str(python), "install", "--no-deps", "-q", str(wheel))
    return env_dir


def pip(background: Background, cwd: Path, *args: str) -> None:
    argv = [sys.executable, "-m", "pip", *args]
    done = background.run(argv, 300, cwd=cwd)
    assert done.returncode == 0, f"{shlex.join(argv)}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"


def start_in_background(background: Background, items: list[pytest.Item],
                        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The wheel is built and installed by processes of their own: beside the other tests (conftest's Background)."""
    if any("installed" in item.fixturenames for item in items):
        background.submit("wheel", install_wheel, tmp_path_factory.mktemp("wheel"), background)


@pytest.fixture(scope="module")
def installed(background) -> Path:
    return background.result("wheel")


def see_outer_packages(python: Path) -> None:
    """Put this interpreter's site-packages on the venv's path, after its own.

    A venv's system_site_packages are its *base* interpreter's, which do not hold what a user installed
    into their own venv (torch...). A .pth file of plain paths adds the directories without running their
    own .pth files, so an editable install of this clone there (a .pth or an import hook) stays out.
    """
    outer = site.getsitepackages() + ([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])
    inner = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    Path(inner, "outer-site-packages.pth").write_text("".join(f"{p}\n" for p in outer if Path(p).is_dir()))


def run(env_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(env_dir / "bin" / "gptkit"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=environment)


def test_the_wheel_holds_the_data_and_type_markers(installed):
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c",
         "import cli, gptkit_data, minbpe, gpt.char, pipeline; from gptkit_base.texts import NAMES; "
         "print(cli.__file__); print(NAMES); print(NAMES.stat().st_size)"],
        cwd=installed, capture_output=True, text=True, check=True).stdout.split()
    assert str(installed) in where[0]  # the wheel's cli, not the clone's
    site = Path(where[0]).parent
    assert Path(where[1]) == site / "gptkit_data" / "names.txt"  # the installed package data, not a clone's
    assert int(where[2]) == (ROOT / "data" / "names.txt").stat().st_size
    for package in ("gptkit_base", "minbpe", "gpt", "pipeline", "playground", "gptkit"):
        assert (site / package / "py.typed").is_file()


def test_python_m_gptkit_is_the_installed_command(installed, tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    module = subprocess.run([str(installed / "bin" / "python"), "-m", "gptkit", "--version"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env=environment)
    script = run(installed, tmp_path, "--version")
    assert module.returncode == 0, module.stderr
    assert module.stdout == script.stdout == "gptkit, version 0.1.0\n"


@pytest.fixture(scope="module")
def bare_clone(tmp_path_factory) -> tuple[Path, Path]:
    """A copy of the clone that was never installed, and a python that sees the dependencies but no gptkit:
    (its python, the copy)."""
    env_dir = tmp_path_factory.mktemp("bare-venv")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    see_outer_packages(python)
    clone = tmp_path_factory.mktemp("clone") / "gptkit"
    shutil.copytree(ROOT, clone, ignore=shutil.ignore_patterns(
        ".git", "build", "out", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".venv*"))
    return python, clone


def run_bare(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(python), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=environment)


def test_cli_py_runs_in_a_clone_that_was_never_installed(bare_clone, tmp_path):
    """`python cli.py` in a fresh clone: the bundled texts come from its data/ folder (no gptkit_data there)."""
    python, clone = bare_clone
    hidden = run_bare(python, tmp_path, "-c", "import gptkit_data")
    assert "No module named 'gptkit_data'" in hidden.stderr  # no installed gptkit to lean on
    helped = run_bare(python, clone, "cli.py", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "train-char" in helped.stdout
    module = run_bare(python, clone, "-m", "gptkit", "--help")
    assert module.returncode == 0, module.stderr
    assert helped.stdout.startswith("Usage: cli.py ") and module.stdout.startswith("Usage: gptkit ")
    assert module.stdout.splitlines()[1:] == helped.stdout.splitlines()[1:]
    # from another directory, with the bundled names as the default input
    done = run_bare(python, tmp_path, str(clone / "cli.py"), "train-char", "--model", "bigram-counts", "--split",
                    "none", "--num-samples", "3", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    nll = float(next(line for line in done.stdout.splitlines() if line.startswith("nll ")).split()[1])
    assert nll == pytest.approx(2.4544, abs=1e-3)  # all of names.txt, as from the wheel


def test_char_demo_runs_from_another_directory(installed, tmp_path):
    done = run(installed, tmp_path, "train-char", "--model", "bigram-counts", "--split", "none", "--num-samples", "3")
    assert done.returncode == 0, done.stderr
    nll = float(next(line for line in done.stdout.splitlines() if line.startswith("nll ")).split()[1])
    assert nll == pytest.approx(2.4544, abs=1e-3)  # the lecture's figure for (N+1) smoothing on all of names.txt


def test_gpt_demo_runs_from_another_directory(installed, tmp_path):
    done = run(installed, tmp_path, "train-gpt", "--max-iters", "20", "--eval-interval", "10", "--samples", "0")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "shakespeare-char-cpu" / "latest.pt").is_file()
    assert "trained 20 steps" in done.stdout


def test_the_playground_serves_its_page_from_the_wheel(installed, tmp_path):
    """`gptkit serve` from the installed package: the page and its script come from the wheel's static files."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    server = subprocess.Popen([str(installed / "bin" / "gptkit"), "serve", "--port", "0"], cwd=tmp_path,
                              stderr=subprocess.PIPE, text=True, env=environment)
    try:
        line = server.stderr.readline()
        address = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert address, line
        page = urllib.request.urlopen(address.group(1), timeout=30).read().decode()
        script = urllib.request.urlopen(address.group(1) + "static/app.js", timeout=30).read()
        runs = json.loads(urllib.request.urlopen(address.group(1) + "api/runs", timeout=30).read())
    finally:
        server.terminate()
        server.wait(10)
    assert '<script src="/static/app.js">' in page
    assert script == (ROOT / "playground" / "static" / "app.js").read_bytes()
    assert runs == {"root": "out", "runs": []}


def test_pytest_q_prints_its_summary_line():
    """The project's pytest settings add no -q of their own: `pytest -q` (two q's in all) printed no summary."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_imports.py::test_the_checks_see_a_circle_and_a_layer_breach"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("1 passed in ")
