"""get_mailbox_by_user, which the webhook calls per notification: right answers in both back ends, and a
cost that does not grow with the registry (SQLite: an index; Tables: point reads, counted on the wire)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from sync_core.state.base import MailboxRecord, StateStore
from sync_core.state.sqlite import SqliteStateStore
from sync_core.state.tables import TableStateStore

ALICE = "622eaaff-0683-4862-9de4-f2ec83c2bd98"


@pytest.fixture(params=["sqlite", pytest.param("tables", marks=pytest.mark.azurite)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    opened: StateStore
    if request.param == "sqlite":
        opened = SqliteStateStore(tmp_path / "state.sqlite3")
    else:
        connection = request.getfixturevalue("azurite_connection_string")
        opened = TableStateStore.from_connection_string(
            connection, prefix=request.getfixturevalue("unique_prefix")
        )
    yield opened
    await opened.close()


async def _fill(store: StateStore, count: int) -> None:
    for n in range(count):
        await store.upsert_mailbox(MailboxRecord(mailbox=f"user{n}@contoso.com", user_id=str(uuid.uuid4())))


async def test_finds_the_mailbox_of_a_user_id_in_any_case(store: StateStore) -> None:
    await _fill(store, 3)
    await store.upsert_mailbox(MailboxRecord(mailbox="alice@contoso.com", user_id=ALICE))
    for asked in (ALICE, ALICE.upper()):
        found = await store.get_mailbox_by_user(asked)
        assert found is not None and found.mailbox == "alice@contoso.com" and found.etag
    assert await store.get_mailbox_by_user(str(uuid.uuid4())) is None
    assert await store.get_mailbox_by_user("") is None


async def test_follows_the_registry_when_a_user_changes_mailbox(store: StateStore) -> None:
    await store.upsert_mailbox(MailboxRecord(mailbox="alice@contoso.com", user_id=ALICE))
    assert (
        await store.get_mailbox_by_user(ALICE) or MailboxRecord(mailbox="-")
    ).mailbox == "alice@contoso.com"
    # The address changed: the old record is left skipped, the new one is in use.
    await store.upsert_mailbox(MailboxRecord(mailbox="alice@contoso.com", user_id=ALICE, status="skipped"))
    checked = datetime(2025, 1, 1, tzinfo=UTC)
    await store.upsert_mailbox(
        MailboxRecord(mailbox="alice.adams@contoso.com", user_id=ALICE, checked_at=checked)
    )
    found = await store.get_mailbox_by_user(ALICE)
    assert found is not None and found.mailbox == "alice.adams@contoso.com"
    # The user left the registry's records altogether.
    await store.upsert_mailbox(MailboxRecord(mailbox="alice.adams@contoso.com", user_id=str(uuid.uuid4())))
    await store.upsert_mailbox(MailboxRecord(mailbox="alice@contoso.com", user_id=""))
    assert await store.get_mailbox_by_user(ALICE) is None


class TableRequests:
    """The HTTP requests the Tables SDK sends to one endpoint ("GET <path>")."""

    def __init__(self, endpoint: str) -> None:
        self.netloc = urlsplit(endpoint).netloc
        self.sent: list[str] = []


@pytest.fixture
def table_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[TableRequests]]:
    from azure.core.pipeline.transport import AioHttpTransport

    meters: list[TableRequests] = []
    original = AioHttpTransport.send

    async def send(transport: Any, request: Any, **kwargs: Any) -> Any:
        url = urlsplit(str(request.url))
        for meter in meters:
            if url.netloc == meter.netloc:
                meter.sent.append(f"{request.method} {unquote(url.path).rsplit('/', 1)[-1]}")  # no account
        return await original(transport, request, **kwargs)

    monkeypatch.setattr(AioHttpTransport, "send", send)
    yield meters


@pytest.mark.azurite
async def test_a_table_lookup_is_two_point_reads_whatever_the_registry_size(
    azurite_connection_string: str, unique_prefix: str, table_requests: list[TableRequests]
) -> None:
    store = TableStateStore.from_connection_string(azurite_connection_string, prefix=unique_prefix)
    try:
        meter = TableRequests(store.endpoint)
        table_requests.append(meter)
        for size in (5, 60):
            await _fill(store, size - 1)
            user = str(uuid.uuid4())
            await store.upsert_mailbox(MailboxRecord(mailbox=f"{user}@contoso.com", user_id=user))
            assert (await store.get_mailbox_by_user(user)) is not None  # the first one leaves a pointer
            meter.sent.clear()
            found = await store.get_mailbox_by_user(user)
            assert found is not None and found.user_id == user
            # The pointer, then the mailbox: GETs of one entity by its keys, no query of the partition.
            assert meter.sent == [
                f"GET {unique_prefix}Mailboxes(PartitionKey='user',RowKey='{user}')",
                f"GET {unique_prefix}Mailboxes(PartitionKey='mailbox',RowKey='{user}@contoso.com')",
            ], size
    finally:
        await store.close()
