"""Offline reading of the Bicep in infra/ (the Bicep compiler cannot be installed here).

Syntax: tree-sitter-bicep (every node, no ERROR or MISSING). Structure: pycep-parser's JSON form, with
quoted object keys ('azd-service-name') unquoted so tests can look them up by name."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import tree_sitter
import tree_sitter_bicep
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def syntax_errors(source: bytes) -> list[str]:
    """Positions of ERROR and MISSING nodes; empty when the text is valid Bicep for tree-sitter."""
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    tree = parser.parse(source)
    found: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            row, column = node.start_point
            found.append(f"{node.type} at line {row + 1}, column {column + 1}")
        stack.extend(node.children)
    return found


def _unquote(value: Any) -> Any:
    if isinstance(value, dict):
        return {_strip(k): _unquote(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def _strip(key: Any) -> Any:
    if isinstance(key, str) and len(key) >= 2 and key[0] == key[-1] == "'":
        return key[1:-1]
    return key


@cache
def parse(path: Path) -> dict[str, Any]:
    document: Any = BicepParser().parse(text=path.read_text(encoding="utf-8"))
    return dict(_unquote(document))


def module_path(name: str) -> Path:
    return INFRA / "modules" / f"{name}.bicep"


def resources(document: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Resources of one type by symbolic name; loops are unwrapped to their body."""
    found: dict[str, dict[str, Any]] = {}
    for name, resource in document.get("resources", {}).items():
        if resource["type"].lower() == resource_type.lower():
            config = resource["config"]
            found[name] = config["config"] if "loop_type" in config else config
    return found


def one_resource(document: dict[str, Any], resource_type: str) -> dict[str, Any]:
    found = resources(document, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))


def loop_of(document: dict[str, Any], symbol: str) -> dict[str, Any]:
    loop: dict[str, Any] = document["resources"][symbol]["config"]["loop_type"]["detail"]
    return loop


def function(value: Any, name: str) -> dict[str, Any] | None:
    """The parameters of a call to `name` when value is one, else None."""
    if isinstance(value, dict) and "function" in value and value["function"]["type"] == name:
        parameters: dict[str, Any] = value["function"]["parameters"]
        return parameters
    return None


def accessor(value: Any) -> str:
    """`identity.outputs.clientId` back from pycep's nested property accessors ('' if not one)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "operator" in value and value["operator"]["type"] == "property_accessor":
        operands = value["operator"]["operands"]
        return f"{accessor(operands['operand_1'])}.{accessor(operands['operand_2'])}"
    return ""


def walk_keys(value: Any) -> set[str]:
    """Every object key anywhere inside a parsed document."""
    keys: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            keys.add(str(key))
            keys |= walk_keys(item)
    elif isinstance(value, list):
        for item in value:
            keys |= walk_keys(item)
    return keys


def output_references(text: str) -> set[tuple[str, str]]:
    """`module.outputs.name` references in Bicep source."""
    return set(re.findall(r"\b(\w+)\.outputs\.(\w+)", text))
