"""Limits across instances on real Storage (Azurite): worker processes through the Functions path against the
stand-ins' cost model, the quick check `bench --quick` runs, and a holder killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bench import instances
from bench.tenant import CostModel, Shape
from sync_core.limits.gate import LimitGate, resource_key
from sync_core.limits.store import TableLimitStore
from tests.limits.holder import SPEC

pytestmark = pytest.mark.azurite

ROOT = Path(__file__).resolve().parents[2]
# Three mailboxes for four workers taking up to 16 messages each: executions of one mailbox run at once
# in several processes.
SMALL = Shape(mailboxes=3, appointments=6, tasks=2, contacts=2, shared_contacts=2)


def test_no_overrun_across_instances_quick_check(azurite_connection_string: str) -> None:
    check = instances.quick_check(azurite_connection_string)
    assert instances.problems(check) == [], check


def test_four_worker_processes_keep_the_limits_of_graph_and_fno(
    tmp_path: Path, azurite_connection_string: str
) -> None:
    result = instances.first_sync(tmp_path, SMALL, CostModel(time_scale=5), 4, azurite_connection_string)
    assert result["failures"] == 0 and result["poisoned"] == 0, result
    assert result["writes"] > 0
    assert result["graph_in_flight_max"] <= 4, result
    assert result["fno_in_flight_max"] <= 48, result
    assert result["share_429"] < 0.01, result


def test_a_killed_instance_blocks_a_mailbox_only_until_its_lease_expires(
    azurite_connection_string: str,
) -> None:
    table, key, lease = "limits" + uuid.uuid4().hex[:10], resource_key("graph", "killed@contoso.com"), 3.0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tests.limits.holder", azurite_connection_string, table, key, str(lease)]
    holder = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        blocked, waited = asyncio.run(_after_kill(azurite_connection_string, table, key, lease, holder))
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
    assert blocked  # while the holder lived, the mailbox had no free unit
    # After the kill: free again once the lease ran out (it was renewed at most lease/3 before), not later.
    assert lease * 2 / 3 - 0.5 <= waited <= lease + 8.0  # slack for a loaded machine


async def _after_kill(
    connection_string: str, table: str, key: str, lease: float, holder: subprocess.Popen[bytes]
) -> tuple[bool, float]:
    gate = LimitGate(TableLimitStore.from_connection_string(connection_string, table), lease_seconds=lease)
    inside = 0
    all_in = asyncio.Event()

    async def one() -> None:
        nonlocal inside
        async with gate.request(key, SPEC):
            inside += 1
            if inside == SPEC.capacity:
                all_in.set()
            await all_in.wait()

    try:
        try:
            await asyncio.wait_for(one(), 1.0)
            blocked = False
        except TimeoutError:
            blocked = True
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        killed = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(SPEC.capacity))), lease + 10)
        return blocked, time.monotonic() - killed
    finally:
        await gate.close()
