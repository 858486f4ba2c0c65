"""A chunk of the planner's mailboxes: resolve them, queue their scans, then keep their
subscriptions. The timer sends one message per chunk (pipeline/plan.py), so its own work no longer grows
with the tenant, and the chunks run side by side on the scan queue's instances.

Crash-safe as the timer's plan: a chunk redelivered after a crash reads the records its first attempt
saved (fresh ones cost no Graph or F&O request) and queues the scans again, which are idempotent. A chunk
that fails for good is left to the next cycle, which plans every mailbox again."""

from __future__ import annotations

import logging

from sync_core.notifications.subscriptions import ensure_subscriptions
from sync_core.pipeline.plan import (
    GRAPH,
    load_schedule,
    note_paused,
    planning_problem,
    refresh_registry,
    scans_of,
)
from sync_core.pipeline.service_failure import unusable_service
from sync_core.runtime.context import SyncContext
from sync_core.runtime.messages import PlanMailboxes, ScanMailbox
from sync_core.telemetry import mailboxes_planned

log = logging.getLogger(__name__)


async def plan_chunk(ctx: SyncContext, message: PlanMailboxes) -> int:
    """Returns the number of scans queued. A failing state store raises (the queue tries again); a
    service found unusable raises its error before any scan is queued."""
    records = await refresh_registry(ctx, [m.lower() for m in message.mailboxes])
    note_paused(ctx, records)
    mailboxes_planned(ctx, records)
    schedule = await load_schedule(ctx, records)  # with notifications on, which feeds to read (poll_schedule)
    scans: list[ScanMailbox] = []
    for kind in ctx.scheduled():
        scans.extend(scans_of(ctx, kind, records, message.cycle_id, schedule))
    unusable = unusable_service(ctx)
    if unusable is not None:
        raise unusable  # as the timer: scanning could only fail the same way
    if scans:
        await ctx.queues.send(ctx.settings.scan_queue, scans)  # before the upkeep
    try:
        await ensure_subscriptions(ctx, records, schedule.subscriptions if schedule.is_active else None)
    except Exception as exc:
        planning_problem(ctx, "subscriptions", GRAPH, exc)
    log.info("chunk planned", extra={"mailboxes": len(records), "scans": len(scans)})
    return len(scans)
