"""A worker killed (SIGKILL, a real process) between a notification's scan and its note of the read loses
nothing: the message comes back after its lease, and the change reaches F&O (docs/notifications.md)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulators.graph.subscriptions import book
from sync_core.app import open_store
from sync_core.pipeline.poll_schedule import Marker, marker_name
from tests.e2e.harness import Tenant
from tests.e2e.test_functions import _drain, _full_cycle
from tests.instance_run import run as run_functions
from tests.notifications.test_e2e import ALICE, _linked_event, _peek_scans, azure_tenant  # noqa: F401

pytestmark = pytest.mark.azurite
LEASE_SECONDS = 2
ROOT = Path(__file__).resolve().parents[2]


async def _marker(tenant: Tenant) -> Marker:
    store = open_store(tenant.settings())
    try:
        cursor = await store.get_cursor(marker_name("appointment", ALICE))
        return Marker.parse(cursor.value if cursor else None)
    finally:
        await store.close()


def test_a_worker_killed_before_noting_its_read_loses_no_change(azure_tenant: Tenant) -> None:  # noqa: F811
    tenant = azure_tenant
    run_functions(_full_cycle(tenant))
    run_functions(_full_cycle(tenant))
    before = asyncio.run(_marker(tenant))
    event = _linked_event(tenant)
    tenant.graph.update_event(ALICE, str(event["id"]), {"subject": "Survives a kill"})
    assert book(tenant.graph).notify(ALICE, "events", str(event["id"])) == 1
    assert asyncio.run(_peek_scans(tenant)) == [(ALICE, "appointment")]

    worker = subprocess.run(
        [sys.executable, "-m", "tests.notifications.crash_worker", str(LEASE_SECONDS)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == -9, worker.stderr[-2000:]
    assert worker.stdout.strip() == "killed"
    assert asyncio.run(_marker(tenant)) == before  # the read was not noted: the pair stays due

    # The host that died held the message until its lease ran out; then it is taken again.
    settings = tenant.settings()
    deadline, scanned = time.monotonic() + 60, 0
    while not scanned and time.monotonic() < deadline:
        time.sleep(0.5)
        scanned = run_functions(_drain(tenant, settings.scan_queue, "scan"))
    assert scanned == 1
    run_functions(_drain(tenant, settings.item_queue, "sync_item"))
    assert any(a.get("Purpose") == "Survives a kill" for a in tenant.appointments())
    after = asyncio.run(_marker(tenant))
    assert after.read is not None and (before.read is None or after.read > before.read)
