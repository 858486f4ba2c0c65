"""Back-end specific behaviour: factory choice, Table limits and layout."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.data.tables.aio import TableServiceClient

from sync_core.state.base import Link, StateError
from sync_core.state.factory import open_state_store
from sync_core.state.sqlite import SqliteStateStore
from sync_core.state.tables import TableStateStore


class _FakeCredential:
    """Never asked for a token: these tests make no request with it."""

    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        raise AssertionError("no token expected")

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> _FakeCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


@pytest.fixture
async def table_store(azurite_connection_string: str, unique_prefix: str) -> AsyncIterator[TableStateStore]:
    store = TableStateStore.from_connection_string(azurite_connection_string, prefix=unique_prefix)
    yield store
    await store.close()


async def test_factory_defaults_to_sqlite_in_state_dir(tmp_path: Path) -> None:
    store = open_state_store(
        connection_string=None, account_name=None, state_dir=tmp_path / "nested" / "state"
    )
    try:
        assert isinstance(store, SqliteStateStore)
        assert (tmp_path / "nested" / "state" / "state.sqlite3").exists()
    finally:
        await store.close()


async def test_factory_identity_based_uses_the_account_endpoint(tmp_path: Path) -> None:
    store = open_state_store(
        connection_string=None, account_name="acct", credential=_FakeCredential(), state_dir=tmp_path
    )
    try:
        assert isinstance(store, TableStateStore)
        assert store.endpoint.rstrip("/") == "https://acct.table.core.windows.net"
    finally:
        await store.close()
    assert not (tmp_path / "state.sqlite3").exists()


@pytest.mark.azurite
async def test_factory_connection_string_uses_tables(azurite_connection_string: str, tmp_path: Path) -> None:
    store = open_state_store(
        connection_string=azurite_connection_string,
        account_name="ignored",
        state_dir=tmp_path,
        table_prefix="fx1",
    )
    try:
        assert isinstance(store, TableStateStore)
        await store.list_mailboxes()  # creates the tables
        service = TableServiceClient.from_connection_string(azurite_connection_string)
        async with service:
            names = {t.name async for t in service.list_tables()}
        assert {"fx1Links", "fx1Cursors", "fx1Mailboxes", "fx1Audit", "fx1Failures"} <= names
    finally:
        await store.close()


@pytest.mark.parametrize("prefix", ["bad-prefix", "9lives", "", "a_b"])
def test_table_prefix_must_be_alphanumeric(prefix: str) -> None:
    with pytest.raises(ValueError):
        TableStateStore.from_endpoint("http://127.0.0.1:9/devstoreaccount1", _FakeCredential(), prefix=prefix)


@pytest.mark.azurite
async def test_snapshot_too_large_for_an_entity_is_refused_cleanly(table_store: TableStateStore) -> None:
    rng = random.Random(3)
    noise = "".join(chr(rng.randrange(0x21, 0x7E)) for _ in range(700_000))
    link = Link(kind="task", mailbox="a@x", fno_key="F1", graph_id="G1", snapshot={"body": noise})
    with pytest.raises(StateError):
        await table_store.save_link(link)
    assert await table_store.list_links("task", "a@x") == []
    assert await table_store.get_link_by_graph("task", "a@x", "G1") is None
