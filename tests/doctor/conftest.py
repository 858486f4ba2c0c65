"""A sample tenant (tests/e2e/harness.py) and a way to run `python -m sync_core doctor` against it."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sync_core.cli import main
from tests.e2e.harness import Tenant, sample_tenant

ALL_ROLES = (
    "User.Read.All",
    "Calendars.ReadWrite",
    "MailboxSettings.ReadWrite",
    "Mail.ReadWrite",
    "Tasks.ReadWrite.All",
    "Contacts.ReadWrite",
)
# The sample tenant's mailboxes that have an F&O worker (dave@ has none, on purpose).
WITH_WORKERS = "alice@contoso.com,bob@contoso.com,carol@contoso.com"


def jwt(roles: tuple[str, ...]) -> str:
    """An app-only token's shape: header.payload.signature, the payload carrying `roles`."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part({'aud': 'https://graph.microsoft.com', 'roles': list(roles)})}.c2ln"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class Outcome:
    code: int
    document: dict[str, Any]
    seconds: float
    err: str

    def checks(self, verdict: str | None = None) -> list[dict[str, Any]]:
        return [c for c in self.document["checks"] if verdict is None or c["verdict"] == verdict]

    def find(self, area: str, check: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = [
            c for c in self.document["checks"] if c["area"] == area and c["check"] == check
        ]
        assert len(found) == 1, (area, check, self.document["checks"])
        return found[0]


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as tenant:
        token = jwt(ALL_ROLES)
        tenant.graph.token = tenant.fno.token = token
        tenant.environ.update({"SYNC_STATIC_TOKEN": token, "SYNC_MAILBOXES": WITH_WORKERS})
        yield tenant


def run_doctor(
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    **env: str,
) -> Outcome:
    """The command as an administrator runs it: settings from the environment, JSON on standard output."""
    for name, value in {**tenant.environ, **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tenant.environ["SYNC_STATE_DIR"].rsplit("/", 1)[0])  # no local.settings.json here
    capsys.readouterr()
    started = time.monotonic()
    code = main(["doctor", "--json", *args])
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    document = json.loads(captured.out) if captured.out.strip() else {"checks": []}
    return Outcome(code, document, seconds, captured.err)
