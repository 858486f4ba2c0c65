"""Failures are a work list, not an end.

A pair (or e-mail import) message whose attempts are used up, or that the Functions host moved to a poison
queue, is not dropped: its failure record keeps the message and a time to try again, and each cycle's
planner queues the failures that are due, with a backoff that doubles up to `MAX_BACKOFF`. A success
clears the record (pipeline/handlers.py). A permanent failure (the item cannot succeed as it is) keeps no
message: it stays visible in `failures` and is retried when its item changes and a feed reports it.
Scan messages need no work list: every cycle scans every mailbox and feed again."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sync_core.runtime.context import SyncContext
from sync_core.runtime.messages import (
    ImportMessage,
    MessageError,
    PlanMailboxes,
    ScanFnoFeed,
    ScanMailbox,
    SyncPair,
    decode,
    encode,
)
from sync_core.state.base import ConcurrencyError, StateStore

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=6)
# At most this many failures are queued again per cycle, so a long outage does not come back as a burst.
MAX_PER_CYCLE = 500
# The failure reason of an item message parked because its mailbox is paused (pipeline/pause.py).
PARKED = "paused by an operator: waits for `python -m sync_core resume`"


def backoff(ctx: SyncContext, retries: int) -> timedelta:
    first = timedelta(minutes=ctx.settings.retry_minutes)
    grown: timedelta = first * (2 ** min(retries, 16))
    return min(grown, MAX_BACKOFF)


def retry_text(message: SyncPair | ImportMessage) -> str:
    """The message as the work list keeps it: without the items a scan carried (they are stale by the time
    it is retried, and would not fit in a table property), so the retry reads both sides afresh."""
    if isinstance(message, SyncPair):
        message = message.model_copy(update={"graph_item": None, "fno_row": None, "observed_at": None})
    return encode(message)


def item_key(message: SyncPair | ImportMessage) -> str:
    if isinstance(message, ImportMessage):
        return message.graph_id
    return message.fno_key or message.graph_id or "?"


async def adopt_exhausted(ctx: SyncContext, text: str | bytes, reason: str) -> bool:
    """A message nobody finished within its attempts (a poison queue's, or one whose receivers died): put
    it on the work list. Returns False for a message the work list does not take (a scan, or garbage)."""
    if ctx.dry_run:
        return _work_item(text) is not None
    now = ctx.now()
    return await adopt_into(ctx.store, text, reason, now, now + backoff(ctx, 0)) is not None


async def adopt_into(
    store: StateStore, text: str | bytes, reason: str, now: datetime, retry_at: datetime
) -> SyncPair | ImportMessage | None:
    """`adopt_exhausted` on a bare store (the `retry` command has no sync context); the message taken."""
    message = _work_item(text)
    if message is not None:
        await store.record_failure(
            message.kind,
            message.mailbox,
            item_key(message),
            reason,
            now,
            message=retry_text(message),
            retry_at=retry_at,
        )
    return message


def _work_item(text: str | bytes) -> SyncPair | ImportMessage | None:
    try:
        message = decode(text)
    except MessageError:
        log.error("unreadable message from a poison queue dropped")
        return None
    if isinstance(message, ScanMailbox | ScanFnoFeed | PlanMailboxes):
        return None  # the next cycle scans (and plans) again
    return message


async def make_due(store: StateStore, mailbox: str | None, *, parked: bool = False) -> int:
    """Operator retry (`retry`, `resume`): the work-list failures of `mailbox` (all when None) are queued by
    the next cycle, their backoff started afresh; `parked`: only those a pause parked. Returns how many.
    Due from their last failure on: the time of the clock that will compare, whatever this machine's says."""
    done = 0
    for failure in await store.list_failures():
        if not failure.message or (mailbox is not None and failure.mailbox != mailbox):
            continue
        if parked and failure.reason != PARKED:
            continue
        try:
            await store.save_failure(failure.model_copy(update={"retry_at": failure.last_at, "retries": 0}))
        except ConcurrencyError:
            continue  # cleared or bumped meanwhile: a job has it in hand
        done += 1
    return done


async def requeue_due(ctx: SyncContext) -> int:
    """Queue again every failure of the work list whose time has come; returns how many."""
    if ctx.dry_run:
        return 0
    now = ctx.now()
    paused = {r.mailbox for r in await ctx.mailbox_records() if r.paused}  # they wait for `resume`
    due = sorted(
        (
            f
            for f in await ctx.store.list_failures()
            if f.waiting_for_retry and _due(f.retry_at, now) and f.mailbox not in paused
        ),
        key=lambda f: f.retry_at or now,
    )[:MAX_PER_CYCLE]
    messages: list[SyncPair | ImportMessage] = []
    for failure in due:
        try:
            message = decode(failure.message)
        except MessageError:
            continue
        if not isinstance(message, SyncPair | ImportMessage):
            continue
        # Moved on before queuing: should this retry fail too, the next one waits longer.
        later = failure.model_copy(
            update={"retry_at": now + backoff(ctx, failure.retries + 1), "retries": failure.retries + 1}
        )
        try:
            await ctx.store.save_failure(later)
        except ConcurrencyError:
            continue  # cleared or bumped meanwhile: the job that did so has it in hand
        messages.append(message)
    if messages:
        await ctx.queues.send(ctx.settings.item_queue, messages)
        log.info("failed items queued again", extra={"count": len(messages)})
    return len(messages)


def _due(retry_at: datetime | None, now: datetime) -> bool:
    return retry_at is not None and retry_at <= now
