"""Keeps docs/wire.md (every request shape the product sends) in step with what it actually sends.

Every stand-in tenant the tests start (tests/e2e/harness.py `sample_tenant`) checks its request logs on the
way out: a request whose shape (method, path template, query option names, `Prefer` names, `If-Match`) no
row of the inventory allows fails that test, naming the shape. The rows each run matched are remembered; a
run of the whole suite then fails on rows nothing matched (tests/conftest.py), so the list cannot go stale.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

INVENTORY = Path(__file__).resolve().parent.parent / "docs" / "wire.md"
_CELL_CODE = re.compile(r"`([^`]+)`")
# F&O's query string is logged decoded: an option starts at the start or after '&' and ends at '='.
_FNO_OPTION = re.compile(r"(?:^|&)([$A-Za-z][\w.-]*)=")


@dataclass(frozen=True)
class Row:
    service: str  # "graph" or "fno"
    method: str
    template: str
    pattern: re.Pattern[str]
    options: frozenset[str]
    prefer: frozenset[str]
    if_match: bool

    @property
    def label(self) -> str:
        return f"{self.service} {self.method} {self.template}"


@dataclass(frozen=True)
class Shape:
    service: str
    method: str
    path: str
    options: frozenset[str]
    prefer: frozenset[str]
    if_match: bool

    def __str__(self) -> str:
        extra = []
        if self.options:
            extra.append("options " + ", ".join(sorted(self.options)))
        if self.prefer:
            extra.append("Prefer " + ", ".join(sorted(self.prefer)))
        if self.if_match:
            extra.append("If-Match")
        return f"{self.service} {self.method} {self.path}" + (f" ({'; '.join(extra)})" if extra else "")


def _template_pattern(template: str) -> re.Pattern[str]:
    # `{name}` is one path segment; `({key})` an entity key, whose literals may hold anything.
    out = []
    for piece in re.split(r"(\(\{[^}]+\}\)|\{[^}]+\})", template):
        if piece.startswith("({"):
            out.append(r"\(.+\)")
        elif piece.startswith("{"):
            out.append(r"(?!delta(?:\(\))?(?:/|$))[^/]+")  # an id is never the delta function
        else:
            out.append(re.escape(piece))
    return re.compile("".join(out))


def _row(service: str, cells: list[str]) -> Row:
    method, path, options, headers = (cells[0].strip().strip("`"), cells[1], cells[2], cells[3])
    template = _CELL_CODE.findall(path)[0]
    header_items = _CELL_CODE.findall(headers)
    prefer = {h.split(":", 1)[1].strip().lower() for h in header_items if h.lower().startswith("prefer:")}
    return Row(
        service=service,
        method=method.upper(),
        template=template,
        pattern=_template_pattern(template),
        options=frozenset(o.lower() for o in _CELL_CODE.findall(options)),
        prefer=frozenset(prefer),
        if_match=any(h.lower() == "if-match" for h in header_items),
    )


def load_inventory(text: str | None = None) -> list[Row]:
    """The rows of docs/wire.md's request tables (under `## Microsoft Graph` and `## F&O OData`)."""
    text = INVENTORY.read_text(encoding="utf-8") if text is None else text
    rows: list[Row] = []
    service: str | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:].lower()
            service = "graph" if "graph" in heading else "fno" if "f&o" in heading else None
            continue
        if service is None or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not _CELL_CODE.search(cells[1]) or cells[0].lower() == "method":
            continue
        rows.append(_row(service, cells))
    return rows


def _encoded_path(entry: Mapping[str, Any]) -> str:
    segments = entry.get("segments")
    if segments is None:
        return str(entry["path"])
    return "/" + "/".join(str(s).replace("%", "%25").replace("/", "%2F") for s in segments)


def graph_shape(entry: Mapping[str, Any]) -> Shape:
    return Shape(
        "graph",
        str(entry["method"]),
        _encoded_path(entry),
        frozenset(entry.get("options", ())),
        frozenset(entry.get("prefer", ())),
        "if_match" in entry,
    )


def fno_shape(entry: Mapping[str, Any]) -> Shape:
    options = frozenset(m.lower() for m in _FNO_OPTION.findall(str(entry.get("query", ""))))
    return Shape("fno", str(entry["method"]), str(entry["path"]), options, frozenset(), "if_match" in entry)


def _allows(row: Row, shape: Shape) -> bool:
    return (
        row.service == shape.service
        and row.method == shape.method
        and row.pattern.fullmatch(shape.path) is not None
        and shape.options <= row.options
        and shape.prefer <= row.prefer
        and (row.if_match or not shape.if_match)
    )


