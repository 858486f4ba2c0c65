"""The state store contract: records and the one interface both back ends implement.

Every write that can race is guarded by an ETag: pass the `etag` you read (or None to insert a
record that must not exist yet) and the store raises `ConcurrencyError` when someone else won.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class StateError(Exception):
    """Base class of state store errors."""


class ConcurrencyError(StateError):
    """The record changed (or appeared, or vanished) since it was read: re-read and retry."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    # Opaque optimistic-concurrency token from the store; None for a record not yet stored.
    etag: str | None = None


# Prefix of a link side that is claimed but not created yet ("pending:<the other side's key>").
PENDING = "pending:"


def is_claimed_key(key: str) -> bool:
    """A link side's key that is only claimed: its item is being created (or a crash left the claim)."""
    return key.startswith(PENDING)


class Link(_Record):
    """One linked pair: an F&O record and its Exchange partner, with the last synced snapshot."""

    kind: str  # "appointment", "task", ...
    mailbox: str  # lower-case primary SMTP address
    fno_key: str  # canonical F&O key string, e.g. "usmf|ACT-000123"
    graph_id: str  # immutable Graph id (may contain / + =)
    fno_version: str = ""  # e.g. LastDateTimeEdited as ISO text
    graph_version: str = ""  # e.g. changeKey
    # The F&O row's `@odata.etag` when last read and not written since ("" unknown): a change from
    # Outlook is then written with `If-Match` without reading the row first.
    fno_etag: str = ""
    snapshot: dict[str, Any] = Field(default_factory=dict)  # canonical record as JSON-able dict
    snapshot_hash: str = ""
    synced_at: datetime | None = None
    active: bool = True  # False once unlinked (kept so an unmark is not re-imported)
    # Whether the mailbox organises the Exchange item: once the item is deleted it cannot be asked,
    # and the deletion rule needs it (an attendee removing a meeting must not delete it in F&O).
    organizer: bool = True
    # Of a claim: the worker that made it, `host:pid` (runtime/owner.py), so another attempt can tell a
    # create in progress from one a dead worker left.
    owner: str = ""

    @property
    def is_claim(self) -> bool:
        """One side is only claimed (a creation in progress, or left by a crash)."""
        return self.claimed_side is not None

    @property
    def claimed_side(self) -> Literal["fno", "graph"] | None:
        """The side a claim is creating (its key is only claimed); None for a link."""
        if is_claimed_key(self.fno_key):
            return "fno"
        return "graph" if is_claimed_key(self.graph_id) else None


class Cursor(_Record):
    """A delta token or watermark, named by the feed it belongs to."""

    name: str  # e.g. "graph:events:alice@contoso.com" or "fno:activities:appointment"
    value: str
    updated_at: datetime | None = None


class MailboxRecord(_Record):
    mailbox: str  # lower-case
    user_id: str = ""  # Entra object id, when known
    personnel_number: str = ""  # F&O worker, empty when none matched
    company: str = ""  # dataAreaId for items created from Exchange
    time_zone: str = ""  # IANA name resolved from mailboxSettings
    status: str = "ok"  # "ok" or "skipped"
    reason: str = ""  # why skipped
    last_synced_at: datetime | None = None
    checked_at: datetime | None = None  # when user, time zone and category were last read from Graph
    # When the planner first found it in scope: a mailbox never synced is as stale as it is old.
    first_seen_at: datetime | None = None
    # Set by an operator (`pause` / `resume`): a paused mailbox is not scanned and its queued item
    # messages wait without writing. The planner keeps these fields when it refreshes the record.
    paused: bool = False
    paused_by: str = ""
    paused_at: datetime | None = None
    pause_reason: str = ""


# The operator's fields of a mailbox record: only `set_mailbox_pause` writes them; `upsert_mailbox` (the
# planner's and the scans' write) keeps what is stored, so a cycle that read the record before a pause
# cannot undo it.
PAUSE_FIELDS = ("paused", "paused_by", "paused_at", "pause_reason")
NOT_CHECKED = "not checked by a sync cycle yet"


def keeping_pause(record: MailboxRecord, stored: MailboxRecord | None) -> MailboxRecord:
    """`record` with the pause fields as stored."""
    if stored is None:
        return record
    return record.model_copy(update={name: getattr(stored, name) for name in PAUSE_FIELDS})


