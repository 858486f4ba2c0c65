"""Scenario 6: what one Functions execution costs, through the Functions path.

function_app.py's own functions get their messages from Storage queues on Azurite as the host hands them
over (up to host.json's batchSize of 16 at once on one event loop, as the Python worker runs `async def`
functions), state in Azure Table Storage (Azurite). The tables and queues exist beforehand, as the
deployment creates them (infra/modules/storage.bicep). A first sync and its echo set the tenant up; then
idle cycles (timer, scans, nothing changed) are measured twice: with the instance's services kept across
executions (the product) and opened for every message (as an earlier version did), for comparison. Counted:
every Table and Queue request each execution sends, Create Table among them, and the event loop thread's
CPU (the stand-ins run in threads of their own, Azurite in a process of its own)."""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from azure.data.tables.aio import TableServiceClient
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue.aio import QueueClient

from bench.counting import StorageMeter, Tally
from bench.tenant import BenchTenant, Shape, bench_tenant
from sync_core import functions, instance
from sync_core.app import open_context, open_store, storage_queues
from sync_core.limits.gate import LINGER_SECONDS
from sync_core.limits.store import limits_table
from sync_core.pipeline.handlers import handle_message
from sync_core.runtime.messages import decode
from sync_core.settings import Settings

TABLE_REQUESTS_PER_IDLE_SCAN = 5  # the target in docs/performance.md section 6 (state tables)
LIMITS_REQUESTS_PER_IDLE_SCAN = 1.5  # the limits across instances: a few per mailbox and cycle
BATCH = 16  # host.json extensions.queues.batchSize
STAND_IN_LAG = timedelta(hours=1)


@lru_cache(maxsize=1)
def _functions() -> dict[str, Callable[..., Awaitable[None]]]:
    import function_app

    app = function_app.app
    # get_functions() refuses to index an app twice (its name check remembers); the tests index it too.
    app.functions_bindings = None
    return {str(f.get_function_name()): f.get_user_function() for f in app.get_functions()}


def _label(body: bytes) -> str:
    message = decode(body.decode("utf-8"))
    return f"{message.type} {getattr(message, 'kind', 'chunk')}"


class FunctionsHost:
    """Takes messages from the trigger queues and runs function_app's functions on them, a batch at a time
    on one event loop (tests/hostsim/host.py is the full stand-in; retries are not needed here)."""

    def __init__(self, settings: Settings, meter: StorageMeter, *, per_message: bool) -> None:
        self.settings = settings
        self.meter = meter
        self.per_message = per_message
        self.functions = _functions()

    async def timer(self) -> None:
        await self.meter.execution("timer", lambda: self._run(self.functions["plan_cycle"], TimerRequest()))

    async def drain(self, queue_name: str, function: str) -> int:
        handled = 0
        async with QueueClient.from_connection_string(self.settings.storage_connection, queue_name) as queue:
            while True:
                batch = [m async for m in queue.receive_messages(max_messages=BATCH, visibility_timeout=60)]
                if not batch:
                    return handled
                await asyncio.gather(*(self._one(queue, function, m) for m in batch))
                handled += len(batch)

    async def _one(self, queue: QueueClient, function: str, message: Any) -> None:
        body = base64.b64decode(message.content)
        delivered = QueueMessage(id=message.id, body=body, dequeue_count=message.dequeue_count)  # type: ignore[no-untyped-call]
        await self.meter.execution(_label(body), lambda: self._run(self.functions[function], delivered))
        await queue.delete_message(message)

    async def _run(self, function: Callable[..., Awaitable[None]], argument: Any) -> None:
        if self.per_message and isinstance(argument, QueueMessage):
            await _opened_per_message(argument.get_body(), argument.dequeue_count or 1)
            return
        await function(argument)
        if self.per_message:
            await instance.close_instance()

    async def cycle(self) -> int:
        await self.timer()
        scans = await self.drain(self.settings.scan_queue, "scan")
        items = await self.drain(self.settings.item_queue, "sync_item")
        return scans + items


