"""What one Functions instance keeps open between executions: the state store, the Graph and F&O clients,
the token source and the Storage queues.

Why: opening them per message cost about 55 Table requests and 65 ms of CPU per execution, and the Graph
client's per-mailbox limits (4 requests in flight, the pacer's window: exchange/pacing.py) started afresh
for every message, so concurrent executions on one mailbox ran into Graph's 429s.

The Python worker runs `async def` functions as coroutines on its one event loop ("Async",
https://learn.microsoft.com/azure/azure-functions/python-scale-performance-reference), so executions of
one worker process share these objects the way the pair jobs of a local cycle already do. Each
FUNCTIONS_WORKER_PROCESS_COUNT worker process keeps its own; the limits across instances and worker
processes are kept in Table Storage by the services' gate (sync_core/limits, docs/limits.md). The services are built without awaiting (`app.open_services`), so two executions
starting at once cannot both build them. They are built again for other settings (a test passing its
own, or a new process after a settings change) or on another event loop (asyncio objects belong to
one loop); those left behind are closed once no execution uses them, if their loop still runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sync_core.app import Services, open_services, start_context, storage_queues
from sync_core.runtime.context import SyncContext
from sync_core.runtime.queues import StorageQueues
from sync_core.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Kept:
    settings: Settings
    loop: asyncio.AbstractEventLoop
    services: Services
    queues: StorageQueues
    users: int = 0
    retired: bool = False

    async def close(self) -> None:
        await self.queues.close()
        await self.services.close()


_kept: Kept | None = None
opened = 0  # how often this process opened its services (tests and the benchmark read it)


async def _taken(settings: Settings) -> Kept:
    """The services for these settings on this loop, counted as used (the caller must give them back)."""
    global _kept, opened
    loop = asyncio.get_running_loop()
    old = _kept
    if old is not None and old.loop is loop and old.settings == settings:
        old.users += 1
        return old
    # No await from the check to here: executions arriving meanwhile find the new services.
    kept = _kept = Kept(settings, loop, open_services(settings), storage_queues(settings), users=1)
    opened += 1
    if old is not None:
        log.info("instance services opened again (other settings or event loop)")
        old.retired = True
        if old.users == 0 and old.loop is loop:
            await old.close()
    return kept


@asynccontextmanager
async def kept_services(settings: Settings) -> AsyncIterator[Kept]:
    """The instance's services for one execution."""
    kept = await _taken(settings)
    try:
        yield kept
    finally:
        kept.users -= 1
        if kept.retired and kept.users == 0 and kept.loop is asyncio.get_running_loop():
            await kept.close()


@asynccontextmanager
async def execution_context(settings: Settings) -> AsyncIterator[SyncContext]:
    """One execution's context (its own report) on the instance's services and queues."""
    async with kept_services(settings) as kept:
        yield await start_context(settings, kept.services, kept.queues)


async def close_instance() -> None:
    """Close what this instance keeps (tests and tools that end their event loop)."""
    global _kept
    kept, _kept = _kept, None
    if kept is not None:
        kept.retired = True
        if kept.users == 0 and kept.loop is asyncio.get_running_loop():
            await kept.close()
