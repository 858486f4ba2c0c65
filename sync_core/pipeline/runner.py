"""One complete local cycle: plan, scans, pairs, until the queues are empty.

Messages left by an earlier run that died (the durable local queue keeps them) are worked off in the
same loop, so nothing a killed run had queued is lost."""

from __future__ import annotations

import asyncio

from sync_core.pipeline.context import SyncContext
from sync_core.pipeline.handlers import TransientError, handle_message
from sync_core.pipeline.messages import ImportMessage, MessageError, SyncPair, decode
from sync_core.pipeline.plan import plan_cycle
from sync_core.pipeline.queues import Delivery, LocalQueues
from sync_core.pipeline.report import CycleReport
from sync_core.pipeline.retry import adopt_exhausted, count_waiting
from sync_core.telemetry import traced_cycle

# Pairs of different mailboxes run side by side; the Graph client caps each mailbox at 4 requests.
DEFAULT_CONCURRENCY = 16


@traced_cycle
async def run_cycle(
    ctx: SyncContext, queues: LocalQueues, concurrency: int = DEFAULT_CONCURRENCY
) -> CycleReport:
    await queues.send(ctx.settings.scan_queue, await plan_cycle(ctx))
    order = (ctx.settings.scan_queue, ctx.settings.item_queue)
    while True:
        worked = False
        for queue in order:
            batch = await queues.receive(queue, concurrency)
            worked = worked or bool(batch)
            await _work(ctx, queues, batch)
        if not worked:
            break
    if not ctx.dry_run:
        ctx.report.waiting_for_retry = await count_waiting(ctx)
    return ctx.report


async def _work(ctx: SyncContext, queues: LocalQueues, batch: list[Delivery]) -> None:
    runnable: list[Delivery] = []
    for delivery in batch:
        if delivery.dequeue_count > ctx.settings.max_attempts:
            # As the Functions host moves such a message to the poison queue (its earlier receivers died
            # before finishing): onto the work list, which later cycles retry.
            await adopt_exhausted(ctx, delivery.text, "the sync process stopped while working on it")
            await queues.complete(delivery)
        else:
            runnable.append(delivery)
    unique = await _one_per_pair(ctx, queues, runnable)
    results = await asyncio.gather(
        *(handle_message(ctx, d.text, d.dequeue_count) for d in unique), return_exceptions=True
    )
    for delivery, result in zip(unique, results, strict=True):
        if isinstance(result, TransientError):
            await queues.release(delivery)  # tried again in this run; the handler counts the attempts
        elif isinstance(result, BaseException):
            raise result
        else:
            await queues.complete(delivery)


async def _one_per_pair(ctx: SyncContext, queues: LocalQueues, batch: list[Delivery]) -> list[Delivery]:
    """Run at most one message per item pair at a time; the others wait for the next round.

    A pair is often reported twice in one cycle (by the F&O feed and by the mailbox delta, or by a scan
    and a message an earlier run left); run side by side, both would write the same change and one would
    lose the link's ETag race, or both would create."""
    chosen: list[Delivery] = []
    busy: set[tuple[str, str, str]] = set()
    seen_texts: set[str] = set()
    for delivery in batch:
        if delivery.text in seen_texts:
            await queues.complete(delivery)  # the same message twice in one batch: once is enough
            continue
        seen_texts.add(delivery.text)
        try:
            message = decode(delivery.text)
        except MessageError:
            chosen.append(delivery)  # the handler records it
            continue
        if isinstance(message, ImportMessage):
            key = (message.kind, message.mailbox, message.graph_id)
        elif isinstance(message, SyncPair):
            key = await _pair_key(ctx, message)
        else:
            chosen.append(delivery)
            continue
        if key in busy:
            await queues.release(delivery, count=False)
            continue
        busy.add(key)
        chosen.append(delivery)
    return chosen


async def _pair_key(ctx: SyncContext, message: SyncPair) -> tuple[str, str, str]:
    store = ctx.store
    link = None
    if message.fno_key:
        link = await store.get_link_by_fno(message.kind, message.mailbox, message.fno_key)
    if link is None and message.graph_id:
        link = await store.get_link_by_graph(message.kind, message.mailbox, message.graph_id)
    ident = link.fno_key if link else (message.fno_key or message.graph_id or "")
    return (message.kind, message.mailbox, ident)
