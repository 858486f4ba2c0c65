"""Which mailbox feeds the planner reads this cycle when change notifications are on (docs/notifications.md).

A feed with a healthy subscription (made or renewed, not expired, no `missed`, no failed renewal or
reauthorization since, and read in full since it became healthy) is read when a notification comes (the
webhook queues its scan) and otherwise only at its safety-poll slot (SYNC_SAFETY_POLL_MINUTES, phase-shifted
per mailbox and kind by a stable hash, as runtime/phase.py spreads other periodic work). The reconciliation
(pipeline/reconcile.py) runs inside a scan, as before: with the first read after its slot, so at most one
safety-poll interval later than without notifications. Every other (mailbox, kind) is read every cycle, as
without notifications.

To Do sends no change notifications to applications (docs/notifications.md cites the page), so a mailbox's
tasks are read every cycle while they changed lately, then less often: the wait after a read equals how long
the tasks had been unchanged at that read (so it doubles), up to SYNC_TODO_POLL_MAX_MINUTES. Only a change a
person made in To Do starts over: one the mailbox's task feed lists and the scan queues, or one the pair job
of an F&O change finds when it reads the To Do task to write it (another version than its link's, moved, or
deleted: note_todo_side_read). Not the feed's echo of the sync's own write (a task at the version its link
holds: scan.py queues nothing for it), and not a task changed in F&O as such: its pair job writes To Do
itself, and an edit in F&O (often by someone else than the task's owner) tells nothing about edits in To Do.
A To Do edit made right after one in F&O so waits what any To Do edit waits at that point of the back-off:
at most SYNC_TODO_POLL_MAX_MINUTES (docs/notifications.md).

State: the subscription records (notifications/subscriptions.py, their `since`) and one record per mailbox and
kind, `polled:{kind}:{mailbox}` = {"read": start of the last complete feed read, "changed": when a change was
last seen}, written by the scans. The planner reads both with one range read each (a chunk of a big tenant:
point reads of its own), and hands the subscription records on to the subscription upkeep, which then reads
none itself. Without notifications nothing here reads
or writes anything.

Crash safety: a scan notes its read only after it queued its work and saved its delta cursor, and notes the
time it started reading, so a read cut short counts for nothing; a notification's scan message is durable in
the queue; the safety poll bounds whatever is lost in spite of both."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sync_core.contacts.registry import serves
from sync_core.model.datetimes import parse_instant
from sync_core.notifications.subscriptions import KIND_COLLECTIONS, Stored, notification_urls
from sync_core.pipeline.reconcile import last_slot
from sync_core.runtime.context import SyncContext
from sync_core.runtime.kind import GraphItem
from sync_core.runtime.messages import ScanMailbox
from sync_core.settings import Settings
from sync_core.state.base import ConcurrencyError, Cursor, Link, MailboxRecord

log = logging.getLogger(__name__)

TODO_KIND = "task"
PREFIX = "polled:"
SUBSCRIPTIONS = "subscription:"
# A timer cycle comes a little early or late: a read due within this is done this cycle, not the next.
TOLERANCE = timedelta(seconds=60)
_WRITE_ATTEMPTS = 3
_PARALLEL_READS = 16  # a chunk's point reads in flight at once


def marker_name(kind: str, mailbox: str) -> str:
    return f"{PREFIX}{kind}:{mailbox.lower()}"


def active(settings: Settings, dry_run: bool = False) -> bool:
    """Notification-first scanning is on: notifications are, and this run writes what it reads."""
    return bool(settings.notification_url) and not dry_run


def _kind_scheduled(settings: Settings, kind: str) -> bool:
    if kind == TODO_KIND:
        return settings.todo_poll_max_minutes > 0
    return kind in KIND_COLLECTIONS and settings.safety_poll_minutes > 0


@dataclass(frozen=True)
class Marker:
    read: datetime | None = None
    changed: datetime | None = None

    @classmethod
    def parse(cls, text: str | None) -> Marker:
        try:
            data = json.loads(text or "")
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls(read=_instant(data.get("read")), changed=_instant(data.get("changed")))

    def dump(self) -> str:
        return json.dumps({"read": _stamp(self.read), "changed": _stamp(self.changed)}, sort_keys=True)


def _instant(value: object) -> datetime | None:
    return parse_instant(value) if isinstance(value, str) and value else None


def _stamp(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


@dataclass
class Schedule:
    """The planner's view for one cycle. Inactive: every (mailbox, kind) is scanned."""

    settings: Settings
    now: datetime
    is_active: bool = False
    subscriptions: dict[str, Cursor] = field(default_factory=dict)
    markers: dict[str, Cursor] = field(default_factory=dict)

    def wants(self, kind: str, mailbox: str) -> bool:
        """Whether the planner queues this (mailbox, kind)'s scan this cycle."""
        if not self.is_active or not _kind_scheduled(self.settings, kind):
            return True
        marker_cursor = self.markers.get(marker_name(kind, mailbox))
        marker = Marker.parse(marker_cursor.value if marker_cursor else None)
        if marker.read is None or marker.read > self.now + TOLERANCE:
            return True  # never read in full (or a clock that jumped back): read it
        if kind == TODO_KIND:
            return self._todo_due(mailbox, marker)
        return self._subscribed_due(kind, mailbox, marker.read)

    def _subscribed_due(self, kind: str, mailbox: str, read: datetime) -> bool:
        since = healthy_since(
            self.settings, self.now, self.subscriptions.get(_subscription_name(kind, mailbox))
        )
        if since is None or read <= since:
            # No healthy subscription, or not read in full since it became healthy (a read that started at
            # the same instant may have started before it: not enough).
            return True
        interval = timedelta(minutes=self.settings.safety_poll_minutes)
        return read < last_slot(self.now, f"{kind}:{mailbox.lower()}", interval)

    def _todo_due(self, mailbox: str, marker: Marker) -> bool:
        assert marker.read is not None
        longest = timedelta(minutes=self.settings.todo_poll_max_minutes)
        if marker.changed is None:
            quiet = longest  # no change seen since the marker was made: the longest wait
        else:
            quiet = max(marker.read - marker.changed, timedelta(0))
            if marker.changed > marker.read:
                return True  # noted after the last read (a pair job found the task changed in To Do)
        if quiet < longest:
            return self.now - marker.read >= quiet - TOLERANCE
        return marker.read < last_slot(self.now, f"{TODO_KIND}:{mailbox.lower()}", longest)


