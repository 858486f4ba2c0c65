"""The command line: `run --once [--json] [--dry-run]`, exit codes, failures, audit, status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sync_core import cli
from sync_core.d365.errors import FnoError
from sync_core.kinds.appointment import AppointmentWrites
from tests.e2e.harness import Tenant, sample_tenant

ROOT = Path(__file__).resolve().parents[2]


def _env(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in tenant.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tenant.settings().state_dir.parent)  # no local.settings.json here


@pytest.fixture
def live_tenant(tmp_path: Path) -> Iterator[Tenant]:
    """The CLI runs on the real clock, so the sample data is laid out around the real today."""
    with sample_tenant(tmp_path, now=datetime.now(UTC)) as tenant:
        yield tenant


def test_run_once_json_over_a_real_process(live_tenant: Tenant) -> None:
    tenant = live_tenant
    env = {**os.environ, **tenant.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "sync_core", "run", "--once", "--json"],
        cwd=tenant.settings().state_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["counts"]["appointment"]["to_exchange"]["created"] == 5
    assert report["counts"]["appointment"]["to_fno"]["created"] == 2
    assert report["skippedMailboxes"] == [
        {"mailbox": "dave@contoso.com", "reason": "no F&O worker has this address as PrimaryContactEmail"}
    ]
    assert report["failures"] == []
    # No personal data on standard error (logs): subjects and addresses stay out.
    assert "Quarterly review" not in done.stderr and "o'brien" not in done.stderr


def test_item_failure_is_reported_recorded_and_exits_non_zero(
    live_tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(live_tenant, monkeypatch)

    async def rejected(self: AppointmentWrites, *args: Any, **kwargs: Any) -> Any:
        raise FnoError(400, "Field 'Purpose' must be filled in.")

    monkeypatch.setattr(AppointmentWrites, "create_in_fno", rejected)
    assert cli.main(["run", "--once", "--json"]) == cli.EXIT_ITEM_FAILED
    report = json.loads(capsys.readouterr().out)
    failures = report["failures"]
    assert len(failures) == 2
    assert {f["kind"] for f in failures} == {"appointment"}
    assert all(f["graphId"] and "F&O answered 400" in f["reason"] for f in failures)
    # The rest of the cycle went on.
    assert report["counts"]["appointment"]["to_exchange"]["created"] == 5

    assert cli.main(["failures", "--json"]) == cli.EXIT_ITEM_FAILED  # open failures listed
    recorded = json.loads(capsys.readouterr().out)
    assert len(recorded) == 2 and all("Purpose" in r["reason"] for r in recorded)


def test_dry_run_json_and_human_summary(
    live_tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(live_tenant, monkeypatch)
    assert cli.main(["run", "--once", "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dryRun"] is True
    assert len([p for p in report["plan"] if p["kind"] == "appointment"]) == 7
    assert cli.main(["run", "--once"]) == 0
    text = capsys.readouterr().out
    assert "appointment" in text and "skipped mailbox dave@contoso.com" in text
    assert cli.main(["status"]) == 0
    status = capsys.readouterr().out
    assert "alice@contoso.com" in status and "skipped" in status
    assert cli.main(["audit", "--json", "--limit", "3"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_bad_configuration_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SYNC_", "D365_", "GRAPH_", "AzureWebJobs")):
            monkeypatch.delenv(name)
    assert cli.main(["run", "--once"]) == cli.EXIT_CONFIG
    assert "D365_URL is required" in capsys.readouterr().err
