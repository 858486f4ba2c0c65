"""One complete local cycle on the in-process queue: plan, scans, pairs, until the queues are empty."""

from __future__ import annotations

import asyncio

from sync_core.pipeline.context import SyncContext
from sync_core.pipeline.handlers import TransientError, handle_message
from sync_core.pipeline.messages import MessageError, SyncPair, decode
from sync_core.pipeline.plan import plan_cycle
from sync_core.pipeline.queues import InProcessQueues
from sync_core.pipeline.report import CycleReport
from sync_core.telemetry import traced_cycle

# Pairs of different mailboxes run side by side; the Graph client caps each mailbox at 4 requests.
DEFAULT_CONCURRENCY = 16


@traced_cycle
async def run_cycle(
    ctx: SyncContext, queues: InProcessQueues, concurrency: int = DEFAULT_CONCURRENCY
) -> CycleReport:
    await queues.send(ctx.settings.scan_queue, await plan_cycle(ctx))
    order = (ctx.settings.scan_queue, ctx.settings.item_queue)
    while any(queues.depth(q) for q in order):
        for queue in order:
            batch = queues.take(queue, concurrency)
            unique = await _one_per_pair(ctx, queues, queue, batch)
            results = await asyncio.gather(
                *(handle_message(ctx, text, count) for text, count in unique), return_exceptions=True
            )
            for (text, count), result in zip(unique, results, strict=True):
                if isinstance(result, TransientError):
                    if count < ctx.settings.max_attempts:
                        queues.requeue(queue, text, count)
                elif isinstance(result, BaseException):
                    raise result
    return ctx.report


async def _one_per_pair(
    ctx: SyncContext, queues: InProcessQueues, queue: str, batch: list[tuple[str, int]]
) -> list[tuple[str, int]]:
    """Run at most one message per item pair at a time; the others wait for the next round.

    A pair is often reported twice in one cycle (by the F&O feed and by the mailbox delta); run side by
    side, both would write the same change and one would lose the link's ETag race."""
    chosen: list[tuple[str, int]] = []
    busy: set[tuple[str, str, str]] = set()
    for text, count in dict.fromkeys(batch):
        try:
            message = decode(text)
        except MessageError:
            chosen.append((text, count))  # the handler records it
            continue
        if not isinstance(message, SyncPair):
            chosen.append((text, count))
            continue
        key = await _pair_key(ctx, message)
        if key in busy:
            queues.requeue(queue, text, count - 1)
            continue
        busy.add(key)
        chosen.append((text, count))
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
