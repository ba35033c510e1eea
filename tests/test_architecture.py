"""The house keeps its shape: imports run from the CLI down through the stages to the kernel, never back up, with no
circles and no private names taken across packages (docs/architecture.md draws the same layers).

The rules are checked on the package's own source with ``ast`` (every import, also those inside functions), so a
stage that starts importing the CLI, or a kernel module that starts importing a stage, fails here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "drevalkit"

# Rooms by layer, top to bottom: a room may import rooms of lower layers and itself, never one above, and never a
# sibling of its own layer. The kernel is one layer whose modules may use each other (without circles).
LAYERS: list[set[str]] = [
    {"__init__"},  # the public facade: imports whatever it exposes, lazily
    {"cli"},
    {"validity", "leaderboard"},
    {"scoring", "agents", "tasks"},
    {"quality", "factcheck", "render"},
    {"ingest"},
    {
        "__version__", "aio", "citation_forms", "citations", "config", "documents", "embeddings", "errors", "files",
        "layout", "llm", "prompts", "registry", "resources", "retry", "schemas", "shards", "stats", "store", "text",
    },
]  # fmt: skip
APART = {"testing"}  # local servers for tests and users: may use anything, used by nothing in the package


@dataclass(frozen=True)
class Edge:
    source: str  # importing module, dotted
    target: str  # imported module, dotted
    names: tuple[str, ...]  # names taken from it
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> Iterator[Edge]:
    """Every import of a module of the package by ``name``: ``from . import x`` is an edge to module ``x`` when
    ``x`` is one, else to the package whose name it takes."""
    top = name.split(".")[0]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == top:
                    yield Edge(name, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != top:
                continue
            taken = []
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    yield Edge(name, sub, (), node.lineno)
                else:
                    taken.append(alias.name)
            if taken:
                yield Edge(name, target, tuple(taken), node.lineno)


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(name: str) -> int | None:
    return next((i for i, rooms in enumerate(LAYERS) if name in rooms), None)


def problems(root: Path) -> list[str]:
    """What breaks the rules in the package at ``root``, one line each."""
    found = modules(root)
    known = set(found)
    edges = [e for name, path in found.items() for e in imports(name, path, known)]
    out = []
    for e in edges:
        src, dst = room(e.source), room(e.target)
        where = f"{e.source} (line {e.line}) imports {e.target}"
        if src in APART:
            continue
        if dst in APART:
            out.append(f"{where}: nothing in the package imports the test servers")
            continue
        low, high = layer_of(src), layer_of(dst)
        if src == dst:
            pass
        elif low is None or high is None:
            out.append(f"{where}: {src if low is None else dst} is on no layer of LAYERS")
            continue
        elif low == high and low != len(LAYERS) - 1:
            out.append(f"{where}: {src} and {dst} are siblings of one layer")
        elif low > high:
            out.append(f"{where}: an import back up, from {src} to {dst}")
        if e.target == root.name and src != "__init__":
            out.append(f"{where}: through the package facade (import from the module that defines the name)")
        private = [n for n in e.names if n.startswith("_") and not n.startswith("__")]
        if private and (src != dst or room(e.source) == "__init__"):
            out.append(f"{where}: private names {', '.join(private)} of another package")
    out += [f"a circle of imports: {' -> '.join(c)}" for c in circles(edges)]
    return out


def circles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each as a sorted list."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        if e.source != e.target:
            graph.setdefault(e.source, set()).add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_package_keeps_its_layers_and_has_no_circles():
    assert problems(PACKAGE) == []


def test_every_room_of_the_package_is_on_a_layer():
    rooms = {room(name) for name in modules(PACKAGE)} - APART
    assert rooms <= set().union(*LAYERS), rooms - set().union(*LAYERS)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "drevalkit"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cli/__init__.py": "", "quality/__init__.py": "", "quality/judge.py": "from ..cli import main\n"},
         "an import back up, from quality to cli"),
        ({"cli/__init__.py": "", "quality/__init__.py": "",
          "quality/judge.py": "def f():\n    from drevalkit.cli import app\n"},
         "an import back up, from quality to cli"),
        ({"store.py": "from .factcheck.search import Searcher\n", "factcheck/__init__.py": "",
          "factcheck/search.py": ""}, "an import back up, from store to factcheck"),
        ({"quality/__init__.py": "", "factcheck/__init__.py": "", "factcheck/verify.py": "",
          "quality/judge.py": "from ..factcheck.verify import check\n"}, "siblings of one layer"),
        ({"ingest/__init__.py": "", "ingest/html.py": "", "render/__init__.py": "",
          "render/page.py": "from ..ingest.html import _worker\n"}, "private names _worker of another package"),
        ({"text.py": "from . import files\n", "files.py": "from .text import x\n"},
         "a circle of imports: drevalkit.files -> drevalkit.text"),
        ({"ingest/__init__.py": "", "ingest/importers.py": "from .. import __version__\n"},
         "through the package facade"),
        ({"testing/__init__.py": "", "scoring/__init__.py": "from ..testing import server\n",
          "testing/server.py": ""}, "nothing in the package imports the test servers"),
    ],
)  # fmt: skip
def test_a_broken_rule_is_found(tmp_path: Path, files: dict[str, str], expected: str):
    found = problems(_tree(tmp_path, files))
    assert any(expected in line for line in found), found


def test_allowed_imports_are_not_flagged(tmp_path: Path):
    root = _tree(
        tmp_path,
        {
            "cli/__init__.py": "from ..scoring import score\nfrom ..text import safe\n",
            "scoring/__init__.py": "from ..quality.judge import judge\nfrom ..ingest import load\n",
            "quality/__init__.py": "",
            "quality/judge.py": "from ..llm.client import LLMClient\nfrom ._helpers import _private\n",
            "quality/_helpers.py": "",
            "ingest/__init__.py": "from ..citations import scan\n",
            "llm/__init__.py": "",
            "llm/client.py": "from ..config import Settings\n",
            "config.py": "from .schemas import Task\n",
            "schemas.py": "",
            "citations.py": "from .schemas import Citation\n",
            "text.py": "",
            "testing/__init__.py": "from ..cli import main\n",
        },
    )
    assert problems(root) == []


MAX_MODULE_LINES, MAX_CLI_MODULE_LINES, MAX_FUNCTION_LINES = 500, 300, 80


def oversized(root: Path) -> list[str]:
    """Modules and functions of the package over the size limits, one line each."""
    out = []
    for name, path in modules(root).items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n") + (not text.endswith("\n"))
        limit = MAX_CLI_MODULE_LINES if room(name) == "cli" else MAX_MODULE_LINES
        if lines > limit:
            out.append(f"{name}: {lines} lines (at most {limit})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    out.append(
                        f"{name}.{node.name} (line {node.lineno}): {length} lines (at most {MAX_FUNCTION_LINES})"
                    )
    return out


def test_rooms_stay_small():
    assert oversized(PACKAGE) == []


def test_an_oversized_room_is_found(tmp_path: Path):
    body = "".join(f"    x{i} = {i}\n" for i in range(80))
    root = _tree(tmp_path, {"cli/__init__.py": "\n" * 301, "big.py": "x = 1\n" * 501, "f.py": f"def f():\n{body}"})
    found = oversized(root)
    assert any(line.startswith("drevalkit.cli: 301 lines (at most 300)") for line in found), found
    assert any(line.startswith("drevalkit.big: 501 lines") for line in found), found
    assert any(line.startswith("drevalkit.f.f (line 1): 81 lines") for line in found), found