def with_pause(
    stored: MailboxRecord | None, mailbox: str, paused: bool, by: str, at: datetime | None, reason: str
) -> MailboxRecord:
    """The stored record (or a bare one, skipped until a cycle checks it) with the pause set or cleared."""
    base = stored or MailboxRecord(mailbox=mailbox, status="skipped", reason=NOT_CHECKED)
    if not paused:
        by, at, reason = "", None, ""
    return base.model_copy(
        update={"paused": paused, "paused_by": by, "paused_at": at, "pause_reason": reason}
    )


class AuditEntry(_Record):
    at: datetime
    kind: str
    mailbox: str
    fno_key: str = ""
    graph_id: str = ""
    action: str  # created-in-exchange, updated-in-fno, conflict, unlinked, ...
    detail: dict[str, Any] = Field(default_factory=dict)  # ids and field names; no personal data
    # Of a write by the pair job: seconds from the source item's last-modified time to the write (clamped
    # at 0 for clock skew; None when the source gives no time), and the planning cycle that queued it.
    # Both optional, so entries written before them still load. Neither carries personal data.
    latency_s: float | None = None
    cycle_id: str = ""


class Failure(_Record):
    kind: str
    mailbox: str
    item_key: str  # fno_key or graph_id the failure is about
    reason: str
    attempts: int = 1
    first_at: datetime
    last_at: datetime
    # The work list: a failure whose queue message ran out of attempts (or reached a poison queue) keeps
    # the message (without carried items) and when a later cycle queues it again. A permanent failure
    # (the item cannot succeed as it is) has no retry time: it is retried when its item changes.
    message: str = ""
    retry_at: datetime | None = None
    retries: int = 0  # how often the work list queued it again (the backoff grows with it)

    @property
    def waiting_for_retry(self) -> bool:
        return bool(self.message) and self.retry_at is not None


def bumped_failure(
    old: Failure | None,
    kind: str,
    mailbox: str,
    item_key: str,
    reason: str,
    at: datetime,
    message: str | None,
    retry_at: datetime | None,
) -> Failure:
    """The failure record after one more failed attempt (both back ends share this rule)."""
    if old is None:
        return Failure(
            kind=kind,
            mailbox=mailbox,
            item_key=item_key,
            reason=reason,
            first_at=at,
            last_at=at,
            message=message or "",
            retry_at=retry_at,
        )
    update: dict[str, Any] = {"attempts": old.attempts + 1, "reason": reason, "last_at": at}
    if message is not None:
        if retry_at is not None and old.retry_at is not None and old.retry_at > retry_at:
            retry_at = old.retry_at  # the work list already moved it on (its backoff grows per retry)
        update.update({"message": message, "retry_at": retry_at})
    return old.model_copy(update=update)


class ContactListEntry(_Record):
    """An explicit change to one mailbox's contact list (contacts issue): on it although the rule or
    query does not say so (`member` True), or kept off it (`member` False). `pending` until a contacts
    scan has queued the change, so an edit made from the command line reaches the next cycle."""

    mailbox: str  # lower-case
    contact_key: str  # F&O key, e.g. "usmf|CP-000123"
    member: bool
    origin: str = "cli"  # "cli" (an operator) or "outlook" (created in / deleted from that mailbox)
    changed_at: datetime | None = None
    pending: bool = True


