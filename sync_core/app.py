"""Build a SyncContext from settings: token source, Graph and F&O clients, state store, kinds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sync_core.d365.client import FnoClient
from sync_core.exchange.auth import TokenSource, token_source_from_settings
from sync_core.exchange.client import GraphClient
from sync_core.kinds import all_kinds
from sync_core.pipeline.context import SyncContext, utc_now
from sync_core.pipeline.queues import QueueSender
from sync_core.settings import Settings
from sync_core.state.base import StateStore
from sync_core.state.factory import open_state_store


def storage_credential(settings: Settings) -> Any:
    """Identity-based AzureWebJobsStorage (no keys): the same credential the app authenticates with."""
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    if settings.managed_identity_client_id:
        return ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
    return DefaultAzureCredential()


def open_store(settings: Settings) -> StateStore:
    return open_state_store(
        connection_string=settings.storage_connection or None,
        account_name=settings.storage_account or None,
        credential=storage_credential(settings) if settings.storage_account else None,
        state_dir=settings.state_dir,
        table_prefix=settings.table_prefix,
    )


@asynccontextmanager
async def open_context(
    settings: Settings,
    queues: QueueSender,
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utc_now,
    tokens: TokenSource | None = None,
) -> AsyncIterator[SyncContext]:
    tokens = tokens or token_source_from_settings(
        settings.auth.value, settings.static_token or None, settings.managed_identity_client_id or None
    )
    store = open_store(settings)
    graph = GraphClient(
        settings.graph_url,
        tokens,
        rate_limit_per_mailbox=settings.graph_rate_limit,
        rate_window_seconds=settings.graph_rate_window_seconds,
    )
    fno = FnoClient(settings.d365_url, tokens, parent_links_collection=settings.parent_links_collection)
    try:
        yield SyncContext(
            settings=settings,
            store=store,
            graph=graph,
            fno=fno,
            queues=queues,
            kinds=all_kinds(),
            clock=clock,
            dry_run=dry_run,
        )
    finally:
        await graph.close()
        await fno.close()
        await store.close()
        closer = getattr(tokens, "close", None)
        if closer is not None:
            await closer()
