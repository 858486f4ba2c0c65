"""Fixtures of the operator command tests: a state store on each back end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sync_core.state.base import StateStore
from sync_core.state.sqlite import SqliteStateStore
from sync_core.state.tables import TableStateStore


@pytest.fixture(params=["sqlite", pytest.param("tables", marks=pytest.mark.azurite)])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_prefix: str
) -> AsyncIterator[StateStore]:
    opened: StateStore
    if request.param == "sqlite":
        opened = SqliteStateStore(tmp_path / "state.sqlite3")
    else:
        connection_string = request.getfixturevalue("azurite_connection_string")
        opened = TableStateStore.from_connection_string(connection_string, prefix=unique_prefix)
    try:
        yield opened
    finally:
        await opened.close()