def mailbox_of_user(records: list[MailboxRecord], user_id: str) -> MailboxRecord | None:
    """Of the records with that Entra object id (an address change can leave two), the one in use: status
    "ok" first, then the most recently checked (both back ends share this rule)."""
    found = [r for r in records if r.user_id and r.user_id.lower() == user_id.lower()]
    oldest = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda r: (r.status == "ok", _aware(r.checked_at) or oldest), reverse=True)
    return found[0] if found else None


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class StateStore(Protocol):
    """One interface, two back ends (SQLite embedded, Azure Table Storage)."""

    async def close(self) -> None: ...

    # Links: looked up by either side's id within (kind, mailbox).
    async def get_link_by_fno(self, kind: str, mailbox: str, fno_key: str) -> Link | None: ...
    async def get_link_by_graph(self, kind: str, mailbox: str, graph_id: str) -> Link | None: ...
    async def save_link(self, link: Link) -> Link:
        """Insert (etag None; fails if a link with that fno_key or graph_id exists) or replace
        (etag must match). Both ids are indexed atomically. Returns the link with its new etag."""
        ...

    async def delete_link(self, link: Link) -> None:
        """Remove the link and both its index entries; etag must match."""
        ...

    async def list_links(self, kind: str, mailbox: str) -> list[Link]: ...
    async def get_links_by_fno(self, kind: str, mailbox: str, fno_keys: Sequence[str]) -> dict[str, Link]:
        """The links of many F&O keys at once (a feed page's), keyed by fno_key; keys without a link are
        left out. A few queries instead of one read per key."""
        ...

    async def get_links_by_graph(self, kind: str, mailbox: str, graph_ids: Sequence[str]) -> dict[str, Link]:
        """As get_links_by_fno, by Exchange id."""
        ...

    # Cursors (delta tokens, watermarks).
    async def get_cursor(self, name: str) -> Cursor | None: ...
    async def save_cursor(self, cursor: Cursor) -> Cursor: ...
    async def delete_cursor(self, name: str) -> None: ...
    async def list_cursors(self, prefix: str) -> list[Cursor]:
        """Every cursor whose name starts with `prefix` (one query: `status` and the console read all
        deletion states at once instead of one read per mailbox and kind)."""
        ...

    # Mailbox registry (last write wins: the planner and the scans write it), but the pause fields are
    # the operator's: upsert keeps them as stored, set_mailbox_pause writes only them.
    async def upsert_mailbox(self, record: MailboxRecord) -> MailboxRecord: ...
    async def set_mailbox_pause(
        self, mailbox: str, paused: bool, *, by: str = "", at: datetime | None = None, reason: str = ""
    ) -> MailboxRecord:
        """Set or clear the pause (the other fields stay as stored; a bare skipped record is made when the
        mailbox has none yet). Returns the record as stored."""
        ...

    async def get_mailbox(self, mailbox: str) -> MailboxRecord | None: ...
    async def get_mailbox_by_user(self, user_id: str) -> MailboxRecord | None:
        """The mailbox of an Entra object id (any case), by a point lookup: its cost does not grow with the
        registry (the change-notification webhook calls it per notification). See `mailbox_of_user`."""
        ...

    async def list_mailboxes(self) -> list[MailboxRecord]: ...
    async def delete_mailbox(self, mailbox: str) -> None:
        """Remove the mailbox's registry record and its Entra id lookup (`forget`); none stored is fine."""

    async def get_mailboxes(self, mailboxes: Sequence[str]) -> dict[str, MailboxRecord]:
        """The records of many mailboxes (a planner chunk's), keyed by address; unknown ones left out. One
        range read of the registry partition, not one read per mailbox."""
        ...

    # Audit log (append only) and failures (one open failure per kind+mailbox+item_key).
    async def append_audit(self, entry: AuditEntry) -> None: ...
    async def list_audit(
        self,
        limit: int = 1000,
        *,
        mailbox: str | None = None,
        kind: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        """Newest first; only entries matching every given filter (`since`: at or after)."""
        ...

    async def purge_audit(self, before: datetime, *, batch: int = 500) -> int:
        """Remove at most `batch` entries older than `before`; returns how many (retention, a batch a cycle)."""
        ...

    async def forget_audit(self, mailbox: str, *, batch: int = 500) -> int:
        """Remove at most `batch` entries of that mailbox; returns how many (`forget` calls it until 0)."""
        ...

    async def record_failure(
        self,
        kind: str,
        mailbox: str,
        item_key: str,
        reason: str,
        at: datetime,
        *,
        message: str | None = None,
        retry_at: datetime | None = None,
    ) -> Failure:
        """Create or bump (attempts += 1, last_at, reason) the open failure for that item. `message` (when
        given) and `retry_at` replace the work-list fields; `message=None` keeps them as they are."""
        ...

    async def save_failure(self, failure: Failure) -> Failure:
        """Replace the failure read with its etag (ConcurrencyError when it changed or vanished)."""
        ...

    async def clear_failure(self, kind: str, mailbox: str, item_key: str) -> None: ...
    async def list_failures(self) -> list[Failure]: ...

    # Contact list entries (one per mailbox + contact): insert with etag None, replace/delete by etag.
    async def get_contact_entry(self, mailbox: str, contact_key: str) -> ContactListEntry | None: ...
    async def save_contact_entry(self, entry: ContactListEntry) -> ContactListEntry: ...
    async def delete_contact_entry(self, entry: ContactListEntry) -> None: ...
    async def list_contact_entries(
        self, mailbox: str | None = None, *, contact_key: str | None = None, pending: bool | None = None
    ) -> list[ContactListEntry]:
        """Entries matching every given filter, ordered by mailbox and contact key."""
        ...