MATCHED: set[str] = set()
"""Labels of the rows some request matched in this test session."""


def unlisted(shapes: Iterable[Shape], rows: list[Row] | None = None) -> list[Shape]:
    """The shapes no row allows; remembers the rows that matched."""
    rows = load_inventory() if rows is None else rows
    missing: dict[Shape, None] = {}
    for shape in shapes:
        found = [row for row in rows if _allows(row, shape)]
        if not found:
            missing[shape] = None
        MATCHED.update(row.label for row in found)
    return list(missing)


def check_logs(graph_log: Iterable[Mapping[str, Any]], fno_log: Iterable[Mapping[str, Any]]) -> None:
    shapes = [graph_shape(e) for e in graph_log] + [fno_shape(e) for e in fno_log]
    dump = os.environ.get("WIRE_INVENTORY_DUMP")
    if dump:  # collect every shape the tests send, to write new rows from
        with open(dump, "a", encoding="utf-8") as out:
            for shape in shapes:
                out.write(
                    f"{shape.service}\t{shape.method}\t{rough_template(shape)}\t{sorted(shape.options)}"
                    f"\t{sorted(shape.prefer)}\t{shape.if_match}\n"
                )
        return
    missing = unlisted(shapes)
    if missing:
        # One line per shape: ids and addresses replaced, so a request to many mailboxes is named once.
        listed = "\n  ".join(dict.fromkeys(str(replace(s, path=rough_template(s))) for s in missing))
        raise AssertionError(
            f"requests whose shape docs/wire.md does not list (add a row, with the Microsoft page):\n  {listed}"
        )


_LITERAL = re.compile(r"^(\$?[A-Za-z]+(\.[A-Za-z]+)*(\(\))?|\$batch|\$count|\$value|\$metadata)$")
_ID_LIKE = re.compile(r"[0-9=_-]|^[A-Z]{3}")


def rough_template(shape: Shape) -> str:
    """The path with ids and keys replaced, for writing new rows (WIRE_INVENTORY_DUMP)."""
    parts = shape.path.split("/")
    out = []
    for i, part in enumerate(parts):
        if "(" in part and part.endswith(")") and not part.endswith("()"):
            out.append(part.split("(", 1)[0] + "({key})")
        elif i > 0 and parts[i - 1] == "users":
            out.append("{user}")
        elif part and (not _LITERAL.match(part) or (_ID_LIKE.search(part) and not part.startswith("$"))):
            out.append("{id}")
        else:
            out.append(part)
    return "/".join(out)


# Test folders where the product itself sends the requests (elsewhere tests craft requests on purpose; the
# chaos and hostsim tests also edit the tenant over HTTP, as its users, through the same stand-ins).
PRODUCT_TESTS = (
    "e2e",
    "durability",
    "notifications",
    "isolation",
    "telemetry",
    "pipeline",
    "doctor",
)
_TESTS_ROOT = Path(__file__).resolve().parent


def applies_to(test_file: Path) -> bool:
    try:
        parts = test_file.resolve().relative_to(_TESTS_ROOT).parts
    except ValueError:
        return False
    # test_standin*.py files drive a stand-in directly, with requests the product never sends.
    return len(parts) > 1 and parts[0] in PRODUCT_TESTS and not parts[-1].startswith("test_standin")


class StandIns:
    """The stand-in states a test created."""

    def __init__(self) -> None:
        self.graph: list[Any] = []
        self.fno: list[Any] = []

    def logs(self) -> list[tuple[list[Any], list[Any]]]:
        return [(g.request_log, []) for g in self.graph] + [([], f.request_log) for f in self.fno]


def watch_stand_ins(monkeypatch: Any) -> StandIns:
    from simulators.fno.state import FnoState
    from simulators.graph.state import GraphState

    seen = StandIns()
    for cls, bucket in ((GraphState, seen.graph), (FnoState, seen.fno)):
        original = cls.__init__

        def init(
            self: Any, *args: Any, _original: Any = original, _bucket: Any = bucket, **kwargs: Any
        ) -> None:
            _original(self, *args, **kwargs)
            _bucket.append(self)

        monkeypatch.setattr(cls, "__init__", init)
    return seen


def whole_suite(config: Any) -> bool:
    """The run took every test (no paths, -k, -m, --lf or deselection), as CI does."""
    import pytest

    opts = config.option
    return (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not opts.keyword
        and not opts.markexpr
        and not getattr(opts, "lf", False)
        and not getattr(opts, "deselect", None)
    )


def unmatched_rows() -> list[str]:
    return [row.label for row in load_inventory() if row.label not in MATCHED]
