"""Contacts cost no more requests than their changes need (benchmark issue): the feeds carry the changed
contact to the pair job, party names and a shared list's query are asked once per cycle, and the default
Contacts folder (contacts marked outside the list's folder) is read every SYNC_CONTACT_MARK_SCAN_MINUTES."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.graph import contacts as graph_contacts
from simulators.sample_contacts import PRIVATE_FOLDER, SHARED_FOLDER, SHARED_MAILBOX
from simulators.sample_data import COMPANY
from sync_core.app import open_context
from sync_core.contacts.membership import FEED_FIELDS
from sync_core.kinds.contact import ContactMapping
from sync_core.kinds.fno_contact_persons import COMPANY_NAME_KEY, ON_LIST_KEY, carried_rows
from sync_core.runtime.queues import InProcessQueues
from tests.e2e.harness import Tenant, sample_tenant

ALICE, BOB = "alice@contoso.com", "bob@contoso.com"
MAILBOXES = ("alice@contoso.com", "bob@contoso.com", "carol@contoso.com")


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as t:
        # One page per delta round without changes, as Exchange answers a round that continues from a
        # token: request counts then show the product's own calls.
        t.graph.empty_first_delta_page = False
        yield t


def _settle(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    tenant.cycle()  # the echo of the first sync's own writes
    tenant.advance(minutes=5)


def _contact(tenant: Tenant, mailbox: str, name: str, folder: str = PRIVATE_FOLDER) -> dict[str, Any]:
    return {c["displayName"]: c for c in graph_contacts.list_contacts(tenant.graph, mailbox, folder)}[name]


def _graph(tenant: Tenant, mark: tuple[int, int], method: str, mailbox: str | None = None) -> list[str]:
    """Requests for single contacts (not feeds) of one method, optionally of one mailbox."""
    return [
        r["path"]
        for r in tenant.graph.request_log[mark[0] :]
        if r["method"] == method
        and "/contacts/" in r["path"]
        and not r["path"].endswith("/delta")
        and (mailbox is None or r["mailbox"] == mailbox)
    ]


def _folder_lookups(tenant: Tenant, mark: tuple[int, int]) -> list[str]:
    return [
        r["path"]
        for r in tenant.graph.request_log[mark[0] :]
        if r["path"].endswith("/contactFolders") or r["path"].endswith("/contactFolders/")
    ]


def _fno_pair_reads(tenant: Tenant, mark: tuple[int, int]) -> list[str]:
    """F&O reads of one contact person (by key or by a narrow filter): a pair job's reads, not feeds."""
    return [
        f"{r['path']}?{r['query']}"
        for r in tenant.fno.request_log[mark[1] :]
        if r["method"] == "GET"
        and (r["path"].startswith("/data/ContactPersons(") or "ContactPersonId eq" in r["query"])
    ]


def _name_lookups(tenant: Tenant, mark: tuple[int, int]) -> list[str]:
    """Reads of a party's name (customers, vendors, prospects by party number)."""
    return [
        r["query"]
        for r in tenant.fno.request_log[mark[1] :]
        if r["path"] in ("/data/CustomersV3", "/data/VendorsV2", "/data/Prospects")
        and "PartyNumber eq" in r["query"]
    ]


def _default_folder(tenant: Tenant, mailbox: str) -> str:
    found = tenant.graph.find_mailbox(mailbox)
    assert found is not None
    return graph_contacts.folder_id(graph_contacts.book(tenant.graph, found).root)


def _contact_feed_reads(tenant: Tenant, mark: tuple[int, int], mailbox: str) -> dict[str, int]:
    """Graph delta reads of the contact kinds in one mailbox: the list folder's and the default folder's,
    both by the documented path `/contactFolders/{id}/contacts/delta` (anything else counts as "other")."""
    default = f"/contactFolders/{_default_folder(tenant, mailbox)}/contacts/delta"
    counts = {"folder": 0, "default": 0}
    for r in tenant.graph.request_log[mark[0] :]:
        if r["mailbox"] != mailbox or not r["path"].endswith("/contacts/delta"):
            continue
        which = "default" if r["path"].endswith(default) else "folder"
        which = which if "/contactFolders/" in r["path"] else "other"
        counts[which] = counts.get(which, 0) + 1
    return counts