async def _opened_per_message(body: bytes, dequeue_count: int) -> None:
    """What every queue execution did when services were not kept per instance: its own store, clients
    and queues."""
    settings = functions.settings()
    queues = storage_queues(settings)
    try:
        async with open_context(settings, queues) as ctx:
            await handle_message(ctx, body, dequeue_count)
    finally:
        await queues.close()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """App settings come from the environment, as in Azure."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    functions.settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        functions.settings.cache_clear()


async def deploy(settings: Settings) -> None:
    """What the deployment creates: the state tables and the work queues with their poison queues."""
    store = open_store(settings)
    try:
        await store.list_failures()  # creates the missing tables
    finally:
        await store.close()
    queues = storage_queues(settings)
    try:
        await queues.ensure_queues([settings.scan_queue, settings.item_queue])
    finally:
        await queues.close()
    async with TableServiceClient.from_connection_string(settings.storage_connection) as service:
        await service.create_table_if_not_exists(limits_table(settings.table_prefix))


def _limits_calls(calls: list[str]) -> int:
    """Requests to the limits' table (sync_core/limits): counted apart from the state tables'."""
    return sum(1 for call in calls if call.endswith("Limits"))


def _state(tally: Tally) -> int:
    return tally.table - _limits_calls(tally.calls)


def _summary(executions: list[Tally], cpu_seconds: float, host_calls: list[str]) -> dict[str, Any]:
    """Table figures per execution are the state tables'; the limits' own requests (taken in executions,
    renewed and given back by the instance in the background) are `limits_table_requests`."""
    scans = [t for t in executions if t.label.startswith(("scan-mailbox", "scan-fno"))]
    mailbox_scans = [t for t in scans if t.label.startswith("scan-mailbox")]
    timers = [t for t in executions if t.label == "timer"]
    count = max(len(executions), 1)
    limits = sum(_limits_calls(t.calls) for t in executions) + _limits_calls(host_calls)
    return {
        "executions": len(executions),
        "scan_executions": len(scans),
        "table_requests": sum(t.table for t in executions) + _limits_calls(host_calls),
        "state_table_requests": sum(_state(t) for t in executions),
        "limits_table_requests": limits,
        "limits_table_requests_per_idle_scan": round(limits / max(len(scans), 1), 2),
        "queue_requests": sum(t.queue for t in executions),
        "create_table": sum(t.create_table for t in executions),
        "table_requests_per_idle_scan": round(sum(_state(t) for t in scans) / max(len(scans), 1), 2),
        "table_requests_per_idle_mailbox_scan_max": max((_state(t) for t in mailbox_scans), default=0),
        "table_requests_per_idle_fno_scan_max": max(
            (_state(t) for t in scans if t not in mailbox_scans), default=0
        ),
        "queue_requests_per_idle_scan": round(sum(t.queue for t in scans) / max(len(scans), 1), 2),
        "timer_table_requests": sum(t.table for t in timers),
        "timer_queue_requests": sum(t.queue for t in timers),
        "cpu_ms_per_execution": round(cpu_seconds * 1000 / count, 2),
        "table_calls_of_scans": dict(Counter(c for t in scans for c in t.calls).most_common()),
    }


async def _idle_cycle(host: FunctionsHost, meter: StorageMeter) -> dict[str, Any]:
    start, host_start = len(meter.executions), len(meter.host.calls)
    begun = time.thread_time()
    await host.cycle()
    cpu = time.thread_time() - begun
    # Cycles are minutes apart: the instance gives back its limits' units before the next one.
    await asyncio.sleep(LINGER_SECONDS + 0.5)
    return _summary(meter.executions[start:], cpu, meter.host.calls[host_start:])


async def _scenario(settings: Settings, meter: StorageMeter) -> dict[str, Any]:
    await deploy(settings)
    kept = FunctionsHost(settings, meter, per_message=False)
    for _ in range(2):  # the first sync, then the cycle that sees its echo
        await kept.cycle()
    await asyncio.sleep(LINGER_SECONDS + 0.5)  # as long after the first sync as cycles are apart
    instance_start = len(meter.executions)
    await instance.close_instance()
    opened_before = instance.opened
    first = await _idle_cycle(kept, meter)  # the instance's first execution opens its services
    first_execution = meter.executions[instance_start]
    steady = await _idle_cycle(kept, meter)
    services_opened = instance.opened - opened_before
    await instance.close_instance()
    per_message = await _idle_cycle(FunctionsHost(settings, meter, per_message=True), meter)
    return {
        "instance_start": {
            "table_requests": first_execution.table,
            "create_table": first_execution.create_table,
            "services_opened_in_two_cycles": services_opened,
        },
        "idle_first_cycle_of_instance": first,
        "idle": steady,
        "idle_opened_per_message": per_message,
    }


@contextmanager
def app_settings(tenant: BenchTenant, connection_string: str) -> Iterator[Settings]:
    """The tenant's settings on Azurite, with tables and queues of their own, as app settings."""
    prefix = "b" + uuid.uuid4().hex[:10]
    values = {
        **tenant.environ,
        "AzureWebJobsStorage": connection_string,
        "SYNC_TABLE_PREFIX": prefix,
        "SYNC_SCAN_QUEUE": f"{prefix}-scan",
        "SYNC_ITEM_QUEUE": f"{prefix}-items",
    }
    with _environment(values):
        yield functions.settings()


def meter_for(settings: Settings) -> StorageMeter:
    parts = dict(part.split("=", 1) for part in settings.storage_connection.split(";") if "=" in part)
    return StorageMeter(parts["TableEndpoint"], parts["QueueEndpoint"])


@contextmanager
def azurite(workdir: Path) -> Iterator[str]:
    """AZURITE_CONNECTION_STRING when set, else an emulator started from .tools/ (as the tests do)."""
    external = os.environ.get("AZURITE_CONNECTION_STRING")
    if external:
        yield external
        return
    from tests import azurite as emulator_tool

    workdir.mkdir(parents=True, exist_ok=True)
    emulator = emulator_tool.start(workdir)  # AzuriteError says how to install it
    try:
        yield emulator.connection_string
    finally:
        emulator.stop()


def run(root: Path, shape: Shape, connection_string: str) -> dict[str, Any]:
    with bench_tenant(root, shape, now=datetime.now(UTC) - STAND_IN_LAG) as tenant:
        # The Functions take no clock: the product runs on the real one, the stand-ins an hour behind, so
        # that every edit is older than the F&O feeds' overlap, as in an idle hour (the feeds re-read what
        # changed in the last SYNC_FNO_OVERLAP_SECONDS: a cost of recent changes, not of being idle).
        tenant.graph.clock = tenant.fno.clock = lambda: datetime.now(UTC) - STAND_IN_LAG
        with app_settings(tenant, connection_string) as settings, meter_for(settings) as meter:
            result = asyncio.run(_scenario(settings, meter))
    return {"shape": shape.__dict__, **result}
