"""Fixtures of the status, failures and audit tests: a store on either back end, the command run as an
administrator would (environment, working folder), and telemetry captured in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sync_core.state.base import StateStore
from sync_core.state.sqlite import SqliteStateStore
from sync_core.state.tables import TableStateStore
from tests.e2e.deletion_helpers import appt_tenant  # noqa: F401  (the appointments-only sample tenant)
from tests.telemetry.conftest import otel  # noqa: F401  (the in-memory telemetry fixture)

STATE_ENV = ("D365_URL", "SYNC_COMPANY", "SYNC_MAILBOXES", "SYNC_MAILBOX_GROUP", "AzureWebJobsStorage")


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No product setting at all, in an empty working folder (no local.settings.json)."""
    for name in (*STATE_ENV, "AzureWebJobsStorage__accountName", "SYNC_STATE_DIR", "SYNC_TABLE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture(params=["sqlite", pytest.param("tables", marks=pytest.mark.azurite)])
async def any_store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_prefix: str
) -> AsyncIterator[StateStore]:
    store: StateStore
    if request.param == "sqlite":
        store = SqliteStateStore(tmp_path / "state" / "state.sqlite3")
    else:
        connection = request.getfixturevalue("azurite_connection_string")
        store = TableStateStore.from_connection_string(connection, prefix=unique_prefix)
    yield store
    await store.close()
