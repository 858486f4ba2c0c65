"""The Azure Functions themselves, end to end: timer -> scan queue -> item queue on Azurite, state in
Azure Table Storage (Azurite), Graph and F&O stand-ins over HTTP. Messages are taken from the real queues
and handed to the functions as the host would (base64 decoded body, dequeue count)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import BinaryBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

import function_app
from sync_core import functions
from sync_core.kinds import all_feeds, all_kinds
from sync_core.pipeline.handlers import TransientError
from sync_core.runtime.queues import StorageQueues
from sync_core.state.tables import TableStateStore
from tests.e2e.harness import Tenant, sample_tenant
from tests.instance_run import run as run_functions

pytestmark = pytest.mark.azurite

_USER_FUNCTIONS: dict[str, Callable[..., Coroutine[Any, Any, None]]] = {
    str(f.get_function_name()): f.get_user_function() for f in function_app.app.get_functions()
}


@contextmanager
def functions_tenant(
    tmp_path: Path,
    connection_string: str,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    extra: Mapping[str, str] | None = None,
) -> Iterator[Tenant]:
    """The sample tenant set up as the Functions app sees it (Azurite tables and queues, settings in the
    environment); `extra`: settings of the test's own."""
    with sample_tenant(tmp_path, now=datetime.now(UTC)) as tenant:
        tenant.extra_env = {
            "AzureWebJobsStorage": connection_string,
            "SYNC_TABLE_PREFIX": prefix,
            "SYNC_SCAN_QUEUE": f"{prefix}-scan",
            "SYNC_ITEM_QUEUE": f"{prefix}-items",
            "SYNC_SCHEDULE": "0 */5 * * * *",
            **(extra or {}),
        }
        for name, value in {**tenant.environ, **tenant.extra_env}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        functions.settings.cache_clear()
        asyncio.run(_ensure_queues(tenant))
        yield tenant
        functions.settings.cache_clear()


@pytest.fixture
def azure_tenant(
    tmp_path: Path, azurite_connection_string: str, unique_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tenant]:
    with functions_tenant(tmp_path, azurite_connection_string, unique_prefix, monkeypatch) as tenant:
        yield tenant


async def _ensure_queues(tenant: Tenant) -> None:
    settings = tenant.settings()
    queues = StorageQueues.from_connection_string(settings.storage_connection)
    try:
        await queues.ensure_queues([settings.scan_queue, settings.item_queue])
    finally:
        await queues.close()


def _queue(tenant: Tenant, name: str) -> QueueClient:
    return QueueClient.from_connection_string(
        tenant.settings().storage_connection,
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(),
    )


async def _drain(tenant: Tenant, queue_name: str, function: str, *, fail_ok: bool = False) -> int:
    """Deliver every message of one queue to its function, as the host does; returns how many ran."""
    handled = 0
    async with _queue(tenant, queue_name) as queue:
        while True:
            batch = [m async for m in queue.receive_messages(max_messages=32, visibility_timeout=60)]
            if not batch:
                return handled
            for message in batch:
                body = message.content
                assert isinstance(body, bytes)
                try:
                    delivered = QueueMessage(  # type: ignore[no-untyped-call]
                        id=message.id, body=body, dequeue_count=message.dequeue_count
                    )
                    await _USER_FUNCTIONS[function](delivered)
                except TransientError:
                    if not fail_ok:
                        raise
                    continue  # left on the queue: the host would retry it
                await queue.delete_message(message)
                handled += 1


async def _full_cycle(tenant: Tenant) -> tuple[int, int]:
    settings = tenant.settings()
    await _USER_FUNCTIONS["plan_cycle"](TimerRequest())
    scans = await _drain(tenant, settings.scan_queue, "scan")
    items = await _drain(tenant, settings.item_queue, "sync_item")
    return scans, items


async def _links(tenant: Tenant) -> list[Any]:
    settings = tenant.settings()
    store = TableStateStore.from_connection_string(settings.storage_connection, prefix=settings.table_prefix)
    try:
        found: list[Any] = []
        for mailbox in ("alice@contoso.com", "bob@contoso.com", "carol@contoso.com"):
            found.extend(await store.list_links("appointment", mailbox))
        return found
    finally:
        await store.close()


def test_timer_scan_and_item_functions_sync_through_azure_queues_and_tables(azure_tenant: Tenant) -> None:
    tenant = azure_tenant
    scans, items = run_functions(_full_cycle(tenant))
    # Per kind: one scan per mailbox it serves plus one F&O feed scan. Appointments, tasks, e-mail import
    # and private contacts serve the 3 mailboxes with a worker; shared contact lists serve the 1 shared
    # mailbox. Then one item message per changed pair.
    kinds = [*all_kinds(), *all_feeds()]
    assert scans == 4 * (len(kinds) - 1) + 2
    assert "shared_contact" in kinds and "email" in kinds
    assert items >= 7
    links = asyncio.run(_links(tenant))
    assert len(links) == 7
    assert (
        sum(
            len(tenant.graph.events(m)) for m in ("alice@contoso.com", "bob@contoso.com", "carol@contoso.com")
        )
        == 8
    )
    assert len(tenant.appointments()) == 8

    mark = tenant.mark_logs()
    run_functions(_full_cycle(tenant))
    assert tenant.writes_since(mark) == []


def test_transient_failure_is_recorded_and_left_for_the_queue_to_retry(
    azure_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = azure_tenant
    settings = tenant.settings()

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("F&O unreachable")

    asyncio.run(_USER_FUNCTIONS["plan_cycle"](TimerRequest()))
    run_functions(_drain(tenant, settings.scan_queue, "scan"))
    monkeypatch.setattr("sync_core.pipeline.handlers.sync_pair", broken)
    monkeypatch.setattr("sync_core.pipeline.handlers.import_message", broken)
    handled = run_functions(_drain(tenant, settings.item_queue, "sync_item", fail_ok=True))
    assert handled == 0

    async def failures() -> list[Any]:
        store = TableStateStore.from_connection_string(
            settings.storage_connection, prefix=settings.table_prefix
        )
        try:
            return await store.list_failures()
        finally:
            await store.close()

    recorded = asyncio.run(failures())
    assert recorded and all("ConnectionError" in f.reason for f in recorded)
    # The messages are still there for the host to retry (and, after maxDequeueCount, to poison).
    monkeypatch.undo()
    for name, value in {**tenant.environ, **tenant.extra_env}.items():
        monkeypatch.setenv(name, value)
    functions.settings.cache_clear()
    tenant_links_before = len(asyncio.run(_links(tenant)))
    assert tenant_links_before == 0
