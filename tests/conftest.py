import socket
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# last: benchmarks/playground.py must not shadow the playground package
sys.path.append(str(ROOT / "benchmarks"))


@pytest.fixture(scope="session")
def taylorswift() -> str:
    return (ROOT / "data" / "taylorswift.txt").read_text(encoding="utf-8")


TINYSHAKESPEARE = ROOT / "data" / "tinyshakespeare.txt"


def shakespeare_data(root: Path, n_chars: int) -> Path:
    """The GPT tests' data: Tiny Shakespeare's first n_chars in root/shakespeare.txt, prepared character-level
    into root/char with the last 10% for validation."""
    from pipeline.prepare import PrepareConfig, prepare

    text = root / "shakespeare.txt"
    text.write_text(TINYSHAKESPEARE.read_text(encoding="utf-8")[:n_chars], encoding="utf-8")
    prepare(PrepareConfig([str(text)], str(root / "char"), "char", val_fraction=0.1, delimiter=None))
    return root / "char"


def free_port() -> int:
    """A TCP port nothing listens on now, for a torchrun rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_file(name: str) -> Path:
    """The bundled tiktoken rank file (r50k_base / cl100k_base); test_tiktoken checks its sha256 is tiktoken's."""
    return ROOT / "minbpe" / "data" / f"{name}.tiktoken"


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one torch thread is faster than two (and far faster on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    """Tests marked cuda skip, with the reason, where there is no CUDA GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (where there is one: pytest -m cuda, or benchmarks/gpu_check.py)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def playground_runs(tmp_path_factory):
    """The runs the playground's tests serve (tests/playground/playground_runs.py), made once per session."""
    from playground_runs import make_runs  # tests/playground is on sys.path once a test there is collected

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return make_runs(tmp_path_factory.mktemp("playground"))
    finally:
        torch.set_num_threads(threads)
