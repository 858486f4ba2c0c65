"""Scenario 7: Graph's and F&O's limits across instances.

A first sync through the Functions path run by 1 and by 4 worker processes (`python -m tests.hostsim
worker`: each a host instance taking real messages from Azurite's queues and running function_app's
functions), against the stand-ins' cost model served over HTTP. Measured from the stand-ins: Graph and F&O
requests and their 429 answers, the most requests one mailbox had on the wire at once (refused ones
included: what the product sent, not what Graph let through), the same for F&O, and the writes per second.

`quick_check` is the deterministic part for `bench --quick`: several gates (one per instance) over one
Azurite table, many executions each, never more than the capacity in flight nor the limit in a window.
`quick_functions_check` holds the same limit through the Functions path: a small first sync of one mailbox
by two worker processes (function_app's functions taking messages from Azurite's queues), the most Graph
requests that mailbox had on the wire at once counted by the stand-in."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.storage.queue import QueueClient

from bench import functions_path
from bench.tenant import BenchTenant, CostModel, Shape, bench_tenant
from sync_core.app import open_store
from sync_core.limits.gate import LimitGate, resource_key
from sync_core.limits.ledger import Spec
from sync_core.limits.store import TableLimitStore
from sync_core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# host.json's batch (16, next batch at 8); retries and polling shortened so that a run takes seconds.
WORKER_ARGS = (
    "--batch-size", "16",
    "--new-batch-threshold", "8",
    "--visibility-timeout", "1",
    "--max-polling-interval", "0.2",
)  # fmt: skip
DRAIN_LIMIT_S = 300.0
QUIET_S = 1.0  # queues empty this long: the run is over


def product_settings(costs: CostModel, *, shared: bool) -> dict[str, str]:
    """The product's limits for the stand-ins' (scaled) ones: the same margins as the defaults."""
    scale = costs.time_scale
    return {
        "SYNC_SHARED_LIMITS": "true" if shared else "false",
        "SYNC_GRAPH_RATE_LIMIT": str(int(costs.graph_limit * 0.95)),
        "SYNC_GRAPH_RATE_WINDOW_SECONDS": f"{costs.graph_window / scale:g}",
        "SYNC_FNO_RATE_LIMIT": str(int(costs.fno_limit * 0.95)),
        "SYNC_FNO_RATE_WINDOW_SECONDS": f"{costs.fno_window / scale:g}",
        # Not scaled below 15 s: a worker stalled on a busy test machine must not lose its units meanwhile.
        "SYNC_LIMIT_LEASE_SECONDS": f"{max(15.0, 30 / scale):g}",
        # As in the chaos run: creates are seen at once by the stand-ins, failed items retried at once.
        "SYNC_CREATE_OUTCOME_WAIT_SECONDS": "0",
        "SYNC_RETRY_MINUTES": "0",
    }


@contextmanager
def _workers(count: int, env: dict[str, str], workdir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    with open(workdir / "workers.log", "ab") as log:
        try:
            for _ in range(count):
                command = [sys.executable, "-m", "tests.hostsim", "worker", *WORKER_ARGS]
                processes.append(
                    subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stderr=log)
                )
            yield processes
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _depth(clients: list[QueueClient]) -> int:
    return sum(int(c.get_queue_properties().approximate_message_count or 0) for c in clients)


def _drain(settings: Settings) -> float:
    """Seconds until the work queues stay empty (Azure's count includes messages being handled)."""
    names = [settings.scan_queue, settings.item_queue]
    clients = [QueueClient.from_connection_string(settings.storage_connection, n) for n in names]
    started = time.monotonic()
    empty_since: float | None = None
    try:
        while time.monotonic() - started < DRAIN_LIMIT_S:
            if _depth(clients) == 0:
                empty_since = empty_since or time.monotonic()
                if time.monotonic() - empty_since >= QUIET_S:
                    return empty_since - started
            else:
                empty_since = None
            time.sleep(0.1)
        raise RuntimeError(f"the queues were not empty after {DRAIN_LIMIT_S:.0f} s")
    finally:
        for client in clients:
            client.close()


def _poisoned(settings: Settings) -> int:
    count = 0
    for name in (settings.scan_queue, settings.item_queue):
        with QueueClient.from_connection_string(settings.storage_connection, f"{name}-poison") as client:
            try:
                count += int(client.get_queue_properties().approximate_message_count or 0)
            except Exception:
                continue
    return count


def _measure(tenant: BenchTenant, seconds: float, workers: int) -> dict[str, Any]:
    graph = [e for e in tenant.graph.request_log if e["path"] != "/$batch"]
    fno = tenant.fno.request_log
    writes = sum(
        1
        for e in [*graph, *fno]
        if e["method"] in WRITES and int(e["status"]) < 400 and e["path"] != "/$batch"
    )
    graph_429 = sum(1 for e in graph if e["status"] == 429)
    fno_429 = sum(1 for e in fno if e["status"] == 429)
    return {
        "workers": workers,
        "seconds": round(seconds, 2),
        "graph_requests": len(graph),
        "graph_429": graph_429,
        "fno_requests": len(fno),
        "fno_429": fno_429,
        "share_429": round((graph_429 + fno_429) / max(1, len(graph) + len(fno)), 4),
        "graph_in_flight_max": max(tenant.graph.offered_peak.values(), default=0),
        "fno_in_flight_max": tenant.fno.offered_peak,
        "writes": writes,
        "writes_per_second": round(writes / max(seconds, 1e-9), 1),
    }


def first_sync(
    root: Path, shape: Shape, costs: CostModel, workers: int, connection_string: str, *, shared: bool = True
) -> dict[str, Any]:
    """One first sync of `shape` by `workers` worker processes; figures from the stand-ins."""
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) - functions_path.STAND_IN_LAG
    with bench_tenant(root, shape, now=now) as tenant:
        tenant.set_costs(costs)
        tenant.graph.clock = tenant.fno.clock = lambda: datetime.now(UTC) - functions_path.STAND_IN_LAG
        tenant.environ.update(product_settings(costs, shared=shared))
        with functions_path.app_settings(tenant, connection_string) as settings:
            asyncio.run(functions_path.deploy(settings))
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
            planner = [sys.executable, "-m", "tests.hostsim", "timer"]
            with _workers(workers, env, root):
                # The workers start while the planner runs: timed from its end, not from their imports.
                subprocess.run(planner, cwd=root, env=env, check=True, capture_output=True, timeout=120)
                seconds = _drain(settings)
            result = _measure(tenant, seconds, workers)
            result["poisoned"] = _poisoned(settings)
            result["failures"] = asyncio.run(_failures(settings))
    result["shared_limits"] = shared
    return result


