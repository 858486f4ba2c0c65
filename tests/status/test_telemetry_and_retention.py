"""What the alerts read: a mailbox skipped from its first day grows stale (its age counts from when it came
into scope), a valve hold is a gauge per mailbox and kind (0 on release), and the planner applies the audit
retention. Real cycles against the stand-ins, telemetry captured in memory."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from sync_core.cli import main
from sync_core.state.base import AuditEntry
from sync_core.state.sqlite import SqliteStateStore
from sync_core.telemetry import names
from sync_core.telemetry.ids import mailbox_ref
from tests.e2e.deletion_helpers import delete_activity, links
from tests.e2e.harness import Tenant
from tests.telemetry.conftest import Captured


def _ref(tenant: Tenant, address: str) -> str:
    return mailbox_ref(address, tenant.settings().d365_url)


def test_a_mailbox_skipped_from_its_first_day_grows_stale(appt_tenant: Tenant, otel: Captured) -> None:
    tenant = appt_tenant
    tenant.cycle()
    tenant.advance(hours=3)
    tenant.cycle()
    dave = [
        p
        for p in otel.points(names.MAILBOX_SYNC_AGE)
        if p.attributes[names.MAILBOX] == _ref(tenant, "dave@contoso.com")
    ]
    # A gauge keeps its last value: three hours in scope, never synced (was 0 before, so no alert ever).
    assert dave[-1].value == 3 * 3600.0 and dave[-1].attributes[names.NEVER_SYNCED] is True


def test_a_valve_hold_is_a_gauge_until_released(appt_tenant: Tenant, otel: Captured) -> None:
    tenant = appt_tenant
    tenant.cycle()
    alice = [link for link in links(tenant) if link.mailbox == "alice@contoso.com"]
    for link in alice:
        delete_activity(tenant, link.fno_key.split("|", 1)[1])
    tenant.advance(minutes=5)
    tenant.cycle(SYNC_FNO_DELETE_CHECK_MINUTES="0")
    [held] = otel.points(names.DELETIONS_HELD)
    assert held.value == len(alice)
    assert held.attributes == {names.KIND: "appointment", names.MAILBOX: _ref(tenant, "alice@contoso.com")}
    assert "alice" not in str(held.attributes)  # a keyed hash, never the address
    with pytest.MonkeyPatch.context() as patch:
        for name, value in tenant.environ.items():
            patch.setenv(name, value)
        assert main(["approve-deletes", "--mailbox", "alice@contoso.com", "--kind", "appointment"]) == 0
    tenant.advance(minutes=5)
    tenant.cycle(SYNC_FNO_DELETE_CHECK_MINUTES="0")
    [released] = otel.points(names.DELETIONS_HELD)
    assert released.value == 0  # the alert reads the latest value: resolved


def test_the_planner_removes_audit_entries_past_retention(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    store_path = tenant.settings().state_dir / "state.sqlite3"

    async def seed() -> None:
        store = SqliteStateStore(store_path)
        try:
            for days in (100, 95, 30):
                at = tenant.now - timedelta(days=days)
                await store.append_audit(
                    AuditEntry(at=at, kind="appointment", mailbox="alice@contoso.com", action="x")
                )
        finally:
            await store.close()

    async def old_entries() -> int:
        store = SqliteStateStore(store_path)
        try:
            return len(await store.list_audit(action="x"))
        finally:
            await store.close()

    asyncio.run(seed())
    tenant.cycle(dry_run=True)
    assert asyncio.run(old_entries()) == 3  # a dry run removes nothing
    tenant.cycle()
    assert asyncio.run(old_entries()) == 1  # the 30-day-old entry stays (default 90 days)
    tenant.cycle(SYNC_AUDIT_RETENTION_DAYS="0")
    assert asyncio.run(old_entries()) == 1  # 0: kept forever
