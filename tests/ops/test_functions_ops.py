"""`pause`, `resume` and `retry` against the Functions on Azurite: the commands write the storage account,
the timer and queue functions pick it up."""

from __future__ import annotations

import asyncio

import pytest
from azure.functions.timer import TimerRequest

from sync_core.pipeline.retry import PARKED
from tests.e2e.harness import Tenant
from tests.e2e.test_functions import _USER_FUNCTIONS, _drain, _full_cycle, _queue, azure_tenant
from tests.instance_run import run as run_functions
from tests.ops.helpers import ALICE, command, read

__all__ = ["azure_tenant"]  # the fixture
pytestmark = pytest.mark.azurite


def _lunch_in_fno(tenant: Tenant) -> bool:
    return any(a["Purpose"] == "Lunch with Litware" for a in tenant.appointments())


def test_pause_parks_queued_items_and_resume_sends_them(azure_tenant: Tenant) -> None:
    tenant = azure_tenant
    settings = tenant.settings()
    asyncio.run(_plan_and_scan(tenant))  # scans queued alice's pair messages, not yet run
    assert command(tenant, "pause", "--mailbox", ALICE, "--actor", "ops") == 0
    run_functions(_drain(tenant, settings.item_queue, "sync_item"))  # the host delivers: parked, none fails
    assert not _lunch_in_fno(tenant)
    parked = [f for f in read(tenant, lambda s: s.list_failures()) if f.mailbox == ALICE]
    assert parked and all(f.reason == PARKED and f.message for f in parked)
    run_functions(_full_cycle(tenant))  # the timer plans no scan of alice, requeues nothing
    assert not _lunch_in_fno(tenant)
    assert command(tenant, "resume", "--mailbox", ALICE, "--actor", "ops") == 0
    run_functions(_full_cycle(tenant))
    assert _lunch_in_fno(tenant)
    assert [f for f in read(tenant, lambda s: s.list_failures()) if f.mailbox == ALICE] == []


def test_retry_takes_poison_queue_messages_back(
    azure_tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = azure_tenant
    settings = tenant.settings()
    asyncio.run(_plan_and_scan(tenant))
    # As if the host had given up on alice's items: move them to the poison queue.
    asyncio.run(_poison_all(tenant, settings.item_queue, ALICE))
    assert command(tenant, "retry", "--mailbox", ALICE, "--actor", "ops") == 0
    out = capsys.readouterr().out
    assert "message(s) taken from the poison queues" in out and not out.startswith("0 ")
    run_functions(_full_cycle(tenant))
    assert _lunch_in_fno(tenant)
    assert [f for f in read(tenant, lambda s: s.list_failures()) if f.mailbox == ALICE] == []


async def _plan_and_scan(tenant: Tenant) -> None:
    await _USER_FUNCTIONS["plan_cycle"](TimerRequest())
    await _drain(tenant, tenant.settings().scan_queue, "scan")


async def _poison_all(tenant: Tenant, queue_name: str, mailbox: str) -> None:
    moved = 0
    async with _queue(tenant, queue_name) as queue, _queue(tenant, f"{queue_name}-poison") as poison:
        async for message in queue.receive_messages(max_messages=32, visibility_timeout=60):
            body = message.content
            text = body.decode() if isinstance(body, bytes) else str(body)
            if f'"mailbox":"{mailbox}"' in text:
                await poison.send_message(text)
                await queue.delete_message(message)
                moved += 1
    assert moved
