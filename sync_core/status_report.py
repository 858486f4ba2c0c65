"""What `python -m sync_core status` shows, read from the state store alone (no F&O, no Graph).

Per mailbox in scope (the registry, plus SYNC_MAILBOXES when set, so a mailbox is listed before its first
cycle) and per kind it serves: the last successful scan, the last error, items waiting for a retry, held
deletions (the safety valve, pipeline/valve.py) and a pause. A mailbox is "ok" only when none of these needs
an operator; a held deletion never is "ok"."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sync_core.app import SERVICE_CHECK_CURSOR
from sync_core.contacts.registry import SHARED_KIND, is_shared_only
from sync_core.pipeline.valve import VALVE_ITEM, approve_hint, state_name
from sync_core.state.base import Cursor, Failure, MailboxRecord, StateStore

DELETION_STATES = "deletions:"  # the prefix of every valve.state_name (tests/console checks it)
# Kinds in the order they are shown; a shared-list mailbox serves only the shared list.
KINDS = ("appointment", "task", "email", "contact", SHARED_KIND)

OK, NEVER_SYNCED, PAUSED, SKIPPED, HELD, FAILING = (
    "ok",
    "never synced",
    "paused",
    "skipped",
    "deletions held",
    "failing",
)


@dataclass
class KindStatus:
    kind: str
    state: str
    last_sync: str | None  # the mailbox's last successful scan, unless this kind's scan is failing
    last_error: str | None
    waiting_for_retry: int
    open_failures: int
    held_deletions: int
    held_reason: str | None
    next_step: str | None


@dataclass
class MailboxStatus:
    mailbox: str
    state: str
    worker: str
    reason: str | None
    last_sync: str | None
    in_scope_since: str | None
    paused_by: str | None
    paused_at: str | None
    pause_reason: str | None
    kinds: list[KindStatus] = field(default_factory=list)


@dataclass
class StatusReport:
    service_check: str  # the last F&O service check: "as required", "not checked yet", or its warnings
    service_warnings: list[str]
    mailboxes: list[MailboxStatus]
    feed_problems: list[str]  # F&O change feeds whose scan fails (they serve every mailbox)
    open_failures: int
    waiting_for_retry: int

    def items_failed(self) -> bool:
        """Exit 1: an item or a feed failed, or deletions wait for an operator (a skipped, paused or not yet
        synced mailbox is a state, and a service warning a warning: both shown, neither a failure)."""
        return bool(self.feed_problems) or any(m.state in (FAILING, HELD) for m in self.mailboxes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def service_check(cursor: Cursor | None) -> tuple[str, list[str]]:
    """The last check of F&O's entities (kept by each process's first cycle, app.apply_service_check)."""
    if cursor is None:
        return "not checked yet (runs with the first cycle)", []
    try:
        saved = json.loads(cursor.value)
        warnings, at = [str(w) for w in saved["warnings"]], str(saved["checkedAt"])
    except (ValueError, KeyError, TypeError):
        return "last check unreadable (the next cycle writes it again)", []
    return (f"checked {at}" if warnings else f"as required (checked {at})"), warnings


def _held(cursor: Cursor | None) -> tuple[int, str] | None:
    """Items held and the reason, from the valve's deletion state (a small JSON record in the cursors)."""
    if cursor is None:
        return None
    try:
        state = json.loads(cursor.value)
    except ValueError:
        return None
    if not isinstance(state, dict) or not state.get("held"):
        return None
    return int(state.get("count") or 0), str(state.get("reason") or "")


def _kinds_of(record: MailboxRecord, failures: list[Failure]) -> list[str]:
    served = [SHARED_KIND] if is_shared_only(record) else [k for k in KINDS if k != SHARED_KIND]
    extra = {f.kind for f in failures} - set(served)
    return served + sorted(extra)


