"""What one F&O data event does: the work the F&O feed would queue for its row, now.

- `Activities`, created or updated: the row is read (one GET; the event's own copy of the fields is
  Dataverse-shaped, with option set numbers Microsoft says are not stable) and each activity kind whose
  category it is gets the pair message its feed would queue (pipeline/scan.queue_fno_changes, the feed's code).
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
from collections.abc import Iterable
from dataclasses import dataclass, field

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
    appointment.AppointmentKind.name: appointment.ACTIVITY_CATEGORY,
    task.TaskKind.name: task.ACTIVITY_CATEGORY,
}
CONTACT_KINDS = (PRIVATE_KIND, SHARED_KIND)


@dataclass
class Outcome:
    pairs: int = 0  # pair messages queued
    scans: int = 0  # scan messages queued (feed scans, mailbox scans for a deletion)
    ignored: list[str] = field(default_factory=list)  # reasons, no data


async def receive(ctx: SyncContext, body: bytes) -> Outcome:
    outcome = Outcome()
    try:
        event = parse(body)
    except BadEvent as exc:
        log.warning("F&O data event ignored: %s", exc)
        outcome.ignored.append(str(exc))
        _count("*", "ignored")
        return outcome
    if event.entity.collection == entities.CONTACT_PERSONS:
        await _scan_feeds(ctx, outcome, [k for k in CONTACT_KINDS if k in ctx.kinds])
    elif event.company is None or event.number is None:
        if event.operation == "delete":
            outcome.ignored.append("a delete that names no row: left to the deletion check")
        else:
            await _scan_feeds(ctx, outcome, _activity_kinds(ctx))
    else:
        await _activity(ctx, event, event.company, event.number, outcome)
    if outcome.ignored:
        log.info("F&O data event: %s", "; ".join(outcome.ignored))
    _count("*", "queued" if outcome.pairs or outcome.scans else "nothing")
    return outcome


def _activity_kinds(ctx: SyncContext) -> list[str]:
    return [kind for kind in ACTIVITY_KINDS if kind in ctx.kinds]


async def _activity(ctx: SyncContext, event: DataEvent, company: str, number: str, outcome: Outcome) -> None:
    observed = ctx.now()  # before reading: the row is at least this new
    row = None
    if event.operation != "delete":
        row = await entities.get_activity(ctx.fno, company, number)
    owners = {r.personnel_number: r.mailbox for r in await ctx.mailbox_records() if r.status == "ok"}
    cycle_id = f"fno-event-{uuid.uuid4().hex}"
    if row is None:
        await _gone(ctx, event, fno_key(company, number), owners, cycle_id, outcome)
        return
    change = activity_change(without_carried_keys(row))
    if change is None:
        outcome.ignored.append("an activity without a responsible worker")
        return
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


async def _scan_feeds(ctx: SyncContext, outcome: Outcome, kinds: Iterable[str]) -> None:
    cycle_id = f"fno-event-{uuid.uuid4().hex}"
    scans: list[AnyMessage] = [ScanFnoFeed(kind=kind, cycle_id=cycle_id) for kind in kinds]
    if scans:
        await ctx.queues.send(ctx.settings.scan_queue, scans)
        outcome.scans += len(scans)


def _count(kind: str, outcome: str) -> None:
    try:
        current().messages.add(
            1,
            {names.MESSAGE_TYPE: MESSAGE_TYPE, names.KIND: kind, names.MAILBOX: "*", names.OUTCOME: outcome},
        )
    except Exception as exc:  # telemetry never changes what the receiver does
        log.warning("telemetry data event count failed: %s", type(exc).__name__)
