"""gptkit_base.texts: in a clone, the bundled texts are the clone's data/ files (installed: tests/test_packaging.py)."""

from conftest import ROOT
from gptkit_base import texts


def test_a_clone_finds_its_own_data_folder():
    assert texts.DIR == ROOT / "data"
    assert [texts.NAMES.name, texts.TINYSHAKESPEARE.name, texts.TAYLORSWIFT.name] == [
        "names.txt", "tinyshakespeare.txt", "taylorswift.txt"]
    assert all(path.is_file() for path in (texts.NAMES, texts.TINYSHAKESPEARE, texts.TAYLORSWIFT))
    assert texts.NAMES.read_text(encoding="utf-8").split("\n", 1)[0] == "emma"  # makemore's first name