def test_an_fno_edit_reaches_both_lists_without_reading_the_contact_person_again(tenant: Tenant) -> None:
    _settle(tenant)
    # Maria is on Bob's private list and on the shared list.
    tenant.fno.update(
        "ContactPersons",
        {"dataAreaId": COMPANY, "ContactPersonId": "CP-0003"},
        {"EmploymentJobTitle": "Chief buyer"},
    )
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    assert _contact(tenant, BOB, "Maria Garcia")["jobTitle"] == "Chief buyer"
    assert _contact(tenant, SHARED_MAILBOX, "Maria Garcia", SHARED_FOLDER)["jobTitle"] == "Chief buyer"
    # The feeds carried the row: no pair job reads the contact person, its company or the list's query.
    assert _fno_pair_reads(tenant, mark) == []
    assert len(_name_lookups(tenant, mark)) <= 1  # the feed's one lookup for the party of every changed row
    # Per list: the contact is patched once, conditionally, without reading it first; no folder lookup.
    assert _graph(tenant, mark, "GET", BOB) == [] and _graph(tenant, mark, "GET", SHARED_MAILBOX) == []
    for mailbox in (BOB, SHARED_MAILBOX):
        assert len(_graph(tenant, mark, "PATCH", mailbox)) == 1
    patches = [r for r in tenant.graph.request_log[mark[0] :] if r["method"] == "PATCH"]
    assert len(patches) == 2 and all(r["if_match"].startswith('W/"') for r in patches)
    assert _folder_lookups(tenant, mark) == []

    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    tenant.cycle()  # the echo: both patches are listed with the change key the link holds
    assert _graph(tenant, mark, "GET") == [] and _fno_pair_reads(tenant, mark) == []
    assert tenant.writes_since(mark) == []


def test_an_outlook_edit_costs_only_the_conditional_patch_in_fno(tenant: Tenant) -> None:
    _settle(tenant)
    [priya] = [p for p in tenant.fno.all("ContactPersons") if p["FirstName"] == "Priya"]
    key = f"ContactPersons(dataAreaId='{COMPANY}',ContactPersonId='{priya['ContactPersonId']}')"
    graph_contacts.user_update_contact(
        tenant.graph, ALICE, _contact(tenant, ALICE, "Priya Patel")["id"], {"jobTitle": "Regional manager"}
    )
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == []
    [row] = [p for p in tenant.fno.all("ContactPersons") if p["FirstName"] == "Priya"]
    assert row["EmploymentJobTitle"] == "Regional manager"
    # The folder's delta carried the contact and F&O's side is as the link left it: nothing is read, the
    # contact person is patched with If-Match on the etag the link holds.
    assert _graph(tenant, mark, "GET", ALICE) == []
    assert [r for r in _fno_pair_reads(tenant, mark) if key in r] == []
    patches = [r for r in tenant.fno.request_log[mark[1] :] if r["method"] == "PATCH"]
    assert [r["path"] for r in patches] == [f"/data/{key}"]
    assert patches[0]["status"] == 204 and patches[0]["if_match"].startswith('W/"')
    assert len(_name_lookups(tenant, mark)) <= 1

    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    report = tenant.cycle()  # the echo of the F&O write: carried by the feed, so F&O is not read
    assert report.failures == []
    assert _fno_pair_reads(tenant, mark) == []
    assert len(_graph(tenant, mark, "GET", ALICE)) <= 1  # Alice's side, to see that nothing is left to do
    assert _contact(tenant, SHARED_MAILBOX, "Priya Patel", SHARED_FOLDER)["jobTitle"] == "Regional manager"
    assert [w for w in tenant.writes_since(mark) if w.get("mailbox") == ALICE] == []
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    tenant.cycle()
    assert tenant.writes_since(mark) == [] and _graph(tenant, mark, "GET") == []


def test_an_idle_mailbox_reads_the_default_contacts_folder_only_every_n_minutes(tenant: Tenant) -> None:
    _settle(tenant)  # the first cycle read the default folder (at 09:30)
    for _ in range(2):  # 09:40, 09:45
        mark = tenant.mark_logs()
        report = tenant.cycle()
        assert report.failures == [] and tenant.writes_since(mark) == []
        for mailbox in MAILBOXES:
            assert _contact_feed_reads(tenant, mark, mailbox) == {"folder": 1, "default": 0}
        tenant.advance(minutes=5)
    tenant.advance(minutes=40)  # 10:30: an hour since the default folder was read
    mark = tenant.mark_logs()
    tenant.cycle()
    for mailbox in MAILBOXES:
        assert _contact_feed_reads(tenant, mark, mailbox) == {"folder": 1, "default": 1}
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    tenant.cycle()
    assert _contact_feed_reads(tenant, mark, ALICE) == {"folder": 1, "default": 0}  # the hour starts again
    # 0: every cycle, as before.
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    tenant.cycle(SYNC_CONTACT_MARK_SCAN_MINUTES="0")
    assert _contact_feed_reads(tenant, mark, ALICE) == {"folder": 1, "default": 1}


