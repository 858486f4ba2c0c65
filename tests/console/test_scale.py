"""1,000 mailboxes: the overview lists every one from a handful of store queries (not one read per mailbox
and kind), and `list_cursors` finds every deletion state on both back ends."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulators.sample_data import sandbox_settings
from sync_core.console.auth import Admin, LocalGate
from sync_core.console.routes import Console
from sync_core.console.web import Request
from sync_core.pipeline.valve import DeletionState, state_name
from sync_core.settings import load_settings
from sync_core.state.base import Cursor, MailboxRecord, StateStore
from sync_core.state.sqlite import SqliteStateStore
from sync_core.state.tables import TableStateStore
from sync_core.status_report import DELETION_STATES

MAILBOXES = 1000
NOW = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)


def _held(kind: str, mailbox: str) -> Cursor:
    value = DeletionState(held=True, reason="F&O no longer lists 12 of 12", count=12).model_dump_json()
    return Cursor(name=state_name(kind, mailbox), value=value)


async def _seed(store: SqliteStateStore) -> None:
    for i in range(MAILBOXES):
        address = f"user{i:04d}@contoso.com"
        await store.upsert_mailbox(
            MailboxRecord(
                mailbox=address,
                personnel_number=f"W{i:05d}",
                status="ok",
                last_synced_at=NOW - timedelta(minutes=i % 300),
                first_seen_at=NOW - timedelta(days=30),
            )
        )
        if i % 10 == 0:
            await store.save_cursor(_held("appointment", address))
        if i % 7 == 0:
            await store.record_failure("task", address, f"usmf|T-{i}", "F&O answered 400", NOW)


def test_the_overview_renders_1000_mailboxes(tmp_path: Path) -> None:
    environ = sandbox_settings("http://127.0.0.1:9", "http://127.0.0.1:9", "t", str(tmp_path / "state"))
    settings = load_settings(environ, local_settings=None)
    seeded = SqliteStateStore(tmp_path / "state" / "state.sqlite3")
    asyncio.run(_seed(seeded))
    asyncio.run(seeded.close())
    gate = LocalGate(Admin("ops"))
    session = gate.exchange(gate.token or "")
    console = Console(settings, gate)
    request = Request("GET", "/", headers={"cookie": f"console_session={session}"})
    started = time.perf_counter()
    response = asyncio.run(console.handle(request))
    elapsed = time.perf_counter() - started  # printed for the docs, not asserted (tests are never timed)
    body = response.body.decode()
    assert response.status == 200
    rows = body.count("<tr data-row=")
    assert rows == MAILBOXES + 4  # and the sample mailboxes of SYNC_MAILBOXES, never synced yet
    assert body.count('data-row="user0010@contoso.com deletions held"') == 1
    assert ">never synced<" in body
    print(f"\noverview of {rows} mailboxes: {elapsed:.3f} s, {len(body) // 1024} KiB")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("tables", marks=pytest.mark.azurite)])
def test_list_cursors_finds_every_deletion_state(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, unique_prefix: str
) -> None:
    long_address = "a" * 200 + "@contoso.com"  # its key is a digest, not the escaped name
    names = [state_name("task", "ann@contoso.com"), state_name("appointment", "bo%b_x@contoso.com")]
    names.append(state_name("task", long_address))

    async def run() -> list[str]:
        store: StateStore
        if backend == "sqlite":
            store = SqliteStateStore(tmp_path / "s.sqlite3")
        else:
            connection = request.getfixturevalue("azurite_connection_string")
            store = TableStateStore.from_connection_string(connection, prefix=unique_prefix)
        try:
            for name in names:
                await store.save_cursor(Cursor(name=name, value="{}"))
            for other in ("deletion", "deletions", "graph:events:ann@contoso.com", "deletions;x"):
                await store.save_cursor(Cursor(name=other, value="{}"))
            found = await store.list_cursors(DELETION_STATES)
            assert all(c.etag for c in found)
            return sorted(c.name for c in found)
        finally:
            await store.close()

    assert state_name("x", "y").startswith(DELETION_STATES)
    assert asyncio.run(run()) == sorted(names)
