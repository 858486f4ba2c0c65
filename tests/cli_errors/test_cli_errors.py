"""Expected failures of `python -m sync_core run --once`, run as a real process against the sample tenant:
one message naming the host and what to do, exit 3 within a bounded time, no traceback; "refused" only
for a 401; one failed item exits 1, a bad setting 2; `-v` logs no mailbox address."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
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
# Five retries from 0.05 s doubling: about 1.6 s of waiting before a service counts as unreachable.
FAST_RETRIES = {"SYNC_NETWORK_RETRY_SECONDS": "0.05"}
BOUND_SECONDS = 30.0


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path, now=datetime.now(UTC)) as value:
        yield value


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_cli(tenant: Tenant, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **tenant.environ, **FAST_RETRIES, "PYTHONPATH": str(ROOT), **env}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "sync_core", *args],
        cwd=tenant.settings().state_dir.parent,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert time.monotonic() - started < BOUND_SECONDS, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def service_failures(tenant: Tenant) -> list[dict[str, Any]]:
    done = run_cli(tenant, "failures", "--json")
    return [f for f in json.loads(done.stdout) if f["kind"] == "service"]


def test_wrong_fno_token_is_refused_names_the_host_and_the_readme_step(tenant: Tenant) -> None:
    tenant.fno.token = "not-the-app-token"
    done = run_cli(tenant, "run", "--once")
    host = tenant.environ["D365_URL"].split("//")[1]
    assert done.returncode == cli.EXIT_UNUSABLE
    assert f"F&O at {host} refused the app's token (HTTP 401)" in done.stderr
    assert "Register the identity in F&O" in done.stderr
    [recorded] = service_failures(tenant)
    assert recorded["item"] == "F&O" and host in recorded["reason"]

    tenant.fno.token = "e2e-token"  # fixed: the next cycle gets through and the service failure goes
    assert run_cli(tenant, "run", "--once").returncode == cli.EXIT_OK
    assert service_failures(tenant) == []


def test_wrong_graph_token_is_refused_with_the_permissions_section(tenant: Tenant) -> None:
    tenant.graph.token = "not-the-app-token"
    done = run_cli(tenant, "run", "--once", "--json")
    host = tenant.environ["GRAPH_URL"].split("//")[1].split("/")[0]
    assert done.returncode == cli.EXIT_UNUSABLE
    assert f"Microsoft Graph at {host} refused the app's token (HTTP 401" in done.stderr
    assert "Microsoft Graph (application permissions, admin consent)" in done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["exitCode"] == 3 and error["host"] == host and error["service"] == "Microsoft Graph"


@pytest.mark.parametrize("setting", ["D365_URL", "GRAPH_URL"])
def test_unreachable_service_retries_visibly_then_stops(tenant: Tenant, setting: str) -> None:
    host = f"127.0.0.1:{closed_port()}"
    done = run_cli(
        tenant, "run", "--once", **{setting: f"http://{host}" + ("/v1.0" if setting == "GRAPH_URL" else "")}
    )
    service = "F&O" if setting == "D365_URL" else "Microsoft Graph"
    assert done.returncode == cli.EXIT_UNUSABLE
    assert (
        f"{service} at {host} not reachable (nothing accepts connections there), retrying in" in done.stderr
    )
    assert "(5 of 5)" in done.stderr and "(6 of 5)" not in done.stderr
    assert f"error: {service} at {host} not reachable" in done.stderr
    assert setting in done.stderr  # what to check
    assert "refused" not in done.stderr.lower()  # nothing answered, so nothing refused
    # Stopped early: one request went through its retries, the others failed at once.
    assert done.stderr.count("retrying in") == 5


def test_d365_url_with_a_typo_host_says_dns(tenant: Tenant) -> None:
    done = run_cli(tenant, "run", "--once", D365_URL="https://usmf-typo.invalid")
    assert done.returncode == cli.EXIT_UNUSABLE
    assert "F&O at usmf-typo.invalid not reachable (host name not found in DNS)" in done.stderr
    assert "refused" not in done.stderr.lower()


def test_bad_setting_exits_2_naming_it(tenant: Tenant) -> None:
    done = run_cli(tenant, "run", "--once", SYNC_WINDOW_DAYS_BACK="thirty")
    assert done.returncode == cli.EXIT_CONFIG
    assert done.stderr.startswith("configuration error: SYNC_WINDOW_DAYS_BACK")
    assert "What to do:" in done.stderr


def test_verbose_run_logs_no_mailbox_address_and_shows_progress(tenant: Tenant) -> None:
    done = run_cli(tenant, "-v", "run", "--once")
    assert done.returncode == cli.EXIT_OK, done.stderr
    addresses = {r.mailbox for r in tenant.settings().shared_lists} | set(tenant.settings().mailboxes)
    assert addresses and "INFO" in done.stderr
    assert [a for a in addresses if a in done.stderr.lower()] == []
    assert "progress: mailbox 1 of" in done.stderr and "progress: mailbox 1 of" not in done.stdout


def test_one_failed_item_exits_1(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**tenant.environ, **FAST_RETRIES}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tenant.settings().state_dir.parent)

    async def rejected(self: AppointmentWrites, *args: Any, **kwargs: Any) -> Any:
        raise FnoError(400, "Field 'Purpose' must be filled in.")

    monkeypatch.setattr(AppointmentWrites, "create_in_fno", rejected)
    assert cli.main(["run", "--once"]) == cli.EXIT_ITEM_FAILED
