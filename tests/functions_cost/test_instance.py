"""What a Functions execution costs and what it shares: function_app's own functions on
Azurite's queues and tables, as the host runs them, several at once on one event loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from bench import functions_path
from bench.tenant import Shape, bench_tenant, mailbox_address
from sync_core import instance
from sync_core.runtime.messages import ScanMailbox, encode

pytestmark = pytest.mark.azurite

SMALL = Shape(mailboxes=2, appointments=4, tasks=2, contacts=2, shared_contacts=2)


def test_executions_of_one_instance_share_the_store_and_clients(
    tmp_path: Path, azurite_connection_string: str
) -> None:
    result = functions_path.run(tmp_path, SMALL, azurite_connection_string)
    start, idle = result["instance_start"], result["idle"]
    # Two idle cycles (39 executions, up to 16 at once) open the instance's services once.
    assert start["services_opened_in_two_cycles"] == 1
    # The deployment made the tables: the instance checks them with one query and creates none.
    assert start["create_table"] == 0 and result["idle_first_cycle_of_instance"]["create_table"] == 0
    assert idle["create_table"] == 0
    first = result["idle_first_cycle_of_instance"]
    assert first["state_table_requests"] == idle["state_table_requests"] + 1
    # The limits across instances: a few requests per mailbox and cycle, not one per Graph request.
    assert 0 < idle["limits_table_requests_per_idle_scan"] <= functions_path.LIMITS_REQUESTS_PER_IDLE_SCAN
    assert idle["scan_executions"] >= 4 * SMALL.mailboxes
    assert idle["table_requests_per_idle_scan"] <= functions_path.TABLE_REQUESTS_PER_IDLE_SCAN
    assert idle["table_requests_per_idle_mailbox_scan_max"] <= functions_path.TABLE_REQUESTS_PER_IDLE_SCAN
    # Opening per message (as before) costs more requests for the same work.
    assert result["idle_opened_per_message"]["table_requests"] > idle["table_requests"]


def test_the_per_mailbox_graph_limit_holds_across_concurrent_executions(
    tmp_path: Path, azurite_connection_string: str
) -> None:
    mailbox = mailbox_address(0)
    with (
        bench_tenant(tmp_path, SMALL, now=datetime.now(UTC) - timedelta(hours=1)) as tenant,
        functions_path.app_settings(tenant, azurite_connection_string) as settings,
    ):
        asyncio.run(_concurrent_scans(tenant, settings, mailbox))


async def _concurrent_scans(tenant: Any, settings: Any, mailbox: str) -> None:
    with functions_path.meter_for(settings) as meter:
        await functions_path.deploy(settings)
        host = functions_path.FunctionsHost(settings, meter, per_message=False)
        await host.cycle()  # the mailboxes registered and synced
        scan = host.functions["scan"]
        # Eight executions on one mailbox at once (duplicates are harmless): each reads its feed first.
        bodies = [
            encode(ScanMailbox(kind=kind, mailbox=mailbox)).encode()
            for kind in ("appointment", "task", "contact", "email")
            for _ in range(2)
        ]
        mark = len(tenant.graph.request_log)
        tenant.graph.hold_requests(mailbox)

        async def deliver(n: int, body: bytes) -> None:
            await scan(QueueMessage(id=str(n), body=body, dequeue_count=1))  # type: ignore[no-untyped-call]

        runs = [asyncio.create_task(deliver(n, body)) for n, body in enumerate(bodies)]
        try:
            await _settle(lambda: tenant.graph.in_flight(mailbox))
            in_flight = tenant.graph.in_flight(mailbox)
        finally:
            tenant.graph.release_requests(mailbox)
        await asyncio.gather(*runs)
        await instance.close_instance()
    answers = [e for e in tenant.graph.request_log[mark:] if (e.get("mailbox") or "") == mailbox]
    # Several executions' requests were in flight together, never more than Graph's 4 for the mailbox.
    assert in_flight == 4
    assert [e for e in answers if e["status"] == 429] == []
    assert len(answers) >= len(bodies)


async def _settle(value: Any, quiet: float = 1.0, limit: float = 30.0) -> None:
    """Wait until `value()` is above 0 and has not changed for `quiet` seconds."""
    loop = asyncio.get_running_loop()
    last, since, begun = value(), loop.time(), loop.time()
    while (last == 0 or loop.time() - since < quiet) and loop.time() - begun < limit:
        await asyncio.sleep(0.05)
        now = value()
        if now != last:
            last, since = now, loop.time()
