"""The pause fields belong to the operator: a cycle's write of the mailbox record never undoes them."""

from __future__ import annotations

from datetime import UTC, datetime

from sync_core.state.base import NOT_CHECKED, MailboxRecord, StateStore

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
ALICE = "alice@contoso.com"


async def test_a_write_from_a_record_read_before_the_pause_keeps_the_pause(store: StateStore) -> None:
    read_by_cycle = await store.upsert_mailbox(MailboxRecord(mailbox=ALICE, personnel_number="000123"))
    await store.set_mailbox_pause(ALICE, True, by="admin", at=T0, reason="moving to a new worker")
    # The cycle writes what it read before the pause (e.g. its last sync time).
    written = await store.upsert_mailbox(read_by_cycle.model_copy(update={"last_synced_at": T0}))
    stored = await store.get_mailbox(ALICE)
    assert stored is not None and written.paused and stored.paused
    assert (stored.paused_by, stored.paused_at, stored.pause_reason) == (
        "admin",
        T0,
        "moving to a new worker",
    )
    assert stored.last_synced_at == T0 and stored.personnel_number == "000123"


async def test_resume_clears_the_pause_and_keeps_the_rest(store: StateStore) -> None:
    await store.upsert_mailbox(MailboxRecord(mailbox=ALICE, personnel_number="000123", time_zone="UTC"))
    await store.set_mailbox_pause(ALICE, True, by="admin", at=T0, reason="why")
    resumed = await store.set_mailbox_pause(ALICE, False, by="admin", at=T0, reason="ignored")
    stored = await store.get_mailbox(ALICE)
    assert stored == resumed
    assert stored is not None and not stored.paused
    assert (stored.paused_by, stored.paused_at, stored.pause_reason) == ("", None, "")
    assert (stored.personnel_number, stored.time_zone, stored.status) == ("000123", "UTC", "ok")


async def test_pausing_a_mailbox_no_cycle_has_seen_makes_a_skipped_record(store: StateStore) -> None:
    record = await store.set_mailbox_pause(ALICE, True, by="admin", at=T0)
    assert record.paused and record.status == "skipped" and record.reason == NOT_CHECKED
    assert [r.mailbox for r in await store.list_mailboxes()] == [ALICE]
