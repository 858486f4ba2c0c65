"""The packages of sync_core form layers: no import cycle between them (docs/architecture.md, "Packages and
their layers").

Every module is parsed with `ast`; module-level imports, imports inside functions and imports under
`TYPE_CHECKING` all count, since each of them ties one package to another for a reader and for mypy. A
package is the first name below `sync_core` (`sync_core.pipeline.scan` is `pipeline`); a top-level module
(`app.py`, `settings.py`, `cli_ops.py`, ...) is a node of its own.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "sync_core"

# Imports that would make no cycle today but undo the layering the document describes.
FORBIDDEN = {
    # Telemetry records what the others measure; it imports nothing of the jobs.
    "telemetry": {
        "pipeline",
        "kinds",
        "contacts",
        "email_import",
        "notifications",
        "app",
        "instance",
        "functions",
    },
    # The F&O client shares the token source with Graph's through sync_core.auth, not through exchange.
    "d365": {"exchange"},
    "exchange": {"d365"},
    # The pure layers.
    "engine": {"state", "d365", "exchange", "runtime", "pipeline", "kinds"},
    "model": {"state", "d365", "exchange", "runtime", "pipeline", "kinds", "engine"},
}


def _node(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "sync_core" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(path: Path) -> Iterator[tuple[str, int]]:
    """Every sync_core module a file imports (with the line), wherever the import stands."""
    package = list(path.relative_to(ROOT.parent).parent.parts)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module == "sync_core" or (node.level and not node.module):
                # `from sync_core import app` names a module; `from . import x` a sibling.
                for alias in node.names:
                    yield f"{module}.{alias.name}", node.lineno
            else:
                yield module, node.lineno


def import_graph() -> dict[str, dict[str, list[str]]]:
    """node -> imported node -> where (path:line)."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(ROOT.rglob("*.py")):
        source = _node(".".join(_module_name(path)))
        if source is None:
            continue  # sync_core/__init__.py imports nothing of the others
        for module, line in _imported(path):
            target = _node(module)
            if target is not None and target != source:
                graph[source][target].append(f"{path.relative_to(ROOT.parent)}:{line}")
    return graph


def strongly_connected(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of nodes that reach each other (a cycle when more than one)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, {})):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(sorted(group))

    nodes = set(graph) | {t for targets in graph.values() for t in targets}
    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycle_between_packages() -> None:
    graph = import_graph()
    cycles = [group for group in strongly_connected(graph) if len(group) > 1]
    lines = []
    for group in cycles:
        lines.append("cycle: " + ", ".join(group))
        for source in group:
            for target, where in sorted(graph[source].items()):
                if target in group:
                    lines.append(f"  {source} -> {target}: {', '.join(where)}")
    assert not cycles, "\n".join(lines)


def test_layers_keep_their_direction() -> None:
    graph = import_graph()
    wrong = [
        f"{source} -> {target}: {', '.join(graph[source][target])}"
        for source, targets in sorted(FORBIDDEN.items())
        for target in sorted(targets)
        if target in graph.get(source, {})
    ]
    assert wrong == []


def test_the_graph_sees_every_kind_of_import() -> None:
    # The parser itself: a function-level and a TYPE_CHECKING import are edges too.
    graph = import_graph()
    assert "pipeline" in graph["functions"]
    assert "settings" in graph["app"]
    assert any(node == "runtime" for node in graph["kinds"])
