"""The Azure Functions path on Azurite: each invocation has its own context, yet the timer's plan and every
queue message of the cycle share one trace; the timer reads the depth of the work and poison queues."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.storage.queue import BinaryBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from sync_core import functions
from sync_core.runtime.queues import StorageQueues
from sync_core.settings import Settings
from sync_core.telemetry import names, record_queue_depths
from sync_core.telemetry.queue_depth import watched_queues
from tests.e2e.harness import Tenant, sample_tenant
from tests.instance_run import run as run_functions
from tests.telemetry.conftest import Captured

pytestmark = pytest.mark.azurite


@pytest.fixture
def azure_tenant(tmp_path: Path, azurite_connection_string: str, unique_prefix: str) -> Iterator[Tenant]:
    with sample_tenant(tmp_path, now=datetime.now(UTC)) as tenant:
        tenant.extra_env = {
            "AzureWebJobsStorage": azurite_connection_string,
            "SYNC_TABLE_PREFIX": unique_prefix,
            "SYNC_SCAN_QUEUE": f"{unique_prefix}-scan",
            "SYNC_ITEM_QUEUE": f"{unique_prefix}-items",
        }
        asyncio.run(_ensure_queues(tenant.settings()))
        yield tenant


async def _ensure_queues(settings: Settings) -> None:
    queues = StorageQueues.from_connection_string(settings.storage_connection)
    try:
        await queues.ensure_queues([settings.scan_queue, settings.item_queue])
    finally:
        await queues.close()


def _queue(settings: Settings, name: str) -> QueueClient:
    return QueueClient.from_connection_string(
        settings.storage_connection,
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(),
    )


async def _deliver_scans(settings: Settings) -> int:
    """Hand every scan message to the queue function, as the host would (one invocation each)."""
    handled = 0
    async with _queue(settings, settings.scan_queue) as queue:
        async for message in queue.receive_messages(max_messages=32, visibility_timeout=60):
            await functions.on_queue_message(message.content, message.dequeue_count or 1, settings)
            await queue.delete_message(message)
            handled += 1
    return handled


def _depths(otel: Captured) -> dict[str, float]:
    return {str(p.attributes[names.QUEUE]): p.value for p in otel.points(names.QUEUE_DEPTH)}


def test_timer_and_queue_invocations_share_the_cycle_trace(azure_tenant: Tenant, otel: Captured) -> None:
    settings = azure_tenant.settings()
    queued = run_functions(functions.on_timer(settings))
    assert _depths(otel)[settings.scan_queue] == queued  # read right after the plan was queued
    assert _depths(otel)[f"{settings.item_queue}-poison"] == 0
    handled = run_functions(_deliver_scans(settings))
    assert handled == queued
    [plan] = otel.spans(names.SPAN_PLAN)
    cycle_id = str((plan.attributes or {})[names.CYCLE_ID])
    scans = otel.spans("sync scan-")
    assert len(scans) == handled
    assert {s.context.trace_id for s in scans if s.context} == {int(cycle_id, 16)}
    assert all((s.attributes or {})[names.OUTCOME] == "ok" for s in scans)


def test_poison_queue_depth_is_reported(azure_tenant: Tenant, otel: Captured) -> None:
    settings = azure_tenant.settings()

    async def poison_one() -> None:
        async with _queue(settings, f"{settings.item_queue}-poison") as queue:
            await queue.send_message('{"v": 1, "type": "sync-pair", "kind": "appointment", "mailbox": "x"}')

    asyncio.run(poison_one())
    depths = asyncio.run(record_queue_depths(settings))
    assert depths == {
        settings.scan_queue: 0,
        f"{settings.scan_queue}-poison": 0,
        settings.item_queue: 0,
        f"{settings.item_queue}-poison": 1,
    }
    assert _depths(otel) == depths
    assert watched_queues(settings) == list(depths)


def test_queue_depth_is_not_read_without_an_exporter(azure_tenant: Tenant) -> None:
    """No telemetry configured (the default): no storage calls for a metric nobody receives."""
    assert asyncio.run(record_queue_depths(azure_tenant.settings())) == {}


def test_unreachable_storage_is_logged_not_raised(
    azure_tenant: Tenant, otel: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sync_core.telemetry.queue_depth.READ_TIMEOUT_SECONDS", 1.0)
    settings = azure_tenant.settings().model_copy(
        update={
            "storage_connection": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
            "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        }
    )
    started = time.monotonic()
    assert asyncio.run(record_queue_depths(settings)) == {}
    assert time.monotonic() - started < 5  # bounded: a metric never holds up the timer
    assert otel.points(names.QUEUE_DEPTH) == []
