"""Helpers shared by the issue-6 end-to-end tests (deletions, valve, conflicts, recurrence, first run)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.graph import events as graph_events
from simulators.graph import ids as graph_ids
from simulators.sample_data import CATEGORY, COMPANY
from sync_core import app
from sync_core.kinds.appointment import appointment_kind
from sync_core.runtime.keys import stamp_of
from sync_core.state.base import AuditEntry, Failure, Link
from sync_core.state.sqlite import SqliteStateStore
from tests.e2e.harness import Tenant, sample_tenant

MAILBOXES = ("alice@contoso.com", "bob@contoso.com", "carol@contoso.com")
WORKERS = {"alice@contoso.com": "000101", "bob@contoso.com": "000102", "carol@contoso.com": "000103"}


@pytest.fixture
def appt_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    """The sample tenant, syncing appointments only (other kinds are tested on their own)."""
    monkeypatch.setattr(app, "all_kinds", lambda: {"appointment": appointment_kind()})
    monkeypatch.setattr(app, "all_feeds", dict)  # no e-mail import either
    with sample_tenant(tmp_path) as tenant:
        yield tenant


def graph_time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def fno_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def events_by_stamp(tenant: Tenant, mailbox: str, number: str) -> list[dict[str, Any]]:
    return [e for e in tenant.graph.events(mailbox) if stamp_of(e) == f"{COMPANY}|{number}"]


def add_activity(tenant: Tenant, mailbox: str, purpose: str, start: datetime, **extra: Any) -> str:
    record = {
        "dataAreaId": COMPANY,
        "Category": "Appointment",
        "Purpose": purpose,
        "StartDateTime": fno_time(start),
        "EndDateTime": fno_time(start + timedelta(hours=1)),
        "ResponsibleWorkerPersonnelNumber": WORKERS[mailbox],
        "KeepSynchronized": "Yes",
        "AllDay": "No",
    }
    record.update(extra)
    return str(tenant.fno.add("Activities", record)["ActivityNumber"])


def add_event(tenant: Tenant, mailbox: str, subject: str, start: datetime, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": subject,
        "start": graph_time(start),
        "end": graph_time(start + timedelta(hours=1)),
        "categories": [CATEGORY],
    }
    body.update(extra)
    return tenant.graph.add_event(mailbox, body)


def delete_activity(tenant: Tenant, number: str) -> None:
    tenant.fno.delete("Activities", {"dataAreaId": COMPANY, "ActivityNumber": number})


def update_activity(tenant: Tenant, number: str, patch: dict[str, Any]) -> None:
    tenant.fno.update("Activities", {"dataAreaId": COMPANY, "ActivityNumber": number}, patch)


def instances(tenant: Tenant, mailbox: str, master_id: str) -> list[dict[str, Any]]:
    """Occurrences and exceptions of a series (all of them, not only the window), as Graph renders them."""
    with tenant.graph.lock:
        mb = tenant.graph.find_mailbox(mailbox)
        assert mb is not None
        ref = graph_ids.decode(master_id)
        assert ref is not None
        master = mb.events[ref.key]
        rows = graph_events.instances_in(
            master, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )
        return [graph_events.render(mb, row, graph_events.RenderOptions()) for row in rows]


def _read_store(tenant: Tenant) -> tuple[list[Link], list[Failure], list[AuditEntry]]:
    async def read() -> tuple[list[Link], list[Failure], list[AuditEntry]]:
        store = SqliteStateStore(tenant.settings().state_dir / "state.sqlite3")
        try:
            links: list[Link] = []
            for mailbox in MAILBOXES:
                links.extend(await store.list_links("appointment", mailbox))
            return links, await store.list_failures(), await store.list_audit(5000)
        finally:
            await store.close()

    return asyncio.run(read())


def links(tenant: Tenant) -> list[Link]:
    return _read_store(tenant)[0]


def failures(tenant: Tenant) -> list[Failure]:
    return _read_store(tenant)[1]


def audit(tenant: Tenant) -> list[AuditEntry]:
    return _read_store(tenant)[2]
