"""Queue depth of the work queues and their poison queues, read at every timer tick (Azure only).

A message lands in `<queue>-poison` after its last attempt failed: the poison alert watches this gauge."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from azure.storage.queue.aio import QueueServiceClient

from sync_core.auth import storage_credential
from sync_core.settings import Settings
from sync_core.telemetry import names
from sync_core.telemetry.core import current

log = logging.getLogger(__name__)
# A metric must not hold up the timer: few retries, and a bound on the whole read.
READ_TIMEOUT_SECONDS = 15.0
_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 1, "connection_timeout": 5, "read_timeout": 5}


def watched_queues(settings: Settings) -> list[str]:
    return [
        name for queue in (settings.scan_queue, settings.item_queue) for name in (queue, f"{queue}-poison")
    ]


async def read_queue_depths(service: QueueServiceClient, queues: list[str]) -> dict[str, int]:
    depths: dict[str, int] = {}
    for queue in queues:
        properties = await service.get_queue_client(queue).get_queue_properties()
        depths[queue] = int(properties.approximate_message_count or 0)
    return depths


async def record_queue_depths(settings: Settings) -> dict[str, int]:
    """Read and emit the depths; nothing (no storage call) when telemetry is not exported or no queue
    service is configured. Errors are logged, never raised: a missing metric must not fail a cycle."""
    telemetry = current()
    if not telemetry.exporting or not settings.uses_azure_storage:
        return {}
    credential: Any = None
    try:
        if settings.storage_connection:
            service = QueueServiceClient.from_connection_string(
                settings.storage_connection, **_CLIENT_OPTIONS
            )
        else:
            credential = storage_credential(settings)
            service = QueueServiceClient(
                f"https://{settings.storage_account}.queue.core.windows.net",
                credential=credential,
                **_CLIENT_OPTIONS,
            )
        async with service, asyncio.timeout(READ_TIMEOUT_SECONDS):
            depths = await read_queue_depths(service, watched_queues(settings))
    except Exception as exc:
        log.warning("queue depth not read: %s", type(exc).__name__)
        return {}
    finally:
        if credential is not None:
            await credential.close()
    for queue, depth in depths.items():
        telemetry.queue_depth.set(depth, {names.QUEUE: queue})
    return depths