def _subscription_name(kind: str, mailbox: str) -> str:
    return f"{SUBSCRIPTIONS}{kind}:{mailbox.lower()}"


def healthy_since(settings: Settings, now: datetime, cursor: Cursor | None) -> datetime | None:
    """From when the subscription's notifications can be trusted; None: not now (none, another URL, expired,
    a failed renewal or reauthorization not renewed yet)."""
    saved = Stored.parse(cursor.value if cursor else None)
    if cursor is None or saved is None or saved.url != notification_urls(settings.notification_url)[0]:
        return None
    expiry = saved.expiry()
    if expiry is None or expiry <= now:
        return None
    if saved.since is None:
        return cursor.updated_at  # a record from before `since`: trusted from when it was saved
    return _instant(saved.since)


async def load(ctx: SyncContext, records: Sequence[MailboxRecord] | None = None) -> Schedule:
    """The planner's view; nothing is read unless notification-first scanning is on. For the whole scope
    (up to plan.CHUNK_MAILBOXES mailboxes): two range reads. For a chunk of a bigger tenant (`records`):
    point reads of its own records, as a range read would list the whole tenant's in every chunk; the
    subscription records among them are the ones the subscription upkeep read anyway."""
    schedule = Schedule(ctx.settings, ctx.now())
    if not active(ctx.settings, ctx.dry_run):
        return schedule
    kinds = [k for k in ctx.scheduled() if _kind_scheduled(ctx.settings, k)]
    if not kinds:
        return schedule
    if records is None:
        subscriptions = await ctx.store.list_cursors(SUBSCRIPTIONS)
        markers = await ctx.store.list_cursors(PREFIX)
    else:
        subscriptions, markers = await _point_reads(ctx, kinds, records)
    schedule.subscriptions = {c.name: c for c in subscriptions}
    schedule.markers = {c.name: c for c in markers}
    schedule.is_active = True
    return schedule


