"""What the Azure Functions do, kept out of function_app.py so it stays thin and testable.

Each invocation opens its own context: the Functions host may run invocations concurrently, and a
context carries one invocation's report."""

from __future__ import annotations

import logging
from functools import lru_cache

from sync_core.app import open_context
from sync_core.pipeline.handlers import handle_message
from sync_core.pipeline.plan import plan_cycle
from sync_core.pipeline.queues import StorageQueues
from sync_core.pipeline.retry import adopt_exhausted
from sync_core.settings import Settings, load_settings
from sync_core.telemetry import record_queue_depths

log = logging.getLogger(__name__)
POISONED = "the Functions host gave up on it after its attempts (poison queue); retried by a later cycle"


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Validated once per worker process; a bad setting fails every invocation with a clear message."""
    return load_settings()


def storage_queues(config: Settings) -> StorageQueues:
    if config.storage_connection:
        return StorageQueues.from_connection_string(config.storage_connection)
    from sync_core.app import storage_credential

    return StorageQueues.from_account(config.storage_account, storage_credential(config))


async def on_timer(config: Settings | None = None) -> int:
    """Plan a cycle: one scan message per mailbox and kind, one per F&O feed. Returns messages queued."""
    config = config or settings()
    queues = storage_queues(config)
    try:
        async with open_context(config, queues) as ctx:
            # Messages the host gave up on go onto the work list, which plan_cycle queues again when due.
            for queue in (config.item_queue, config.scan_queue):
                await queues.drain_poison(queue, lambda text: adopt_exhausted(ctx, text, POISONED))
            messages = await plan_cycle(ctx)
            await queues.send(config.scan_queue, messages)
            await record_queue_depths(config)
            log.info(
                "cycle planned",
                extra={"messages": len(messages), "skipped": len(ctx.report.skipped_mailboxes)},
            )
            return len(messages)
    finally:
        await queues.close()


async def on_queue_message(body: bytes | str, dequeue_count: int, config: Settings | None = None) -> None:
    """A scan or pair message; transient failures re-raise so the host retries and finally poisons it."""
    config = config or settings()
    queues = storage_queues(config)
    try:
        async with open_context(config, queues) as ctx:
            await handle_message(ctx, body, dequeue_count)
    finally:
        await queues.close()
