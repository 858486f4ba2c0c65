"""One complete local cycle: plan, scans, pairs, until the queues are empty.

Messages left by an earlier run that died (the durable local queue keeps them) are worked off in the
same loop, so nothing a killed run had queued is lost.

When F&O or Graph turns out unusable (unreachable after every retry, or the token refused: the clients'
breakers, service_errors.py), the cycle stops with that error instead of failing every mailbox in turn:
what it had received goes back to the queue without using up an attempt, and the service's failure is
recorded (pipeline/service_failure.py) until a cycle gets through."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from sync_core.pipeline.handlers import TransientError, handle_message
from sync_core.pipeline.plan import plan_cycle
from sync_core.pipeline.retry import adopt_exhausted
from sync_core.pipeline.service_failure import clear_recovered, record_unusable, unusable_service
from sync_core.runtime.context import SyncContext
from sync_core.runtime.messages import (
    AnyMessage,
    ImportMessage,
    MessageError,
    SyncPair,
    decode,
)
from sync_core.runtime.queues import Delivery, LocalQueues
from sync_core.runtime.report import CycleReport
from sync_core.service_errors import ServiceUnusable
from sync_core.telemetry import traced_cycle

# Pairs of different mailboxes run side by side; the Graph client caps each mailbox at 4 requests.
DEFAULT_CONCURRENCY = 16


class CycleProgress(Protocol):
    """What a caller (the command line's progress display) hears of a running cycle."""

    def planned(self, messages: Sequence[AnyMessage]) -> None: ...
    def finished(self, text: str) -> None: ...


@traced_cycle
async def run_cycle(
    ctx: SyncContext,
    queues: LocalQueues,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: CycleProgress | None = None,
) -> CycleReport:
    """Raises ServiceUnusable (recorded) when F&O or Graph cannot be used at all."""
    try:
        await _cycle(ctx, queues, concurrency, progress)
    except ServiceUnusable as exc:
        await record_unusable(ctx, exc)
        raise
    if not ctx.dry_run:
        failures = await ctx.store.list_failures()
        ctx.report.waiting_for_retry = sum(1 for f in failures if f.waiting_for_retry)
        await clear_recovered(ctx, failures)
    return ctx.report


async def _cycle(
    ctx: SyncContext, queues: LocalQueues, concurrency: int, progress: CycleProgress | None
) -> None:
    async def send(messages: Sequence[AnyMessage]) -> None:
        await queues.send(ctx.settings.scan_queue, messages)  # before the planner's upkeep

    messages = await plan_cycle(ctx, send)
    unusable = unusable_service(ctx)
    if unusable is not None:
        raise unusable  # found while planning: scanning every mailbox could only fail the same way
    if progress is not None:
        progress.planned(messages)
    order = (ctx.settings.scan_queue, ctx.settings.item_queue)
    while True:
        worked = False
        for queue in order:
            batch = await queues.receive(queue, concurrency)
            worked = worked or bool(batch)
            await _work(ctx, queues, batch, progress)
        if not worked:
            break


async def _work(
    ctx: SyncContext, queues: LocalQueues, batch: list[Delivery], progress: CycleProgress | None = None
) -> None:
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
    unusable: ServiceUnusable | None = None
    for delivery, result in zip(unique, results, strict=True):
        cause = result.__cause__ if isinstance(result, TransientError) else result
        if isinstance(cause, ServiceUnusable):
            unusable = unusable or cause
            await queues.release(delivery, count=False)  # the service failed, not the item
        elif isinstance(result, TransientError):
            await queues.release(delivery)  # tried again in this run; the handler counts the attempts
        elif isinstance(result, BaseException):
            raise result
        else:
            await queues.complete(delivery)
            if progress is not None:
                progress.finished(delivery.text)
    if unusable is not None:
        raise unusable


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
