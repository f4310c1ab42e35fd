"""The architecture as a test: every module imports on its own, and imports only go down the layers.

The layers, lowest first: gptkit_base (the ground floor: errors, file helpers, where the bundled texts
are; it imports nothing of the project), gptkit_data (the texts) and minbpe (tokenizers), pipeline (token
shards), gpt in three floors, playground (the web app), the commands (gptkit's area modules), and on top
the click group that holds them: cli, with gptkit.__main__ (`python -m gptkit`, which runs
cli). gpt's floors are by module, not by package, because the run folder sits between the makemore lab's
parts: gpt.runs reads every kind of run, so it needs the character models' sampler (gpt.char.sample and
what it imports), while the trainers (gpt.train, gpt.char.train) claim their folder and name its files
with gpt.runs. So, lowest first: gpt's core (attention, modern, model, checkpoint, config, device, generate, hf,
progress) with the lab's data, models and sampler; gpt.runs; the trainers and what plans or plots their runs
(gpt.train, gpt.plan, gpt.char.train, gpt.char.baselines, gpt.char.plots). A module may
import its own layer or a lower one, never a higher one, and no two files import each other,
directly or round a longer loop, not even from inside a function (an import hidden there is still
a circle).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGES = {"gptkit_base": "gptkit_base", "minbpe": "minbpe", "pipeline": "pipeline", "gpt": "gpt",
            "playground": "playground", "gptkit_data": "data", "gptkit": "gptkit"}


def module_name(path: Path) -> str:
    """The import name of a project file (data/ is installed as the package gptkit_data)."""
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "data":
        parts[0] = "gptkit_data"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    files = [ROOT / "cli.py"] + [p for folder in PACKAGES.values() for p in sorted((ROOT / folder).rglob("*.py"))]
    return {module_name(p): p for p in files}


GPT_CORE = ("gpt", "gpt.attention", "gpt.modern", "gpt.model", "gpt.checkpoint", "gpt.config", "gpt.device",
            "gpt.fsdp", "gpt.generate", "gpt.hf", "gpt.hf_configs", "gpt.progress", "gpt.char", "gpt.char.data",
            "gpt.char.models", "gpt.char.sample")
GPT_RUNS = ("gpt.runs",)
GPT_TRAINERS = ("gpt.train", "gpt.plan", "gpt.char.train", "gpt.char.baselines", "gpt.char.plots")


def layer(module: str) -> int:
    top = module.split(".")[0]
    if module in ("cli", "gptkit.__main__"):
        return 8
    if top == "gptkit":
        return 7
    if top == "playground":
        return 6
    if top == "gpt":  # by module (see the module doc); a new gpt module must be given its floor here
        floors = {**dict.fromkeys(GPT_CORE, 3), **dict.fromkeys(GPT_RUNS, 4), **dict.fromkeys(GPT_TRAINERS, 5)}
        assert module in floors, f"{module} is on none of gpt's floors: add it to GPT_CORE, GPT_RUNS or GPT_TRAINERS"
        return floors[module]
    return {"pipeline": 2, "minbpe": 1, "gptkit_data": 1, "gptkit_base": 0}[top]


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its file (top level, functions, TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        # importing a.b.c runs a and a.b first: from outside the package, those count too
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            candidate = ".".join(parts[:i])
            inside = name == candidate or name.startswith(candidate + ".")
            if candidate in modules and candidate != name and (i == len(parts) or not inside):
                found.add(candidate)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            add(target)
            for alias in node.names:  # `from pkg import submodule`
                if f"{target}.{alias.name}" in modules:
                    add(f"{target}.{alias.name}")
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_checks_see_a_circle_and_a_layer_breach():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    order = ["gptkit_base.files", "minbpe.base", "pipeline.prepare", "gpt.char.sample", "gpt.runs", "gpt.char.train",
             "playground.app", "gptkit.gpt_commands", "cli"]
    assert [layer(m) for m in order] == sorted({layer(m) for m in order})
    modules = project_modules()
    assert "gpt.model" in imports_of("gpt.train", modules["gpt.train"], modules)
    assert "minbpe" in imports_of("pipeline.manifest", modules["pipeline.manifest"], modules)


def test_no_import_circle_between_files():
    modules = project_modules()
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert find_cycle(graph) is None


def test_imports_go_down_the_layers():
    modules = project_modules()
    upward = [f"{name} imports {target}" for name, path in modules.items()
              for target in imports_of(name, path, modules) if layer(target) > layer(name)]
    assert upward == []


def test_every_module_imports_on_its_own():
    """Each module in a fresh state (the project's modules forgotten, torch kept): no order dependence."""
    names = sorted(project_modules())
    script = f"""
import importlib, json, sys
failures = []
for name in {names!r}:
    for loaded in [m for m in sys.modules if m.split('.')[0] in {sorted(PACKAGES) + ["cli"]!r}]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as e:
        failures.append(f"{{name}}: {{type(e).__name__}}: {{e}}")
print(json.dumps(failures))
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []
