import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def taylorswift() -> str:
    return (ROOT / "data" / "taylorswift.txt").read_text(encoding="utf-8")


def shared_file(name: str) -> Path:
    """A file from ../shared/data, or a skip that says it is missing."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data folder is not beside this checkout)")
    return path

