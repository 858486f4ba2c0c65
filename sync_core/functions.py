"""What the Azure Functions do, kept out of function_app.py so it stays thin and testable.

Each execution has a context of its own (its report); the state store, the clients and the queues are
the instance's, opened by its first execution and kept (sync_core/instance.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache

from sync_core.app import start_context, storage_queues
from sync_core.fno_events.receiver import Outcome, receive_many
from sync_core.instance import execution_context, kept_services
from sync_core.pipeline.handlers import handle_message
from sync_core.pipeline.plan import plan_cycle
from sync_core.pipeline.retry import adopt_exhausted
from sync_core.pipeline.service_failure import clear_recovered, record_unusable, unusable_service
from sync_core.runtime.messages import AnyMessage
from sync_core.settings import Settings, load_settings
from sync_core.telemetry import record_queue_depths

__all__ = ["on_fno_event", "on_fno_events", "on_queue_message", "on_timer", "settings", "storage_queues"]

log = logging.getLogger(__name__)
POISONED = "the Functions host gave up on it after its attempts (poison queue); retried by a later cycle"


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Validated once per worker process; a bad setting fails every invocation with a clear message."""
    return load_settings()


async def on_timer(config: Settings | None = None) -> int:
    """Plan a cycle: one scan message per mailbox and kind, one per F&O feed. Returns messages queued."""
    config = config or settings()
    async with kept_services(config) as kept:
        ctx = await start_context(config, kept.services, kept.queues)
        # Messages the host gave up on go onto the work list, which plan_cycle queues again when due.
        for queue in (config.item_queue, config.scan_queue):
            await kept.queues.drain_poison(queue, lambda text: adopt_exhausted(ctx, text, POISONED))

        async def send(planned: Sequence[AnyMessage]) -> None:
            await kept.queues.send(config.scan_queue, planned)  # before the planner's upkeep

        messages = await plan_cycle(ctx, send)
        unusable = unusable_service(ctx)
        if unusable is not None:
            # As `run --once`: the whole service is down, so no scan is queued (plan_cycle sent none when it
            # found out while planning); `failures`/`status` say why.
            await record_unusable(ctx, unusable)
            log.error("cycle not planned: %s", unusable.summary)
            return 0
        await clear_recovered(ctx, await ctx.store.list_failures())
        await record_queue_depths(config)
        log.info(
            "cycle planned",
            extra={"messages": len(messages), "skipped": len(ctx.report.skipped_mailboxes)},
        )
        return len(messages)


async def on_fno_event(body: bytes | str, delivery_count: int = 1, config: Settings | None = None) -> Outcome:
    """One F&O data event from the Service Bus queue (docs/fno-events.md); see on_fno_events."""
    return (await on_fno_events([body], delivery_count, config))[0]


async def on_fno_events(
    bodies: Sequence[bytes | str], delivery_count: int = 1, config: Settings | None = None
) -> list[Outcome]:
    """A batch of F&O data events from the Service Bus queue. Bad events are acknowledged (never delivered
    again); a failure to reach F&O or the store raises, so Service Bus delivers the messages again and
    dead-letters them after the queue's delivery count, the timer feed being the safety net."""
    config = config or settings()
    raw = [body.encode("utf-8") if isinstance(body, str) else body for body in bodies]
    if not config.fno_events:
        log.warning("F&O data events dropped: SYNC_FNO_EVENTS is off (the timer feed syncs the changes)")
        return [Outcome(ignored=["data events are off"]) for _ in raw]
    async with execution_context(config) as ctx:
        outcomes = await receive_many(ctx, raw)
    if delivery_count > 1:
        log.info("F&O data events delivered again", extra={"deliveries": delivery_count})
    return outcomes


async def on_queue_message(body: bytes | str, dequeue_count: int, config: Settings | None = None) -> None:
    """A scan or pair message; transient failures re-raise so the host retries and finally poisons it."""
    config = config or settings()
    async with execution_context(config) as ctx:
        await handle_message(ctx, body, dequeue_count)
