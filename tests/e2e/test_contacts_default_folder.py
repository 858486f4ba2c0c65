"""The default Contacts folder (contacts marked with the sync category outside the private list's folder) is
read by the documented delta path, `/users/{id}/contactFolders/{id}/contacts/delta` (contact-delta.md), its
id being the parent of the list's folder (user-post-contactfolders.md, user-list-contactfolders.md); a
cursor written before costs one full round and nothing twice (docs/microsoft.md, "Contacts delta")."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.graph import contacts as graph_contacts
from simulators.sample_contacts import PRIVATE_FOLDER
from sync_core.app import open_context
from sync_core.runtime.keys import exchange_cursor_name
from sync_core.runtime.queues import InProcessQueues
from sync_core.state.base import Cursor
from tests.e2e.harness import Tenant, sample_tenant

BOB = "bob@contoso.com"
CURSOR = exchange_cursor_name("contact", BOB)
NINA = {
    "givenName": "Nina",
    "surname": "Berg",
    "companyName": "Litware Supplies",
    "categories": ["D365 Sync"],
}


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as t:
        yield t


def _default_folder(tenant: Tenant) -> str:
    found = tenant.graph.find_mailbox(BOB)
    assert found is not None
    return graph_contacts.folder_id(graph_contacts.book(tenant.graph, found).root)


def _bob_requests(tenant: Tenant, mark: tuple[int, int]) -> list[dict[str, Any]]:
    return [r for r in tenant.graph.request_log[mark[0] :] if r["mailbox"] == BOB]


def _deltas(tenant: Tenant, mark: tuple[int, int]) -> list[str]:
    return [r["path"] for r in _bob_requests(tenant, mark) if r["path"].endswith("/contacts/delta")]


def _cursor(tenant: Tenant) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with open_context(tenant.settings(), InProcessQueues(), clock=lambda: tenant.now) as ctx:
            cursor = await ctx.store.get_cursor(CURSOR)
            assert cursor is not None
            value: dict[str, Any] = json.loads(cursor.value)
            return value

    return asyncio.run(read())


def _write_cursor(tenant: Tenant, value: dict[str, Any]) -> None:
    async def write() -> None:
        async with open_context(tenant.settings(), InProcessQueues(), clock=lambda: tenant.now) as ctx:
            old = await ctx.store.get_cursor(CURSOR)
            assert old is not None
            await ctx.store.save_cursor(Cursor(name=CURSOR, value=json.dumps(value), etag=old.etag))

    asyncio.run(write())


def _ninas(tenant: Tenant) -> tuple[int, int]:
    in_fno = [p for p in tenant.fno.all("ContactPersons") if p["FirstName"] == "Nina"]
    in_outlook = [c for c in graph_contacts.list_contacts(tenant.graph, BOB) if c["givenName"] == "Nina"]
    return len(in_fno), len(in_outlook)


def test_a_mailbox_without_the_folder_reads_the_default_folder_by_the_created_folders_parent(
    tenant: Tenant,
) -> None:
    assert PRIVATE_FOLDER not in graph_contacts.folder_names(tenant.graph, BOB)
    graph_contacts.seed_contact(tenant.graph, BOB, NINA)  # marked in the default Contacts folder
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert _ninas(tenant) == (1, 1)  # found there and imported
    default = _default_folder(tenant)
    # The folder was looked for, created, and its answer named its parent: nothing else was asked.
    folder_calls = [
        (r["method"], r["path"]) for r in _bob_requests(tenant, mark) if r["path"].endswith("/contactFolders")
    ]
    assert folder_calls == [("GET", f"/users/{BOB}/contactFolders"), ("POST", f"/users/{BOB}/contactFolders")]
    deltas = _deltas(tenant, mark)
    assert deltas and all("/contactFolders/" in path for path in deltas)
    assert any(path.endswith(f"/contactFolders/{default}/contacts/delta") for path in deltas)
    assert _cursor(tenant)["defaultFolderId"] == default


def test_a_cursor_of_the_undocumented_path_costs_one_full_round_and_nothing_twice(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    graph_contacts.seed_contact(tenant.graph, BOB, NINA)
    tenant.cycle()
    tenant.advance(minutes=5)
    tenant.cycle()  # the echo of the first sync's writes
    tenant.advance(minutes=5)
    assert _ninas(tenant) == (1, 1)
    # The cursor as the product wrote it before: no default folder id, the default folder's delta link of
    # /users/{id}/contacts/delta (which the stand-in, like the documentation, does not offer).
    old = _cursor(tenant)
    base = old["links"]["folder"].split("/users/")[0]
    del old["defaultFolderId"]
    old["links"]["default"] = f"{base}/users/{BOB}/contacts/delta?$deltatoken=old"
    _write_cursor(tenant, old)

    mark = tenant.mark_logs()
    with caplog.at_level(logging.INFO, logger="sync_core.pipeline.scan"):
        report = tenant.cycle()
    assert report.failures == [] and tenant.writes_since(mark) == []
    assert _ninas(tenant) == (1, 1)
    # One full round of the contact kind (Bob's cursor only), never the old link.
    assert [r.getMessage() for r in caplog.records if getattr(r, "kind", None) == "contact"] == [
        "delta token expired; full resync"
    ]
    default = _default_folder(tenant)
    deltas = _deltas(tenant, mark)
    assert all(not path.endswith(f"/users/{BOB}/contacts/delta") for path in deltas)
    assert any(path.endswith(f"/contactFolders/{default}/contacts/delta") for path in deltas)
    assert _cursor(tenant)["defaultFolderId"] == default

    tenant.advance(minutes=5)
    caplog.clear()
    mark = tenant.mark_logs()
    with caplog.at_level(logging.INFO, logger="sync_core.pipeline.scan"):
        report = tenant.cycle()
    assert report.failures == [] and tenant.writes_since(mark) == []
    assert [r for r in caplog.records if getattr(r, "kind", None) == "contact"] == []  # once only
