"""What one F&O data event does: the work the F&O feed would queue for its row, now.

- `Activities`, created or updated: the row is read (one query per company for a batch of events; the
  event's own copy of the fields is Dataverse-shaped, with option set numbers Microsoft says are not stable)
  and each activity kind whose category it is gets the pair message its feed would queue
  (pipeline/scan.queue_fno_changes, the feed's code); one pair per row however many events of the batch
  name it, and each feed scan once per batch.
- `Activities`, deleted (or the row is gone when read): as the mailbox's deletion check finding it gone: the
  check of the owner's mailbox is made due and a scan of it queued, so the deletion goes through the safety
  valve like any other.
- `ContactPersons`: the contact feeds decide which lists a person is on (rules, shared list queries,
  explicit entries), so the event queues their feed scans, the same scans the timer queues.
- An event without a key (a Target cut for size) queues the activity feeds' scans; a delete without a known
  owner is left to the deletion check on its schedule (SYNC_FNO_DELETE_CHECK_MINUTES).

Bad or foreign events are logged (a reason, never data from the body), counted and acknowledged: raising would
only make the trigger deliver them again. A failure to reach F&O or the state store raises, so the platform
delivers the message again and, after its delivery count, dead-letters it; the timer feed is the safety net.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sync_core.contacts.registry import PRIVATE_KIND, SHARED_KIND
from sync_core.d365 import entities
from sync_core.fno_events.event import BadEvent, DataEvent, parse
from sync_core.kinds import appointment, task
from sync_core.kinds.activity_feed import activity_change, without_carried_keys
from sync_core.pipeline.scan import queue_fno_changes
from sync_core.pipeline.valve import load_state, save_state
from sync_core.runtime.context import SyncContext
from sync_core.runtime.keys import fno_key
from sync_core.runtime.messages import AnyMessage, ScanFnoFeed, ScanMailbox
from sync_core.state.base import ConcurrencyError
from sync_core.telemetry import names
from sync_core.telemetry.core import current

log = logging.getLogger(__name__)
MESSAGE_TYPE = "fno-data-event"  # `sync.messages` type of the counts
# Activity kind -> the Activities category it syncs (the category its feed reads).
ACTIVITY_KINDS = {
    appointment.NAME: appointment.ACTIVITY_CATEGORY,
    task.NAME: task.ACTIVITY_CATEGORY,
}
CONTACT_KINDS = (PRIVATE_KIND, SHARED_KIND)


@dataclass
class Outcome:
    pairs: int = 0  # pair messages queued
    scans: int = 0  # scan messages queued (feed scans, mailbox scans for a deletion)
    ignored: list[str] = field(default_factory=list)  # reasons, no data


async def receive(ctx: SyncContext, body: bytes) -> Outcome:
    return (await receive_many(ctx, [body]))[0]


async def receive_many(ctx: SyncContext, bodies: Sequence[bytes]) -> list[Outcome]:
    """One Outcome per body. A batch reads its activities in one query per company (and chunk of numbers),
    queues one pair per row however many events name it, and each feed scan once."""
    outcomes = [Outcome() for _ in bodies]
    activities: list[tuple[Outcome, DataEvent]] = []
    feeds: dict[str, Outcome] = {}  # feed scans to queue, each credited to the first event that asked
    for body, outcome in zip(bodies, outcomes, strict=True):
        try:
            event = parse(body)
        except BadEvent as exc:
            log.warning("F&O data event ignored: %s", exc)
            outcome.ignored.append(str(exc))
            continue
        if event.entity.collection == entities.CONTACT_PERSONS:
            for kind in CONTACT_KINDS:
                if kind in ctx.kinds:
                    feeds.setdefault(kind, outcome)
        elif event.company is None or event.number is None:
            if event.operation == "delete":
                outcome.ignored.append("a delete that names no row: left to the deletion check")
            else:
                for kind in _activity_kinds(ctx):
                    feeds.setdefault(kind, outcome)
        else:
            activities.append((outcome, event))
    if activities:
        await _activities(ctx, activities)
    if feeds:
        cycle_id = f"fno-event-{uuid.uuid4().hex}"
        scans: list[AnyMessage] = [ScanFnoFeed(kind=kind, cycle_id=cycle_id) for kind in feeds]
        await ctx.queues.send(ctx.settings.scan_queue, scans)
        for asked in feeds.values():
            asked.scans += 1
    for outcome in outcomes:
        if outcome.ignored:
            log.info("F&O data event: %s", "; ".join(outcome.ignored))
        _count(
            "*", "ignored" if outcome.ignored else "queued" if outcome.pairs or outcome.scans else "nothing"
        )
    return outcomes


def _activity_kinds(ctx: SyncContext) -> list[str]:
    return [kind for kind in ACTIVITY_KINDS if kind in ctx.kinds]


async def _activities(ctx: SyncContext, items: list[tuple[Outcome, DataEvent]]) -> None:
    observed = ctx.now()  # before reading: the rows are at least this new
    wanted: dict[str, set[str]] = {}
    for _, event in items:
        if event.operation != "delete":
            assert event.company is not None and event.number is not None
            wanted.setdefault(event.company.lower(), set()).add(event.number)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for company, numbers in wanted.items():
        for number, found in (await entities.activities_by_number(ctx.fno, company, sorted(numbers))).items():
            rows[(company, number)] = found
    owners = {r.personnel_number: r.mailbox for r in await ctx.mailbox_records() if r.status == "ok"}
    cycle_id = f"fno-event-{uuid.uuid4().hex}"
    done: set[str] = set()  # rows of this batch already handled: one pair (or check) however many events
    for outcome, event in items:
        assert event.company is not None and event.number is not None
        key = fno_key(event.company, event.number.rstrip(" "))
        if key in done:
            continue
        done.add(key)
        row = rows.get((event.company.lower(), event.number.rstrip(" ").lower()))
        if row is None:
            await _gone(ctx, event, key, owners, cycle_id, outcome)
            continue
        change = activity_change(without_carried_keys(row))
        if change is None:
            outcome.ignored.append("an activity without a responsible worker")
            continue
        for kind in _activity_kinds(ctx):
            if row.get("Category") == ACTIVITY_KINDS[kind]:
                outcome.pairs += await queue_fno_changes(ctx, kind, owners, [change], cycle_id, observed)


async def _gone(
    ctx: SyncContext, event: DataEvent, key: str, owners: dict[str, str], cycle_id: str, outcome: Outcome
) -> None:
    mailbox = owners.get(event.owner) if event.owner else None
    if mailbox is None:
        outcome.ignored.append("a deleted activity of no mailbox in scope: left to the deletion check")
        return
    scans: list[AnyMessage] = []
    for kind in _activity_kinds(ctx):
        link = await ctx.store.get_link_by_fno(kind, mailbox, key)
        if link is None or link.is_claim:
            continue
        await _check_due(ctx, kind, mailbox)
        scans.append(ScanMailbox(kind=kind, mailbox=mailbox, cycle_id=cycle_id))
    if scans:
        await ctx.queues.send(ctx.settings.scan_queue, scans)
        outcome.scans += len(scans)


async def _check_due(ctx: SyncContext, kind: str, mailbox: str) -> None:
    """Make the mailbox's F&O deletion check due, so its next scan compares the links with F&O."""
    for _ in range(3):
        state, cursor = await load_state(ctx, kind, mailbox)
        if state.fno_checked_at is None:
            return
        try:
            await save_state(ctx, kind, mailbox, state.model_copy(update={"fno_checked_at": None}), cursor)
            return
        except ConcurrencyError:
            continue  # a scan saved meanwhile: read it again


def _count(kind: str, outcome: str) -> None:
    try:
        current().messages.add(
            1,
            {names.MESSAGE_TYPE: MESSAGE_TYPE, names.KIND: kind, names.MAILBOX: "*", names.OUTCOME: outcome},
        )
    except Exception as exc:  # telemetry never changes what the receiver does
        log.warning("telemetry data event count failed: %s", type(exc).__name__)
