"""What `forget` removes from the state store, on both back ends: everything of one mailbox, nothing of
another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync_core.forget import state
from sync_core.pipeline import unlinked_base
from sync_core.state.base import AuditEntry, ContactListEntry, Cursor, Link, MailboxRecord, StateStore

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
ALICE, BOB = "alice@contoso.com", "bob@contoso.com"


async def _fill(store: StateStore, mailbox: str, user_id: str) -> None:
    await store.upsert_mailbox(MailboxRecord(mailbox=mailbox, user_id=user_id, personnel_number="000101"))
    for kind in ("appointment", "task", "contact", "shared_contact"):
        await store.save_link(
            Link(kind=kind, mailbox=mailbox, fno_key=f"usmf|{kind}-1", graph_id=f"{kind}/g+1=")
        )
    for name in state.cursor_names(mailbox)[:6]:
        await store.save_cursor(Cursor(name=name, value="token", updated_at=T0))
    # The record of a pair unmarked on one side (pipeline/unlinked_base.py), named after its F&O key.
    unlinked = unlinked_base.cursor_name("appointment", mailbox, "usmf|ACT/1")
    await store.save_cursor(Cursor(name=unlinked, value="{}", updated_at=T0))
    await store.record_failure("appointment", mailbox, "usmf|A-2", "refused", T0)
    await store.save_contact_entry(ContactListEntry(mailbox=mailbox, contact_key="usmf|CP-1", member=True))
    for minutes in range(7):  # more than one batch below
        at = T0 + timedelta(minutes=minutes)
        await store.append_audit(AuditEntry(at=at, kind="appointment", mailbox=mailbox, action="created"))


async def test_remove_takes_everything_of_one_mailbox_and_nothing_of_another(store: StateStore) -> None:
    await _fill(store, ALICE, "A1CE")
    await _fill(store, BOB, "B0B")
    await store.append_audit(AuditEntry(at=T0, kind="*", mailbox="*", action="retry-requested"))
    assert await store.get_mailbox_by_user("a1ce") is not None  # on Tables this leaves a pointer record
    bob_before = (await state.find(store, BOB)).counts()
    found = await state.find(store, ALICE)
    assert found.counts() == {
        "links": 4,
        "cursors": 7,
        "failures": 1,
        "contact list entries": 1,
        "audit entries": 7,
        "registry record": 1,
    }
    state.AUDIT_BATCH, batch = 3, state.AUDIT_BATCH  # several rounds of forget_audit
    try:
        assert await state.remove(store, ALICE, keep_record=False) == 7
    finally:
        state.AUDIT_BATCH = batch
    assert (await state.find(store, ALICE)).empty
    assert await store.get_mailbox_by_user("a1ce") is None  # nor found by the Entra id (the webhook)
    assert (await state.find(store, BOB)).counts() == bob_before
    assert (await store.get_mailbox_by_user("b0b")) is not None
    assert [e.action for e in await store.list_audit(mailbox="*")] == ["retry-requested"]
    # Run again (after a crash, say): nothing left, nothing fails.
    assert await state.remove(store, ALICE, keep_record=False) == 0


async def test_forget_audit_and_delete_mailbox_of_an_unknown_mailbox_do_nothing(store: StateStore) -> None:
    assert await store.forget_audit("nobody@contoso.com") == 0
    await store.delete_mailbox("nobody@contoso.com")
    assert await store.list_mailboxes() == []
