"""Every Bicep file parses, and the modules fit together the way the compiler would check them:
module files exist, passed parameters are declared, required ones are passed, used outputs exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, bicep_files, output_references, parse, syntax_errors

MAIN = INFRA / "main.bicep"


def test_infra_has_main_and_modules() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in bicep_files()}
    assert "main.bicep" in names
    assert {
        "modules/identity.bicep",
        "modules/storage.bicep",
        "modules/monitoring.bicep",
        "modules/roles.bicep",
        "modules/functionapp.bicep",
        "modules/workbook.bicep",
        "modules/alerts.bicep",
        "modules/fnoevents.bicep",
    } <= names


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_tree_sitter_finds_no_syntax_error(path: Path) -> None:
    assert syntax_errors(path.read_bytes()) == []


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_pycep_parses(path: Path) -> None:
    document = parse(path)
    assert document.get("resources") or document.get("modules")


def test_syntax_check_catches_broken_bicep() -> None:
    """The checker itself can fail: a missing brace and a stray token are reported with their line."""
    broken = (
        b"param name string\nresource sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: name\n"
    )
    assert syntax_errors(broken)
    assert syntax_errors(b"param name string = 'a' 'b'\n")


def _module_params(path: Path) -> tuple[set[str], set[str]]:
    """(declared, required) parameters of a module file."""
    declared = parse(path).get("parameters", {})
    required = {name for name, p in declared.items() if p.get("default") is None}
    return set(declared), required


def test_modules_get_the_parameters_they_declare() -> None:
    modules = parse(MAIN)["modules"]
    assert modules, "main.bicep uses no modules"
    for symbol, module in modules.items():
        file = (MAIN.parent / module["detail"]["path"]).resolve()
        assert file.is_file(), f"module {symbol}: {file} missing"
        declared, required = _module_params(file)
        config = module["config"]
        config = config["config"] if "condition" in config else config  # `= if (...) {...}`
        passed = set(config.get("params", {}))
        assert passed <= declared, f"module {symbol} passes undeclared {sorted(passed - declared)}"
        assert required <= passed, f"module {symbol} misses required {sorted(required - passed)}"


def test_used_module_outputs_exist() -> None:
    modules = parse(MAIN)["modules"]
    for symbol, output in output_references(MAIN.read_text(encoding="utf-8")):
        assert symbol in modules, f"{symbol}.outputs.{output}: no such module"
        file = (MAIN.parent / modules[symbol]["detail"]["path"]).resolve()
        assert output in parse(file).get("outputs", {}), f"{file.name} has no output {output}"


def test_loaded_files_exist() -> None:
    for path in bicep_files():
        for relative in re.findall(
            r"load(?:Text|Json)Content\('([^']+)'\)", path.read_text(encoding="utf-8")
        ):
            assert (path.parent / relative).is_file(), f"{path.name} loads missing {relative}"


def test_main_parameters_file_matches_main() -> None:
    import json

    document = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    given = set(document["parameters"])
    declared = parse(MAIN)["parameters"]
    assert given <= set(declared), f"unknown parameters {sorted(given - set(declared))}"
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert required <= given, f"main.parameters.json misses {sorted(required - given)}"
    # azd fills ${VAR} from its environment: product settings use the app's own setting names.
    assert document["parameters"]["d365Url"]["value"] == "${D365_URL}"
    assert document["parameters"]["company"]["value"] == "${SYNC_COMPANY}"