async def _failures(settings: Settings) -> int:
    store = open_store(settings)
    try:
        return len(await store.list_failures())
    finally:
        await store.close()


def run(
    root: Path, shape: Shape, costs: CostModel, connection_string: str, *, compare: bool
) -> dict[str, Any]:
    """1 and 4 workers; with `compare`, also 4 workers keeping the limits per process (as before)."""
    runs = {
        "one_worker": first_sync(root / "w1", shape, costs, 1, connection_string),
        "four_workers": first_sync(root / "w4", shape, costs, 4, connection_string),
    }
    if compare:
        runs["four_workers_per_process_limits"] = first_sync(
            root / "w4-local", shape, costs, 4, connection_string, shared=False
        )
    one, four = runs["one_worker"], runs["four_workers"]
    return {
        "shape": shape.__dict__,
        "cost_model": costs.describe(),
        **runs,
        "throughput_ratio_four_to_one": round(
            four["writes_per_second"] / max(one["writes_per_second"], 1e-9), 2
        ),
    }


# ---- the deterministic check for `bench --quick` -----------------------------------------------------


class _Meter:
    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.starts: list[float] = []

    async def call(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        self.starts.append(time.monotonic())
        await asyncio.sleep(0.003)
        self.now -= 1


async def _quick(connection_string: str, instances: int, executions: int, requests: int) -> dict[str, Any]:
    table = "limits" + uuid.uuid4().hex[:10]
    spec = Spec(capacity=4, limit=120, window=1.0, block=10)
    key = resource_key("graph", "quick@contoso.com")
    gates = [
        LimitGate(TableLimitStore.from_connection_string(connection_string, table), lease_seconds=1.0)
        for _ in range(instances)
    ]
    meter = _Meter()

    async def execution(gate: LimitGate) -> None:
        for _ in range(requests):
            async with gate.request(key, spec):
                await meter.call()

    begun = time.monotonic()
    await asyncio.gather(*(execution(g) for g in gates for _ in range(executions)))
    seconds = time.monotonic() - begun
    steps = sum(g.storage_steps for g in gates)
    degraded = sum(not g.shared for g in gates)
    for gate in gates:
        await gate.close()
    starts = sorted(meter.starts)
    most_in_window = max(sum(1 for t in starts if s <= t < s + spec.window) for s in starts)
    return {
        "instances": instances,
        "requests": len(starts),
        "in_flight_max": meter.peak,
        "capacity": spec.capacity,
        "most_in_one_window": most_in_window,
        "limit": spec.limit,
        "storage_steps": steps,
        "degraded_instances": degraded,
        "seconds": round(seconds, 2),
    }


def quick_check(connection_string: str, *, instances: int = 4) -> dict[str, Any]:
    """Several instances' gates on one mailbox through Azurite: no overrun of concurrency or rate."""
    return asyncio.run(_quick(connection_string, instances, executions=6, requests=12))


# One mailbox with many items: each host batch (16 messages) holds many of its pairs at once, so without
# limits kept across executions and instances more than 4 of its requests would be on the wire.
QUICK_SHAPE = Shape(mailboxes=1, appointments=40, tasks=4, contacts=2, shared_contacts=2)
QUICK_WORKERS = 2
# Graph allows 4 concurrent requests per app and mailbox (Outlook service limits,
# https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
GRAPH_MAILBOX_CONCURRENCY = 4


def quick_functions_check(root: Path, costs: CostModel, connection_string: str) -> dict[str, Any]:
    """The per-mailbox in-flight limit through the Functions path (worker processes, Azurite queues)."""
    return first_sync(root, QUICK_SHAPE, costs, QUICK_WORKERS, connection_string)


def functions_problems(check: dict[str, Any]) -> list[str]:
    found = []
    if check["graph_requests"] == 0 or check["failures"] or check["poisoned"]:
        found.append("limits through the Functions path: the first sync did not run cleanly")
    if check["graph_in_flight_max"] > GRAPH_MAILBOX_CONCURRENCY:
        found.append("limits through the Functions path: more Graph requests in flight on one mailbox than 4")
    return found


def problems(check: dict[str, Any]) -> list[str]:
    found = []
    if check["requests"] != check["instances"] * 6 * 12:
        found.append("limits across instances: not every request ran")
    if check["in_flight_max"] > check["capacity"]:
        found.append("limits across instances: more requests in flight on one mailbox than allowed")
    if check["most_in_one_window"] > check["limit"]:
        found.append("limits across instances: more requests in one window than allowed")
    if check["degraded_instances"]:
        found.append("limits across instances: an instance fell back to per-process limits")
    return found


def with_scale(costs: CostModel, time_scale: float) -> CostModel:
    return replace(costs, time_scale=time_scale)