async def _point_reads(
    ctx: SyncContext, kinds: Sequence[str], records: Sequence[MailboxRecord]
) -> tuple[list[Cursor], list[Cursor]]:
    wanted = [
        (kind, r.mailbox)
        for r in records
        if r.status == "ok" and not r.paused
        for kind in kinds
        if serves(kind, r, ctx.settings)
    ]
    gate = asyncio.Semaphore(_PARALLEL_READS)

    async def read(name: str) -> Cursor | None:
        async with gate:
            return await ctx.store.get_cursor(name)

    subscription_names = [_subscription_name(k, m) for k, m in wanted if k in KIND_COLLECTIONS]
    marker_names = [marker_name(k, m) for k, m in wanted]
    found = await asyncio.gather(*(read(n) for n in subscription_names + marker_names))
    subscriptions = [c for c in found[: len(subscription_names)] if c is not None]
    markers = [c for c in found[len(subscription_names) :] if c is not None]
    return subscriptions, markers


async def covered(ctx: SyncContext, message: ScanMailbox) -> bool:
    """A notification's scan that a complete read begun at or after its queueing made needless: the
    notified change was made before Graph sent the notification, so before the message was queued, so
    before that read began. Notifications of a burst (the user's, or the echo of our own writes) so cost
    one feed read, not one each."""
    if message.queued_at is None or not active(ctx.settings, ctx.dry_run):
        return False
    if not _kind_scheduled(ctx.settings, message.kind):
        return False
    cursor = await ctx.store.get_cursor(marker_name(message.kind, message.mailbox))
    read = Marker.parse(cursor.value if cursor else None).read
    return read is not None and message.queued_at <= read <= ctx.now() + TOLERANCE


async def note_scan(
    ctx: SyncContext, kind: str, mailbox: str, started: datetime, *, complete: bool, changed: bool
) -> None:
    """After a mailbox scan: when it started reading, if it read the feed in full and its work is queued
    (else the read counts for nothing: scanned every cycle until one does), and whether it saw a change
    (work it queued: the feed's echoes of the sync's own writes queue none, so they are no change)."""
    if not active(ctx.settings, ctx.dry_run) or not _kind_scheduled(ctx.settings, kind):
        return

    def update(marker: Marker) -> Marker:
        return Marker(read=started if complete else None, changed=started if changed else marker.changed)

    await _update(ctx, marker_name(kind, mailbox), update)


async def note_todo_side_read(
    ctx: SyncContext, kind: str, mailbox: str, link: Link | None, graph: GraphItem | None
) -> None:
    """A pair job of an F&O change read the To Do task (`graph`; None: gone) of a settled link. Not as the
    link left it (another version, moved to another list, deleted): a person changed it in To Do, so read
    the mailbox's To Do every cycle again (a deletion or a move is acted on by that scan, not by this job).
    As the link left it: nothing noted (an F&O change alone says nothing about To Do). A note lost in a
    crash costs latency only: the back-off still reads To Do within SYNC_TODO_POLL_MAX_MINUTES."""
    if kind != TODO_KIND or link is None or link.is_claim or not link.graph_version:
        return
    if graph is not None and graph.id == link.graph_id and graph.version in ("", link.graph_version):
        return
    if not active(ctx.settings, ctx.dry_run) or not _kind_scheduled(ctx.settings, kind):
        return
    now = ctx.now()
    await _update(ctx, marker_name(kind, mailbox), lambda m: Marker(read=m.read, changed=now))


async def _update(ctx: SyncContext, name: str, change: Callable[[Marker], Marker]) -> None:
    """Read, change, write with the ETag; a concurrent writer makes it read again. Failing for good only
    costs scans (an old or missing marker means "read it"), never a change."""
    try:
        for _ in range(_WRITE_ATTEMPTS):
            cursor = await ctx.store.get_cursor(name)
            marker = change(Marker.parse(cursor.value if cursor else None))
            value = marker.dump()
            if cursor is not None and cursor.value == value:
                return
            try:
                await ctx.store.save_cursor(
                    Cursor(name=name, value=value, updated_at=ctx.now(), etag=cursor.etag if cursor else None)
                )
                return
            except ConcurrencyError:
                continue
        log.info("poll marker not saved: another scan kept saving it", extra={"kind": name.split(":")[1]})
    except Exception as exc:  # the scan's work is queued already: a lost marker only costs scans
        log.warning("poll marker not saved: %s", type(exc).__name__, extra={"kind": name.split(":")[1]})
