"""Build a SyncContext from settings: token source, Graph and F&O clients, state store, kinds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sync_core.auth import TokenSource, storage_credential, token_source_from_settings
from sync_core.d365.client import FnoClient
from sync_core.d365.preflight import parent_links_warning, service_check, setup_error
from sync_core.exchange.client import GraphClient
from sync_core.kinds import SCHEDULE, all_feeds, all_kinds
from sync_core.limits.gate import LimitGate
from sync_core.limits.store import TableLimitStore, limits_table
from sync_core.runtime.context import SyncContext, utc_now
from sync_core.runtime.queues import QueueSender, StorageQueues
from sync_core.settings import Settings
from sync_core.state.base import Cursor, StateError, StateStore
from sync_core.state.factory import open_state_store


def storage_queues(settings: Settings) -> StorageQueues:
    if settings.storage_connection:
        return StorageQueues.from_connection_string(settings.storage_connection)
    return StorageQueues.from_account(settings.storage_account, storage_credential(settings))


def open_limits(settings: Settings) -> LimitGate:
    """The gate of Graph's and F&O's limits: in the app's Table Storage (shared by every instance) or, for
    the local runner, in this process (sync_core/limits)."""
    shared: TableLimitStore | None = None
    table = limits_table(settings.table_prefix)
    if settings.shared_limits and settings.storage_connection:
        shared = TableLimitStore.from_connection_string(settings.storage_connection, table)
    elif settings.shared_limits and settings.storage_account:
        endpoint = f"https://{settings.storage_account}.table.core.windows.net"
        shared = TableLimitStore.from_endpoint(endpoint, storage_credential(settings), table)
    return LimitGate(shared, lease_seconds=settings.limit_lease_seconds)


def open_store(settings: Settings) -> StateStore:
    return open_state_store(
        connection_string=settings.storage_connection or None,
        account_name=settings.storage_account or None,
        credential=storage_credential(settings) if settings.storage_account else None,
        state_dir=settings.state_dir,
        table_prefix=settings.table_prefix,
    )


# Where the last check of the F&O service is kept for `status` (a cursor: the store's named values).
SERVICE_CHECK_CURSOR = "config:fno-service"
PARENT_LINKS_WARNING = "fno-parent-links"


async def apply_service_check(ctx: SyncContext) -> None:
    """Check F&O's entities (once per process, d365/preflight.py). A missing standard entity stops here
    (ServiceSetupError); an unusable parent-link entity turns attendees and associations off for this
    context and is reported as a configuration warning."""
    collection = ctx.settings.parent_links_collection
    check, fresh = await service_check(ctx.fno, collection)
    if check.missing_required:
        raise setup_error(check)
    warning = parent_links_warning(check)
    if warning is not None:
        ctx.report.warn(PARENT_LINKS_WARNING, warning)
        if check.read:
            ctx.fno.parent_links_collection = None
    if fresh and not ctx.dry_run:
        await _keep_for_status(ctx.store, ctx.now(), warning)


async def _keep_for_status(store: StateStore, now: datetime, warning: str | None) -> None:
    value = json.dumps({"checkedAt": now.isoformat(), "warnings": [warning] if warning else []})
    try:
        saved = await store.get_cursor(SERVICE_CHECK_CURSOR)
        cursor = Cursor(name=SERVICE_CHECK_CURSOR, value=value, updated_at=now)
        await store.save_cursor(
            cursor if saved is None else saved.model_copy(update={"value": value, "updated_at": now})
        )
    except StateError:
        pass  # another instance saved its check at the same time: either says the same


@dataclass
class Services:
    """What jobs share and a process may keep open: the token source, the state store and the Graph and
    F&O clients, and the gate of their limits (shared by the instances through Table Storage when there is
    one: sync_core/limits). The Graph client's pacer and the gate's units and token blocks hold state
    between jobs, which is why the Functions keep one `Services` per instance (`sync_core/instance.py`)."""

    tokens: TokenSource
    store: StateStore
    graph: GraphClient
    fno: FnoClient
    limits: LimitGate

    async def close(self) -> None:
        await self.graph.close()
        await self.fno.close()
        await self.limits.close()
        await self.store.close()
        closer = getattr(self.tokens, "close", None)
        if closer is not None:
            await closer()


def open_services(settings: Settings, tokens: TokenSource | None = None) -> Services:
    """Builds the clients without sending anything (no await), so two executions starting at once on
    one event loop cannot both build them."""
    tokens = tokens or token_source_from_settings(
        settings.auth.value, settings.static_token or None, settings.managed_identity_client_id or None
    )
    limits = open_limits(settings)
    graph = GraphClient(
        settings.graph_url,
        tokens,
        rate_limit_per_mailbox=settings.graph_rate_limit,
        rate_window_seconds=settings.graph_rate_window_seconds,
        network_retry_seconds=settings.network_retry_seconds,
        limits=limits,
    )
    fno = FnoClient(
        settings.d365_url,
        tokens,
        parent_links_collection=settings.parent_links_collection,
        network_retry_seconds=settings.network_retry_seconds,
        max_concurrent=settings.fno_max_concurrent,
        rate_limit=settings.fno_rate_limit,
        rate_window=settings.fno_rate_window_seconds,
        limits=limits,
    )
    return Services(tokens=tokens, store=open_store(settings), graph=graph, fno=fno, limits=limits)


async def start_context(
    settings: Settings,
    services: Services,
    queues: QueueSender,
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utc_now,
) -> SyncContext:
    """One job's context (its own report) on shared services; the F&O service checked (once per process)."""
    ctx = SyncContext(
        settings=settings,
        store=services.store,
        graph=services.graph,
        fno=services.fno,
        queues=queues,
        kinds=all_kinds(),
        feeds=all_feeds(),
        schedule=SCHEDULE,
        clock=clock,
        dry_run=dry_run,
    )
    await apply_service_check(ctx)
    return ctx


@asynccontextmanager
async def open_context(
    settings: Settings,
    queues: QueueSender,
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utc_now,
    tokens: TokenSource | None = None,
) -> AsyncIterator[SyncContext]:
    """A context with services of its own, closed at the end: the command line and the local runner."""
    services = open_services(settings, tokens)
    try:
        yield await start_context(settings, services, queues, dry_run=dry_run, clock=clock)
    finally:
        await services.close()
