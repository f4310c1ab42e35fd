"""The error family: every error class the library defines is a GptkitError (what the CLI prints as one line),
and keeps the built-in base that callers catching ValueError, OSError or RuntimeError relied on."""

import importlib
import inspect

import pytest

from gptkit_base.errors import GptkitError
from test_imports import project_modules

# the built-in class each error derived from before the family existed: code catching it must still catch it
BUILT_IN_BASES = {
    "ConfigError": ValueError, "NotUTF8Error": UnicodeError, "DirectoryBusy": OSError,
    "TokenizerError": ValueError, "HFTokenizerError": ValueError, "CheckpointError": ValueError,
    "HFError": ValueError, "RunExists": ValueError, "TrainingError": RuntimeError, "SourceError": ValueError,
    "PrepareError": ValueError, "ShardError": ValueError, "ResumeError": ValueError, "ManifestError": ValueError,
}
# the library's layers; the playground's exceptions are HTTP answers (status codes)
LIBRARY = ("gptkit_base", "minbpe", "pipeline", "gpt")


def library_exceptions() -> dict[str, type]:
    found = {}
    for name in project_modules():
        if name.split(".")[0] not in LIBRARY:
            continue
        module = importlib.import_module(name)
        for cls in vars(module).values():
            # a private one (_OverBudget) is control flow inside its module, caught there: it never reaches a caller;
            # a signal (gptkit_base.signals.Terminated, a KeyboardInterrupt) is a stop, not an error: not an Exception
            if inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__ == name \
                    and not cls.__name__.startswith("_"):
                found[f"{name}.{cls.__name__}"] = cls
    return found


def test_every_library_error_is_a_gptkit_error():
    found = library_exceptions()
    assert {cls.__name__ for cls in found.values()} >= set(BUILT_IN_BASES)
    assert [name for name, cls in found.items() if not issubclass(cls, GptkitError)] == []


@pytest.mark.parametrize("name", sorted(BUILT_IN_BASES))
def test_each_error_keeps_its_built_in_base(name):
    [cls] = [cls for cls in library_exceptions().values() if cls.__name__ == name]
    assert issubclass(cls, BUILT_IN_BASES[name]) and issubclass(cls, GptkitError)
