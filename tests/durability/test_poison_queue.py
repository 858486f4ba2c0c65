"""In Azure: a message the Functions host gave up on (moved to `<queue>-poison`) is not lost. The timer puts
it on the work list and queues it again when due; its failure record is cleared when it succeeds."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from simulators.sample_data import CATEGORY
from sync_core.runtime.messages import SyncPair, encode
from sync_core.state.tables import TableStateStore
from tests.e2e.deletion_helpers import graph_time
from tests.e2e.harness import Tenant
from tests.e2e.test_functions import _USER_FUNCTIONS, _drain, _full_cycle, _queue
from tests.e2e.test_functions import azure_tenant as azure_tenant  # the fixture, shared
from tests.instance_run import run as run_functions

pytestmark = pytest.mark.azurite
ALICE = "alice@contoso.com"


async def _failures(tenant: Tenant) -> list[Any]:
    settings = tenant.settings()
    store = TableStateStore.from_connection_string(settings.storage_connection, prefix=settings.table_prefix)
    try:
        return await store.list_failures()
    finally:
        await store.close()


async def _poison(tenant: Tenant, message: SyncPair) -> None:
    settings = tenant.settings()
    async with _queue(tenant, f"{settings.item_queue}-poison") as poison:
        await poison.send_message(encode(message))


async def _poison_depth(tenant: Tenant) -> int:
    settings = tenant.settings()
    async with _queue(tenant, f"{settings.item_queue}-poison") as poison:
        return len([m async for m in poison.receive_messages(max_messages=32, visibility_timeout=1)])


def test_a_poisoned_pair_message_is_retried_by_a_later_timer(azure_tenant: Tenant, monkeypatch: Any) -> None:
    tenant = azure_tenant
    run_functions(_full_cycle(tenant))
    start = tenant.now.replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    event = tenant.graph.add_event(
        ALICE,
        {
            "subject": "Poisoned once",
            "start": graph_time(start),
            "end": graph_time(start + timedelta(hours=1)),
            "categories": [CATEGORY],
        },
    )
    # The host moved the pair message to the poison queue (its worker died on every attempt); the delta
    # that reported the event has moved on, so nothing else would bring it back.
    asyncio.run(_poison(tenant, SyncPair(kind="appointment", mailbox=ALICE, graph_id=event["id"])))

    monkeypatch.setenv("SYNC_RETRY_MINUTES", "0.05")  # 3 s on the real clock the functions use
    from sync_core import functions

    functions.settings.cache_clear()
    asyncio.run(_USER_FUNCTIONS["plan_cycle"](_timer()))
    assert asyncio.run(_poison_depth(tenant)) == 0
    [waiting] = [f for f in asyncio.run(_failures(tenant)) if f.item_key == event["id"]]
    assert waiting.waiting_for_retry and "poison queue" in waiting.reason

    # When it is due, the timer queues it again and the item function syncs it: one activity, no failure.
    time.sleep(3.5)
    settings = tenant.settings()

    async def timer_then_items() -> None:
        await _USER_FUNCTIONS["plan_cycle"](_timer())
        await _drain(tenant, settings.item_queue, "sync_item")

    asyncio.run(timer_then_items())
    assert len([a for a in tenant.appointments() if a["Purpose"] == "Poisoned once"]) == 1
    assert [f for f in asyncio.run(_failures(tenant)) if f.item_key == event["id"]] == []


def _timer() -> Any:
    from azure.functions.timer import TimerRequest

    return TimerRequest()