async def _kind_status(
    store: StateStore,
    record: MailboxRecord,
    kind: str,
    failures: list[Failure],
    states: dict[str, Cursor] | None = None,
) -> KindStatus:
    """`states`: every deletion state, read at once (`collect_status`); else this one is read."""
    mine = [f for f in failures if f.kind == kind and f.item_key != VALVE_ITEM]
    scan_failing = next((f for f in mine if f.item_key.startswith("scan:")), None)
    name = state_name(kind, record.mailbox)
    held = _held(states.get(name) if states is not None else await store.get_cursor(name))
    latest = max(mine, key=lambda f: f.last_at, default=None)
    last_sync = None if scan_failing else _iso(record.last_synced_at)
    if record.paused:
        state, step = PAUSED, f"python -m sync_core resume --mailbox {record.mailbox}"
    elif held is not None:
        state, step = HELD, approve_hint(kind, record.mailbox) + " --dry-run"
    elif mine:
        state, step = FAILING, f"python -m sync_core failures --mailbox {record.mailbox} --kind {kind}"
    elif record.status != "ok":
        state, step = SKIPPED, None
    elif record.last_synced_at is None:
        state, step = NEVER_SYNCED, None
    else:
        state, step = OK, None
    return KindStatus(
        kind=kind,
        state=state,
        last_sync=last_sync,
        last_error=latest.reason if latest else None,
        waiting_for_retry=sum(f.waiting_for_retry for f in mine),
        open_failures=len(mine),
        held_deletions=held[0] if held else 0,
        held_reason=held[1] if held else None,
        next_step=step,
    )


def _mailbox_state(record: MailboxRecord, kinds: list[KindStatus]) -> str:
    if record.paused:
        return PAUSED
    if record.status != "ok":
        return SKIPPED
    for state in (HELD, FAILING):
        if any(k.state == state for k in kinds):
            return state
    return NEVER_SYNCED if record.last_synced_at is None else OK


async def collect_status(store: StateStore, scope: tuple[str, ...] = ()) -> StatusReport:
    """`scope`: SYNC_MAILBOXES when set; a mailbox there without a record is listed as never synced."""
    records = {r.mailbox: r for r in await store.list_mailboxes()}
    for address in scope:
        records.setdefault(address, MailboxRecord(mailbox=address, status="ok"))
    failures = await store.list_failures()
    summary, warnings = service_check(await store.get_cursor(SERVICE_CHECK_CURSOR))
    # One query for every deletion state, not one read per mailbox and kind (1,000 mailboxes: 5,000).
    states = {c.name: c for c in await store.list_cursors(DELETION_STATES)}
    by_mailbox: dict[str, list[Failure]] = {}
    for failure in failures:
        by_mailbox.setdefault(failure.mailbox, []).append(failure)
    mailboxes: list[MailboxStatus] = []
    for address in sorted(records):
        record = records[address]
        own = by_mailbox.get(address, [])
        kinds = [await _kind_status(store, record, k, own, states) for k in _kinds_of(record, own)]
        mailboxes.append(_mailbox_row(record, kinds))
    feeds = [f"{f.kind}: {f.reason}" for f in failures if f.item_key.startswith("scan:fno:")]
    return StatusReport(
        service_check=summary,
        service_warnings=warnings,
        mailboxes=mailboxes,
        feed_problems=feeds,
        open_failures=len(failures),
        waiting_for_retry=sum(f.waiting_for_retry for f in failures),
    )


def _mailbox_row(record: MailboxRecord, kinds: list[KindStatus]) -> MailboxStatus:
    return MailboxStatus(
        mailbox=record.mailbox,
        state=_mailbox_state(record, kinds),
        worker=record.personnel_number,
        reason=record.reason or None,
        last_sync=_iso(record.last_synced_at),
        in_scope_since=_iso(record.first_seen_at),
        paused_by=record.paused_by or None if record.paused else None,
        paused_at=_iso(record.paused_at) if record.paused else None,
        pause_reason=record.pause_reason or None if record.paused else None,
        kinds=kinds,
    )


async def mailbox_status(
    store: StateStore, address: str, scope: tuple[str, ...] = ()
) -> MailboxStatus | None:
    """One mailbox's status as `collect_status` shows it (the console's mailbox page), or None when the
    mailbox is neither in the registry nor in `scope`."""
    record = await store.get_mailbox(address)
    if record is None:
        if address not in scope:
            return None
        record = MailboxRecord(mailbox=address, status="ok")
    own = [f for f in await store.list_failures() if f.mailbox == address]
    kinds = [await _kind_status(store, record, k, own) for k in _kinds_of(record, own)]
    return _mailbox_row(record, kinds)
