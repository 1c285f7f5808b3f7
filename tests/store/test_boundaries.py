"""The store's module boundaries: no import cycle between its modules (lazy imports inside functions count), and
the record types every reader uses import nothing but the standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import hashwarden.store

STORE = Path(hashwarden.store.__file__).parent
PACKAGE = "hashwarden.store"


def _store_imports(path: Path) -> set[str]:
    """The store modules `path` imports anywhere in its body, by module name (`__init__` for the package's own
    names); `from hashwarden.store import audit` is the module `audit`."""
    modules = {p.stem for p in STORE.glob("*.py")}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            found |= {alias.name if alias.name in modules else "__init__" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[2] for alias in node.names if alias.name.startswith(PACKAGE + ".")}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as the modules along it, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [node])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [])):
            return found
    return None


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_store_modules_import_no_cycle() -> None:
    graph = {path.stem: _store_imports(path) - {path.stem} for path in STORE.glob("*.py")}
    assert graph["hashsets"], "the import scan found nothing: it no longer reads the modules"
    assert _cycle(graph) is None, f"import cycle in store/: {' -> '.join(_cycle(graph))}"


def test_records_import_only_the_standard_library() -> None:
    tree = ast.parse((STORE / "records.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}, imported

