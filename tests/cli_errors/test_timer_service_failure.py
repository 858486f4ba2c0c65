"""The Functions timer, like `run --once`: an unusable F&O stops the planning, is recorded as a failure of
kind `service`, and the next timer run that gets through clears it."""

from __future__ import annotations

import asyncio

import pytest

from sync_core import functions
from sync_core.state.tables import TableStateStore
from tests.cli_errors.test_cli_errors import closed_port
from tests.e2e.harness import Tenant
from tests.e2e.test_functions import azure_tenant as azure_tenant  # the fixture, shared
from tests.instance_run import run as run_functions


async def _service_failures(tenant: Tenant) -> list[str]:
    settings = tenant.settings()
    store = TableStateStore.from_connection_string(settings.storage_connection, prefix=settings.table_prefix)
    try:
        return [f.item_key for f in await store.list_failures() if f.kind == "service"]
    finally:
        await store.close()


def test_the_timer_records_an_unreachable_fno_and_clears_it_when_it_is_back(
    azure_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    reachable = azure_tenant.environ["D365_URL"]
    monkeypatch.setenv("SYNC_NETWORK_RETRY_SECONDS", "0.05")
    monkeypatch.setenv("D365_URL", f"http://127.0.0.1:{closed_port()}")
    functions.settings.cache_clear()
    assert run_functions(functions.on_timer()) == 0
    assert asyncio.run(_service_failures(azure_tenant)) == ["F&O"]

    monkeypatch.setenv("D365_URL", reachable)
    functions.settings.cache_clear()
    assert run_functions(functions.on_timer()) > 0
    assert asyncio.run(_service_failures(azure_tenant)) == []
