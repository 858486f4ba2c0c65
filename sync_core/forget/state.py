"""Everything the state store keeps about one mailbox: found first (the dry run prints it), then removed.

Per mailbox the store holds links (one partition per kind), cursors named after the mailbox (delta tokens,
reconciliation times, held deletions, subscription records, poll markers), open failures, contact list entries, audit
entries and the registry record. The e-mail import's records are per company, keyed by the message's
internetMessageId (`email_import/claims.py`), and name no mailbox: they stay, as the F&O activities they
stand for do."""

from __future__ import annotations

from dataclasses import dataclass, field

from sync_core.kinds import all_feeds, all_kinds
from sync_core.notifications.subscriptions import KIND_COLLECTIONS
from sync_core.notifications.subscriptions import record_name as subscription_name
from sync_core.pipeline import unlinked_base
from sync_core.pipeline.poll_schedule import marker_name as poll_marker_name
from sync_core.pipeline.reconcile import cursor_name as reconcile_name
from sync_core.pipeline.valve import state_name as deletions_name
from sync_core.runtime.keys import exchange_cursor_name
from sync_core.state.base import ContactListEntry, Cursor, Failure, Link, MailboxRecord, StateStore

AUDIT_BATCH = 500
# Counting a mailbox's audit entries for the dry run reads at most this many.
AUDIT_COUNT_LIMIT = 100_000


def mailbox_kinds() -> list[str]:
    """Every kind whose links or cursors may name a mailbox."""
    return sorted(set(all_kinds()) | set(all_feeds()) | set(KIND_COLLECTIONS))


def cursor_names(mailbox: str) -> list[str]:
    names: list[str] = []
    for kind in mailbox_kinds():
        names.extend(
            (
                exchange_cursor_name(kind, mailbox),
                reconcile_name(kind, mailbox),
                deletions_name(kind, mailbox),
                subscription_name(kind, mailbox),
                poll_marker_name(kind, mailbox),
            )
        )
    return names


@dataclass
class MailboxState:
    """What the store holds about one mailbox."""

    mailbox: str
    record: MailboxRecord | None = None
    links: list[Link] = field(default_factory=list)
    cursors: list[Cursor] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    entries: list[ContactListEntry] = field(default_factory=list)
    audit: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "links": len(self.links),
            "cursors": len(self.cursors),
            "failures": len(self.failures),
            "contact list entries": len(self.entries),
            "audit entries": self.audit,
            "registry record": int(self.record is not None),
        }

    @property
    def empty(self) -> bool:
        return not any(self.counts().values())

    def subscription_cursors(self) -> list[Cursor]:
        prefix = "subscription:"
        return [c for c in self.cursors if c.name.startswith(prefix)]


async def _unlink_records(store: StateStore, mailbox: str) -> list[Cursor]:
    """The records of unlinked pairs (pipeline/unlinked_base.py): one per unmarked pair, so listed by prefix."""
    found: list[Cursor] = []
    for kind in mailbox_kinds():
        found.extend(await store.list_cursors(unlinked_base.cursor_prefix(kind, mailbox)))
    return found


async def find(store: StateStore, mailbox: str) -> MailboxState:
    found = MailboxState(mailbox=mailbox, record=await store.get_mailbox(mailbox))
    for kind in mailbox_kinds():
        found.links.extend(await store.list_links(kind, mailbox))
    for name in cursor_names(mailbox):
        cursor = await store.get_cursor(name)
        if cursor is not None:
            found.cursors.append(cursor)
    found.cursors.extend(await _unlink_records(store, mailbox))
    found.failures = [f for f in await store.list_failures() if f.mailbox == mailbox]
    found.entries = await store.list_contact_entries(mailbox)
    found.audit = len(await store.list_audit(AUDIT_COUNT_LIMIT, mailbox=mailbox))
    return found


async def remove(store: StateStore, mailbox: str, *, keep_record: bool) -> int:
    """Remove what the store holds about `mailbox` (read again here: what a cycle wrote since the dry run
    goes too); returns how many audit entries went. Every step is idempotent: after a crash `forget` is
    run again and finishes the job."""
    for kind in mailbox_kinds():
        for link in await store.list_links(kind, mailbox):
            await store.delete_link(link)
    for name in cursor_names(mailbox):
        await store.delete_cursor(name)
    for cursor in await _unlink_records(store, mailbox):
        await store.delete_cursor(cursor.name)
    for failure in await store.list_failures():
        if failure.mailbox == mailbox:
            await store.clear_failure(failure.kind, failure.mailbox, failure.item_key)
    for entry in await store.list_contact_entries(mailbox):
        await store.delete_contact_entry(entry)
    removed = 0
    while True:
        batch = await store.forget_audit(mailbox, batch=AUDIT_BATCH)
        removed += batch
        if batch < AUDIT_BATCH:
            break
    if not keep_record:
        await store.delete_mailbox(mailbox)
    return removed