def test_a_full_resync_reads_the_default_folder_so_its_links_are_not_taken_for_gone(tenant: Tenant) -> None:
    _settle(tenant)
    graph_contacts.seed_contact(
        tenant.graph,
        BOB,
        {
            "givenName": "Nina",
            "surname": "Berg",
            "companyName": "Litware Supplies",
            "categories": ["D365 Sync"],
        },
    )
    tenant.cycle(SYNC_CONTACT_MARK_SCAN_MINUTES="0")
    [row] = [p for p in tenant.fno.all("ContactPersons") if p["FirstName"] == "Nina"]
    tenant.advance(minutes=5)
    tenant.cycle()
    tenant.advance(minutes=5)
    tenant.graph.expire_delta_tokens(BOB)  # the folder's token is gone: a full round of both folders
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.failures == [] and tenant.writes_since(mark) == []
    assert _contact_feed_reads(tenant, mark, BOB)["default"] >= 1
    [nina] = [c for c in graph_contacts.list_contacts(tenant.graph, BOB) if c["givenName"] == "Nina"]
    assert "D365 Sync" in nina["categories"]
    assert tenant.fno.get(
        "ContactPersons", {"dataAreaId": COMPANY, "ContactPersonId": row["ContactPersonId"]}
    )


def test_a_carried_row_maps_as_a_read_one_and_must_belong_to_its_pair(tenant: Tenant) -> None:
    _settle(tenant)
    row = dict(tenant.fno.get("ContactPersons", {"dataAreaId": COMPANY, "ContactPersonId": "CP-0003"}) or {})

    async def check() -> None:
        async with open_context(tenant.settings(), InProcessQueues(), clock=lambda: tenant.now) as ctx:
            mapping = ctx.kinds["shared_contact"].mapping
            assert isinstance(mapping, ContactMapping)
            key = f"{COMPANY}|CP-0003"
            loaded = await mapping.load_fno(ctx, key)
            assert loaded is not None
            row["@odata.etag"] = loaded.row["@odata.etag"]  # as a feed reads the row over OData
            # Without the feed's annotations the name is looked up, as load_fno does.
            plain = await mapping.fno_item_from_row(ctx, key, row)
            columns = {k: v for k, v in loaded.row.items() if not k.startswith("@odata.")}
            plain_columns = {k: v for k, v in plain.row.items() if not k.startswith("@odata.")}
            assert (plain_columns, plain.version, plain.extra) == (columns, loaded.version, loaded.extra)
            # With them, nothing is looked up and the list query's answer is kept for fno_view.
            mark = tenant.mark_logs()
            noted = await mapping.fno_item_from_row(
                ctx, key, {**row, COMPANY_NAME_KEY: "Name", ON_LIST_KEY: False}
            )
            noted_columns = {k: v for k, v in noted.row.items() if not k.startswith("@odata.")}
            assert noted_columns == columns and noted.extra == {"company": "Name", "by_rule": False}
            assert tenant.fno.request_log[mark[1] :] == []
            shared = await ctx.mailbox(SHARED_MAILBOX)
            assert shared is not None
            assert (await mapping.fno_view(ctx, shared, noted)).marked is False
            # The feeds select FEED_FIELDS only: enough for the same record as a whole row.
            selected = await mapping.fno_item_from_row(ctx, key, {k: row.get(k) for k in FEED_FIELDS})
            whole = await mapping.fno_view(ctx, shared, loaded)
            assert (await mapping.fno_view(ctx, shared, selected)).record == whole.record
            with pytest.raises(ValueError, match="does not belong"):
                await mapping.fno_item_from_row(ctx, f"{COMPANY}|CP-0001", row)
            # An F&O row cannot pass for the feed's own annotations.
            carried = await carried_rows(ctx, [{**row, ON_LIST_KEY: True, COMPANY_NAME_KEY: "x"}], set())
            assert ON_LIST_KEY not in carried[key] and COMPANY_NAME_KEY not in carried[key]

    asyncio.run(check())
