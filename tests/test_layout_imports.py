"""Imports go one way: bot → shared ← model ← training, with no cycles.

The graph is read from the source (every `import`, at module level or inside a function, as
each runs in some process), not from a hand-kept list, so a new module is checked the day it
is written. The rules:
- `bot` imports no `model`, no `training`, no torch or transformers — it reaches the poet only
  through the queue, and its image installs none of them;
- `model` imports no `bot` and no `training`;
- `training` imports no `bot`;
- `fake_telegram`, the stand-in for Telegram, imports none of them (it plays Telegram, not
  the bot), and none of them imports it: the production bot never depends on its stand-in;
- the shared `yinshi` imports none of the others, except its command-line entry and
  `yinshi run`, which start them;
- no module imports itself back through others.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "model", "training", "yinshi", "fake_telegram")
FORBIDDEN = {
    "bot": ("model", "training", "torch", "transformers", "fake_telegram"),
    "model": ("bot", "training", "fake_telegram"),
    "training": ("bot", "fake_telegram"),
    "yinshi": ("bot", "model", "training", "torch", "transformers", "fake_telegram"),
    "fake_telegram": ("bot", "model", "training", "torch", "transformers"),
}
ENTRIES = {"yinshi.cli", "yinshi.run"}
"""Modules whose job is to start the other packages."""


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    """Every module `name` imports: first-party ones by their full name (a `from package
    import module` names the module), third-party ones by their top-level name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in modules else base)
    return {m if m.split(".")[0] in PACKAGES else m.split(".")[0] for m in found}


def import_graph(root: Path) -> dict[str, set[str]]:
    paths = {
        module_name(path, root): path
        for package in PACKAGES
        if (root / package).is_dir()
        for path in (root / package).rglob("*.py")
    }
    modules = set(paths)
    return {name: imports_of(path, name, modules) for name, path in paths.items()}


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for name, imported in sorted(graph.items()):
        if name in ENTRIES:
            continue
        for target in sorted(imported):
            if target.split(".")[0] in FORBIDDEN[name.split(".")[0]]:
                found.append(f"{name} imports {target}")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle among first-party modules once (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_imports_go_one_way():
    assert wrong_way(import_graph(ROOT)) == []


def test_no_import_cycles():
    assert cycles(import_graph(ROOT)) == []


@pytest.mark.parametrize(
    ("path", "source", "problem"),
    [
        ("bot/handler.py", "from model.generation import load_generator\n", "wrong"),
        ("bot/handler.py", "import torch\n", "wrong"),
        ("yinshi/client.py", "from bot import texts\n", "wrong"),
        ("model/a.py", "from .b import x\n", "cycle"),
    ],
)
def test_the_check_catches_a_wrong_import(tmp_path, path, source, problem):
    """The rules bite: a tree with one deliberate wrong import (or cycle) fails them."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "bot" / "texts.py").write_text("")
    (tmp_path / "model" / "b.py").write_text("from model.a import y\n")
    (tmp_path / path).write_text(source)
    graph = import_graph(tmp_path)
    assert bool(wrong_way(graph)) == (problem == "wrong")
    assert bool(cycles(graph)) == (problem == "cycle")
