"""Contacts end to end over real HTTP: private lists and a shared list, both ways (docs/spec.md §3.4, §4)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.graph import contacts as graph_contacts
from simulators.sample_contacts import PRIVATE_FOLDER, SHARED_FOLDER, SHARED_MAILBOX
from simulators.sample_data import COMPANY
from sync_core import cli
from sync_core.kinds.contact import COMPANY_AMBIGUOUS, COMPANY_NOT_FOUND
from sync_core.runtime.keys import STAMP_PROPERTY_ID
from sync_core.state.base import ContactListEntry
from sync_core.state.sqlite import SqliteStateStore
from tests.e2e.harness import Tenant, sample_tenant

ALICE, BOB, CAROL = "alice@contoso.com", "bob@contoso.com", "carol@contoso.com"


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as t:
        yield t


def folder(tenant: Tenant, mailbox: str, name: str = PRIVATE_FOLDER) -> dict[str, dict[str, Any]]:
    """Contacts of a folder by display name."""
    return {c["displayName"]: c for c in graph_contacts.list_contacts(tenant.graph, mailbox, name)}


def shared(tenant: Tenant) -> dict[str, dict[str, Any]]:
    return folder(tenant, SHARED_MAILBOX, SHARED_FOLDER)


def person(tenant: Tenant, contact_id: str) -> dict[str, Any] | None:
    return tenant.fno.get("ContactPersons", {"dataAreaId": COMPANY, "ContactPersonId": contact_id})


def stamp(contact: dict[str, Any]) -> str | None:
    for prop in contact.get("singleValueExtendedProperties", []):
        if prop["id"].lower() == STAMP_PROPERTY_ID.lower():
            return str(prop["value"])
    return None


def quiet(tenant: Tenant) -> None:
    """A cycle with nothing changed writes nothing on either side."""
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert tenant.writes_since(mark) == []
    assert report.failures == []


def entries(tenant: Tenant) -> list[ContactListEntry]:
    async def read() -> list[ContactListEntry]:
        store = SqliteStateStore(tenant.settings().state_dir / "state.sqlite3")
        try:
            return await store.list_contact_entries()
        finally:
            await store.close()

    return asyncio.run(read())


def test_private_lists_both_ways_and_an_idle_cycle(tenant: Tenant) -> None:
    report = tenant.cycle()
    assert report.failures == []
    assert report.counts["contact"]["to_exchange"]["created"] == 3  # Jane and Ken (Alice), Maria (Bob)
    assert report.counts["contact"]["to_fno"]["created"] == 1  # Priya, created in Alice's folder

    alice = folder(tenant, ALICE)
    assert set(alice) == {"Jane O'Brien", "Ken Sato", "Priya Patel"}
    jane = alice["Jane O'Brien"]
    assert stamp(jane) == f"{COMPANY}|CP-0001"
    assert jane["companyName"] == "Fabrikam Retail"  # the associated party's name
    assert jane["emailAddresses"][0]["address"] == "jane.o'brien@fabrikam.com"
    assert "D365 Sync" in jane["categories"]
    # Bob's list: Maria qualifies; Li Wei carries a category that may not leave F&O.
    bob = folder(tenant, BOB)
    assert set(bob) == {"Maria Garcia"}
    assert bob["Maria Garcia"]["businessPhones"] == ["+1 206 555 0103"]
    assert bob["Maria Garcia"]["jobTitle"] == "Buyer"
    assert bob["Maria Garcia"]["businessAddress"]["city"] == "Seattle"
    assert folder(tenant, CAROL) == {}
    assert PRIVATE_FOLDER in graph_contacts.folder_names(tenant.graph, CAROL)  # created when missing

    # Priya came from Outlook: attached to Fabrikam ("fabrikam  RETAIL" matches), owned by Alice's worker.
    [priya] = [p for p in tenant.fno.all("ContactPersons") if p["FirstName"] == "Priya"]
    assert priya["AssociatedPartyNumber"] == "000000101"
    assert priya["ContactPersonResponsiblePersonnelNumber"] == "000101"
    assert priya["PrimaryEmailAddress"] == "priya.patel@fabrikam.com"
    assert priya["PrimaryPhoneNumber"] == "+1 206 555 0199"
    assert priya["EmploymentJobTitle"] == "Store manager"
    assert stamp(folder(tenant, ALICE)["Priya Patel"]) == f"{COMPANY}|{priya['ContactPersonId']}"
    quiet(tenant)


def test_edits_flow_both_ways(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    tenant.fno.update(
        "ContactPersons",
        {"dataAreaId": COMPANY, "ContactPersonId": "CP-0003"},
        {"FirstName": "Mariana", "EmploymentDepartment": "Purchasing", "IsPrimaryPhoneNumberMobile": "Yes"},
    )
    priya = folder(tenant, ALICE)["Priya Patel"]
    graph_contacts.user_update_contact(
        tenant.graph,
        ALICE,
        priya["id"],
        {"businessPhones": ["+1 206 555 0100"], "personalNotes": "Prefers mail"},
    )
    report = tenant.cycle()
    assert report.failures == []
    bob = folder(tenant, BOB)
    # Graph does not recompute displayName: the sync sends it with every update.
    maria = bob["Mariana Garcia"]
    assert maria["givenName"] == "Mariana" and maria["department"] == "Purchasing"
    assert maria["mobilePhone"] == "+1 206 555 0103" and maria["businessPhones"] == []
    assert shared(tenant)["Mariana Garcia"]["department"] == "Purchasing"  # the shared list follows too
    [row] = [p for p in tenant.fno.all("ContactPersons") if p["FirstName"] == "Priya"]
    assert row["PrimaryPhoneNumber"] == "+1 206 555 0100" and row["Notes"] == "Prefers mail"
    quiet(tenant)


def test_company_not_found_and_ambiguous_then_fixed(tmp_path: Path) -> None:
    with sample_tenant(tmp_path, contact_problems=True) as tenant:
        report = tenant.cycle()
        reasons = {f.graph_id: f.reason for f in report.failures}
        sam, alex = tenant.handles["contacts"]["sam"], tenant.handles["contacts"]["alex"]
        assert set(reasons) == {sam, alex}
        assert "no customer, vendor or prospect" in reasons[sam] and COMPANY_NOT_FOUND in reasons[sam]
        assert "2 customers, vendors or prospects" in reasons[alex]
        alice = folder(tenant, ALICE)
        assert alice["Sam Lee"]["categories"] == [COMPANY_NOT_FOUND]
        assert alice["Alex Kim"]["categories"] == [COMPANY_AMBIGUOUS]
        assert stamp(alice["Sam Lee"]) is None
        names = {p["FirstName"] for p in tenant.fno.all("ContactPersons")}
        assert "Sam" not in names and "Alex" not in names
        # The reason is recorded for the administrator.
        tenant.cycle()  # the category write is seen once more: still failing, still nothing written
        mark = tenant.mark_logs()
        report = tenant.cycle()
        assert tenant.writes_since(mark) == [] and report.failures == []

        graph_contacts.user_update_contact(tenant.graph, ALICE, sam, {"companyName": "Northwind Traders"})
        report = tenant.cycle()
        assert [f.graph_id for f in report.failures] == []
        [row] = [p for p in tenant.fno.all("ContactPersons") if p["FirstName"] == "Sam"]
        assert row["AssociatedPartyNumber"] == "000000103"
        fixed = folder(tenant, ALICE)["Sam Lee"]
        assert COMPANY_NOT_FOUND not in fixed["categories"]
        assert stamp(fixed) == f"{COMPANY}|{row['ContactPersonId']}"
        assert "Sam Lee" in shared(tenant)  # Northwind is in the NORTH district: the shared list takes it
        graph_contacts.user_update_contact(tenant.graph, ALICE, alex, {"companyName": "Tailspin Toys"})
        tenant.cycle()
        [row] = [p for p in tenant.fno.all("ContactPersons") if p["FirstName"] == "Alex"]
        assert row["AssociatedPartyNumber"] == "000000301"  # a prospect
        quiet(tenant)


def test_removed_in_fno_leaves_folder_deleted_in_outlook_leaves_list(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    # F&O: Ken loses the allowed category, so he leaves Alice's list and her folder.
    tenant.fno.update(
        "ContactPersons",
        {"dataAreaId": COMPANY, "ContactPersonId": "CP-0002"},
        {"MicrosoftOutlookCategories": ""},
    )
    # Outlook: Alice deletes Jane; Jane stays in F&O and is not synced back into the folder.
    graph_contacts.user_delete_contact(tenant.graph, ALICE, folder(tenant, ALICE)["Jane O'Brien"]["id"])
    report = tenant.cycle()
    assert report.failures == []
    assert set(folder(tenant, ALICE)) == {"Priya Patel"}
    assert person(tenant, "CP-0001") is not None and person(tenant, "CP-0002") is not None
    [entry] = [e for e in entries(tenant) if e.contact_key == f"{COMPANY}|CP-0001"]
    assert entry.mailbox == ALICE and entry.member is False and entry.origin == "outlook"
    assert "Jane O'Brien" in shared(tenant)  # other lists are not touched
    quiet(tenant)
    tenant.advance(minutes=5)
    tenant.fno.update("ContactPersons", {"dataAreaId": COMPANY, "ContactPersonId": "CP-0001"}, {"Notes": "x"})
    tenant.cycle()
    assert "Jane O'Brien" not in folder(tenant, ALICE)  # an F&O edit does not bring her back


def _cli(tenant: Tenant, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    for name, value in tenant.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tenant.settings().state_dir.parent)
    return cli.main(["contacts", *args])


def test_explicit_list_management_from_the_command_line(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant.cycle()
    assert _cli(tenant, monkeypatch, "add", "--mailbox", CAROL, "--contact", "CP-0004") == 0
    assert _cli(tenant, monkeypatch, "add", "--mailbox", CAROL, "--contact", "CP-9999") == 2  # no such person
    tenant.cycle()
    assert set(folder(tenant, CAROL)) == {"Li Wei"}
    capsys.readouterr()
    assert _cli(tenant, monkeypatch, "list", "--mailbox", CAROL) == 0
    listed = capsys.readouterr().out
    assert "contact=usmf|CP-0004" in listed and "added (cli)" in listed and "synced=contact" in listed
    quiet(tenant)

    # Removing one the rule puts on Alice's list, and one from the shared list.
    assert _cli(tenant, monkeypatch, "remove", "--mailbox", ALICE, "--contact", "CP-0002") == 0
    assert _cli(tenant, monkeypatch, "remove", "--mailbox", SHARED_MAILBOX, "--contact", "CP-0005") == 0
    assert _cli(tenant, monkeypatch, "remove", "--mailbox", CAROL, "--contact", "CP-0004") == 0
    tenant.cycle()
    assert "Ken Sato" not in folder(tenant, ALICE)
    assert "Tom Jensen" not in shared(tenant)
    assert folder(tenant, CAROL) == {}
    assert person(tenant, "CP-0004") is not None
    quiet(tenant)
    assert _cli(tenant, monkeypatch, "add", "--mailbox", ALICE, "--contact", "CP-0002") == 0
    tenant.cycle()
    assert "Ken Sato" in folder(tenant, ALICE)
    quiet(tenant)


def test_shared_list_follows_its_query_and_edits_flow_both_ways(tenant: Tenant) -> None:
    tenant.cycle()
    north = shared(tenant)
    # NORTH customers' contacts (Fabrikam, Northwind), including Priya who came from Alice's Outlook.
    assert set(north) == {"Jane O'Brien", "Maria Garcia", "Tom Jensen", "Priya Patel"}
    assert north["Tom Jensen"]["mobilePhone"] == "+45 20 55 01 05"
    assert "D365 Sync" not in north["Tom Jensen"]["categories"]
    tenant.advance(minutes=5)
    # Tom moves to a SOUTH customer (leaves); Contoso Pharmaceuticals moves to NORTH (Li Wei enters without
    # being edited himself: the list's query is compared with its links every cycle).
    tenant.fno.update(
        "ContactPersons",
        {"dataAreaId": COMPANY, "ContactPersonId": "CP-0005"},
        {"AssociatedPartyNumber": "000000104"},
    )
    tenant.fno.update(
        "CustomersV3", {"dataAreaId": COMPANY, "CustomerAccount": "US-002"}, {"SalesDistrict": "NORTH"}
    )
    graph_contacts.user_update_contact(
        tenant.graph, SHARED_MAILBOX, north["Maria Garcia"]["id"], {"jobTitle": "Head of buying"}
    )
    report = tenant.cycle()
    assert report.failures == []
    north = shared(tenant)
    assert set(north) == {"Jane O'Brien", "Maria Garcia", "Li Wei", "Priya Patel"}
    assert person(tenant, "CP-0005") is not None
    maria = person(tenant, "CP-0003")
    assert maria is not None and maria["EmploymentJobTitle"] == "Head of buying"
    # Bob's private copy follows F&O one cycle later (F&O's change feed is read before the pairs run).
    tenant.cycle()
    assert folder(tenant, BOB)["Maria Garcia"]["jobTitle"] == "Head of buying"
    quiet(tenant)


def test_contact_created_in_the_shared_folder_stays_on_the_list(tenant: Tenant) -> None:
    tenant.cycle()
    graph_contacts.seed_contact(
        tenant.graph,
        SHARED_MAILBOX,
        {"givenName": "Ola", "surname": "Nordmann", "companyName": "Contoso Pharmaceuticals"},
        folder=SHARED_FOLDER,
    )
    report = tenant.cycle()
    assert report.failures == []
    [row] = [p for p in tenant.fno.all("ContactPersons") if p["FirstName"] == "Ola"]
    assert row["AssociatedPartyNumber"] == "000000102"  # a SOUTH customer, yet it came from this folder
    assert row["ContactPersonResponsiblePersonnelNumber"] == ""
    assert "Ola Nordmann" in shared(tenant)
    quiet(tenant)


def test_expired_contact_delta_tokens_resync_without_duplicates(tenant: Tenant) -> None:
    tenant.cycle()
    before = {m: sorted(folder(tenant, m)) for m in (ALICE, BOB)}
    persons = len(tenant.fno.all("ContactPersons"))
    tenant.graph.expire_delta_tokens(ALICE)
    tenant.graph.expire_delta_tokens(SHARED_MAILBOX)
    quiet(tenant)
    assert {m: sorted(folder(tenant, m)) for m in (ALICE, BOB)} == before
    assert len(tenant.fno.all("ContactPersons")) == persons


def test_category_marked_contact_elsewhere_is_imported(tenant: Tenant) -> None:
    tenant.cycle()
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
    # Contacts outside the folder are looked for every SYNC_CONTACT_MARK_SCAN_MINUTES (default 60).
    tenant.advance(minutes=30)
    tenant.cycle()
    assert [p for p in tenant.fno.all("ContactPersons") if p["FirstName"] == "Nina"] == []
    tenant.advance(minutes=30)
    tenant.cycle()
    [row] = [p for p in tenant.fno.all("ContactPersons") if p["FirstName"] == "Nina"]
    assert row["AssociatedPartyNumber"] == "000000201"  # a vendor
    assert row["ContactPersonResponsiblePersonnelNumber"] == "000102"
    [nina] = [c for c in graph_contacts.list_contacts(tenant.graph, BOB) if c["givenName"] == "Nina"]
    assert stamp(nina) == f"{COMPANY}|{row['ContactPersonId']}"  # linked where it is, not moved
    quiet(tenant)
