"""The Graph permission grant (bash + Azure CLI) against a stand-in `az`, and the Exchange RBAC for
Applications script's content (PowerShell cannot run here)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep import ROOT
from tests.infra.fake_az import GRAPH_SP, role_id

SCRIPT = ROOT / "scripts" / "grant-graph-permissions.sh"
PRINCIPAL = "7c1d2e3f-0000-4000-8000-0000000000b2"
UNSCOPED = {"User.Read.All", "GroupMember.Read.All", "Tasks.ReadWrite.All"}
EXCHANGE = {"Calendars.ReadWrite", "Mail.ReadWrite", "Contacts.ReadWrite", "MailboxSettings.ReadWrite"}


@pytest.fixture
def graph(tmp_path: Path) -> dict[str, Any]:
    """A tenant seen through the stand-in `az`: its state file and the environment to run the script in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.infra.fake_az import main\nraise SystemExit(main(['az', *sys.argv[1:]]))\n",
        encoding="utf-8",
    )
    az.chmod(az.stat().st_mode | stat.S_IEXEC)
    state_file = tmp_path / "graph.json"
    state_file.write_text(json.dumps({"assignments": [], "calls": []}), encoding="utf-8")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_AZ_STATE": str(state_file),
        "HOME": str(tmp_path),
    }
    return {"file": state_file, "env": env}


def _run(graph: dict[str, Any], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={**graph["env"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _state(graph: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(graph["file"].read_text(encoding="utf-8"))
    return state


def _granted(graph: dict[str, Any]) -> set[str]:
    by_role = {role_id(p): p for p in UNSCOPED | EXCHANGE}
    return {
        by_role[a["appRoleId"]]
        for a in _state(graph)["assignments"]
        if a["principalId"] == PRINCIPAL and a["resourceId"] == GRAPH_SP
    }


def _seed(graph: dict[str, Any], permissions: set[str]) -> None:
    state = _state(graph)
    state["assignments"] = [
        {"id": f"seed-{p}", "appRoleId": role_id(p), "principalId": PRINCIPAL, "resourceId": GRAPH_SP}
        for p in sorted(permissions)
    ]
    graph["file"].write_text(json.dumps(state), encoding="utf-8")


def _writes(graph: dict[str, Any]) -> list[list[str]]:
    return [c for c in _state(graph)["calls"] if c[0] in ("POST", "DELETE")]


def test_grants_every_permission_to_the_identity_from_azd(graph: dict[str, Any]) -> None:
    done = _run(graph, SYNC_IDENTITY_PRINCIPAL_ID=PRINCIPAL)
    assert done.returncode == 0, done.stderr
    assert _granted(graph) == UNSCOPED | EXCHANGE
    assert "scope-exchange-mailboxes.ps1" in done.stdout


def test_running_again_changes_nothing(graph: dict[str, Any]) -> None:
    _seed(graph, UNSCOPED | EXCHANGE)
    done = _run(graph, "--principal-id", PRINCIPAL)
    assert done.returncode == 0, done.stderr
    assert _writes(graph) == []
    assert done.stdout.count("kept") == 7


def test_exchange_scoped_removes_only_the_tenant_wide_mailbox_grants(graph: dict[str, Any]) -> None:
    _seed(graph, UNSCOPED | EXCHANGE)
    done = _run(graph, "--principal-id", PRINCIPAL, "--exchange-scoped")
    assert done.returncode == 0, done.stderr
    assert _granted(graph) == UNSCOPED  # To Do, users and groups stay tenant-wide
    assert [c[0] for c in _writes(graph)] == ["DELETE"] * 4


def test_exchange_scoped_from_the_azd_environment_never_grants_mailbox_access(graph: dict[str, Any]) -> None:
    done = _run(graph, SYNC_IDENTITY_PRINCIPAL_ID=PRINCIPAL, SYNC_EXCHANGE_SCOPED="true")
    assert done.returncode == 0, done.stderr
    assert _granted(graph) == UNSCOPED


def test_dry_run_writes_nothing(graph: dict[str, Any]) -> None:
    done = _run(graph, "--principal-id", PRINCIPAL, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert _writes(graph) == [] and done.stdout.count("would run: az rest --method POST") == 7


def test_missing_identity_is_an_error(graph: dict[str, Any]) -> None:
    done = _run(graph)
    assert done.returncode == 2 and "principal-id" in done.stderr
    assert _state(graph)["calls"] == []


def _powershell_list(text: str, variable: str) -> set[str]:
    match = re.search(rf"\${variable} = @\(([^)]*)\)", text)
    assert match, f"${variable} not found"
    return set(re.findall(r"'([^']+)'", match.group(1)))


def test_both_grant_scripts_grant_the_same_permissions() -> None:
    bash = SCRIPT.read_text(encoding="utf-8")
    assert set(re.search(r"^UNSCOPED=\(([^)]*)\)", bash, re.M).group(1).split()) == UNSCOPED  # type: ignore[union-attr]
    assert set(re.search(r"^EXCHANGE=\(([^)]*)\)", bash, re.M).group(1).split()) == EXCHANGE  # type: ignore[union-attr]
    powershell = (ROOT / "scripts" / "grant-graph-permissions.ps1").read_text(encoding="utf-8")
    assert _powershell_list(powershell, "unscoped") == UNSCOPED
    assert _powershell_list(powershell, "exchange") == EXCHANGE
    assert "Remove-MgServicePrincipalAppRoleAssignment" in powershell
    assert "SupportsShouldProcess" in powershell


def test_admin_guide_lists_the_permissions_the_scripts_grant() -> None:
    readme = (ROOT / "docs" / "admin-guide.md").read_text(encoding="utf-8")
    for permission in UNSCOPED | EXCHANGE:
        assert f"`{permission}`" in readme


def test_exchange_scope_script_uses_rbac_for_applications() -> None:
    text = (ROOT / "scripts" / "scope-exchange-mailboxes.ps1").read_text(encoding="utf-8")
    assert _powershell_list(text, "roles") == {f"Application {p}" for p in EXCHANGE}
    assert "New-ServicePrincipal -AppId $AppId -ObjectId $PrincipalId" in text
    assert "New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter $filter" in text
    assert "MemberOfGroup -eq '$($groupObject.DistinguishedName)'" in text
    assert "New-ManagementRoleAssignment -App $AppId -Role $role -CustomResourceScope $ScopeName" in text
    assert "MailUniversalSecurityGroup" in text  # only mail-enabled security groups scope RBAC for apps
    assert "grant-graph-permissions.ps1') -PrincipalId $PrincipalId -ExchangeScoped" in text
    assert "Test-ServicePrincipalAuthorization" in text
    assert "Tasks.ReadWrite.All" in text  # says that To Do cannot be scoped
