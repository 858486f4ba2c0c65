"""The sync state machine for a contact person on two lists at once: Alice's private list and a shared list.

The private contact machine (test_contact_state_machine.py) with a second mailbox, a shared mailbox whose
folder a query fills (`SYNC_SHARED_LISTS`: the contact persons of customers in the NORTH sales district;
Fabrikam is in it, Northwind is not). A contact person can so have three copies: the F&O record, Alice's
Outlook contact and the shared folder's. Besides the private machine's rules: edits, creates and deletions
in the shared folder, and a company change in F&O that moves a person into or out of the query. After the
system quiets down, besides the private machine's invariants:
- every contact person the shared list holds (query or explicit entry) is linked to exactly one contact of
  the shared folder, equal in the canonical record, and every contact of that folder is linked (or carries
  a problem category, its company being unknown to F&O); no person is created twice on either side;
- no edit is lost across the three copies: a field edited in one place only ends with that edit; edited in
  several, with the last of one of them; and all copies agree;
- neither list's safety valve is bypassed.

CI runs the default profile (derandomized, a few dozen examples); `HYPOTHESIS_PROFILE=long` many more.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from simulators.graph import contacts as graph_contacts
from sync_core.contacts.membership import effective
from sync_core.contacts.registry import SHARED_KIND
from sync_core.kinds.contact import PROBLEM_CATEGORIES
from sync_core.kinds.contact_private import private_contact_kind
from sync_core.kinds.contact_shared import shared_contact_kind
from sync_core.model.contact import company_key, contact_from_graph, contact_from_person
from sync_core.runtime.keys import stamp_of
from sync_core.runtime.kind import Kind
from sync_core.state.base import ContactListEntry, Link
from sync_core.state.sqlite import SqliteStateStore
from tests.property.pipeline_machine import COMPANY, MAX_SHARE, MIN_ITEMS, Faults
from tests.property.test_contact_state_machine import (
    FIELDS,
    KNOWN,
    OUTLOOK_COMPANIES,
    PARTIES,
    ContactMachine,
)

SHARED = "sales-north@contoso.com"
SHARED_FOLDER = "Sales North"
DISTRICTS = {"000000101": "NORTH", "000000102": "SOUTH"}  # Fabrikam is on the shared list, Northwind not
NORTH_PARTIES = {party for party, district in DISTRICTS.items() if district == "NORTH"}
SHARED_LISTS = [
    {
        "name": "North",
        "mailbox": SHARED,
        "folder": SHARED_FOLDER,
        "contactFilter": f"dataAreaId eq '{COMPANY}'",
        "customerFilter": "SalesDistrict eq 'NORTH'",
    }
]
SIDE_SHARED = "shared"  # (the private machine records "fno" and "graph")


class TwoListMachine(ContactMachine):
    def __init__(self) -> None:
        super().__init__()
        self.graph.add_user(SHARED, "Sales North (shared)", time_zone="UTC")
        self.copy_of: dict[str, str] = {}  # "graph:<id>" -> the F&O key it was linked to when edited
        for row in self.fno.all("CustomersV3"):
            self.fno.update(
                "CustomersV3",
                {"dataAreaId": row["dataAreaId"], "CustomerAccount": row["CustomerAccount"]},
                {"SalesDistrict": DISTRICTS[str(row["PartyNumber"])]},
            )

    def extra_settings(self) -> dict[str, str]:
        return {**super().extra_settings(), "SYNC_SHARED_LISTS": json.dumps(SHARED_LISTS)}

    def _record(self, item: str, fld: str, side: str, value: str) -> None:
        """As the base, and which person an edited Outlook contact was a copy of: its link may be gone by
        the check (a person leaving the shared list), its edit still counts. Not so for an edit of one of
        Alice's contacts while it is unmarked (out of the folder, no category): an unmark stops the pair, and
        such an edit is not synced (docs/sync-rules.md, rule 5; it is merged if the contact is marked again)."""
        super()._record(item, fld, side, value)
        mine = next((c for c in self.outlook() if item == f"graph:{c['id']}"), None)
        if mine is not None and not self.in_folder(mine):
            self.copy_of.pop(item, None)
            return
        for link in self.links() + self.shared_links():
            if item == f"graph:{link.graph_id}":
                self.copy_of[item] = link.fno_key

    def kinds(self) -> dict[str, Kind]:
        return {"contact": private_contact_kind(), SHARED_KIND: shared_contact_kind()}

    # ---- the shared folder as its users see it ------------------------------------------------------------
    def shared_contacts(self) -> list[dict[str, Any]]:
        return graph_contacts.list_contacts(self.graph, SHARED, SHARED_FOLDER)

    def _read(self, kind: str, mailbox: str) -> tuple[list[Link], list[ContactListEntry]]:
        async def read() -> tuple[list[Link], list[ContactListEntry]]:
            store = SqliteStateStore(self.folder / "state.sqlite3")
            try:
                return await store.list_links(kind, mailbox), await store.list_contact_entries(mailbox)
            finally:
                await store.close()

        return asyncio.run(read())

    def shared_links(self) -> list[Link]:
        return self._read(SHARED_KIND, SHARED)[0]

    def shared_entries(self) -> dict[str, ContactListEntry]:
        return {entry.contact_key: entry for entry in self._read(SHARED_KIND, SHARED)[1]}

    def on_shared_list(self, row: dict[str, Any], entries: dict[str, ContactListEntry]) -> bool:
        by_query = str(row.get("AssociatedPartyNumber") or "") in NORTH_PARTIES
        return effective(by_query, entries.get(self._fno_key(row)))

    def _forget_pair(self, item: str) -> None:
        """A mark, unmark or delete changes what a person's copies are: forget the edits of all three."""
        related = {item}
        for link in self.links() + self.shared_links():
            pair = {f"fno:{link.fno_key}", f"graph:{link.graph_id}"}
            if pair & related:
                related |= pair
        for link in self.links() + self.shared_links():  # the other list's copy of the same person
            if f"fno:{link.fno_key}" in related:
                related.add(f"graph:{link.graph_id}")
        for name in related:
            self.model.edits.pop(name, None)

    # ---- the valves of both lists: each list's is checked on its own ------------------------------------
    def _shared_gone(self) -> set[str]:
        persons = {self._fno_key(row) for row in self.persons()}
        present = {c["id"] for c in self.shared_contacts()}
        return {link.graph_id for link in self.shared_links() if link.fno_key not in persons} & present

    def _checked_cycle(self, faults: Faults) -> Any:
        shared_before = self._shared_gone()
        shared_links = len([link for link in self.shared_links() if not link.is_claim])
        shared_held = self.held(SHARED_KIND, SHARED)
        shared_approved = self.approved
        report = super()._checked_cycle(faults)
        deleted = len(shared_before - {c["id"] for c in self.shared_contacts()})
        if not shared_approved:
            assert not (shared_held and deleted), f"shared list: {deleted} deleted while the valve held"
            too_many = deleted >= MIN_ITEMS and deleted > MAX_SHARE * max(shared_links, 1)
            assert not too_many, ("shared list", deleted, shared_links)
        return report

    def valves(self) -> list[tuple[str, str]]:
        return [*super().valves(), (SHARED_KIND, SHARED)]

    # ---- rules: users of the shared folder --------------------------------------------------------------
    @rule(given=st.sampled_from(["Ola", "Kim"]), company=st.sampled_from(OUTLOOK_COMPANIES))
    def create_in_shared(self, given: str, company: str) -> None:
        body = {"givenName": given, "surname": self._unique_surname(), "companyName": company}
        created = graph_contacts.seed_contact(self.graph, SHARED, body, folder=SHARED_FOLDER)
        if company_key(company) not in KNOWN:
            self.unmatched.add(created["id"])

    @precondition(lambda self: bool(self.shared_contacts()))
    @rule(pick=st.integers(0, 1000), fld=st.sampled_from(FIELDS), choice=st.integers(0, 1))
    def edit_in_shared(self, pick: int, fld: str, choice: int) -> None:
        contacts = self.shared_contacts()
        contact = contacts[pick % len(contacts)]
        value = self._tick()
        if fld == "given_name":
            value = f"{contact.get('givenName') or ''} {value}".strip()
            patch: dict[str, Any] = {"givenName": value}
        elif fld == "job_title":
            patch = {"jobTitle": value}
        elif fld == "phone":
            value = f"+1 312 555 {self.counter:04d}"
            patch = {"businessPhones": [value]}
        elif fld == "notes":
            patch = {"personalNotes": value}
        else:
            name = OUTLOOK_COMPANIES[choice]
            value = company_key(name)
            patch = {"companyName": name}
        graph_contacts.user_update_contact(self.graph, SHARED, contact["id"], patch)
        self._record(f"graph:{contact['id']}", fld, SIDE_SHARED, value)

    @precondition(lambda self: bool(self.shared_contacts()))
    @rule(pick=st.integers(0, 1000))
    def delete_in_shared(self, pick: int) -> None:
        """A shared-folder user deletes a contact: it leaves that list, the person stays in F&O."""
        contacts = self.shared_contacts()
        contact = contacts[pick % len(contacts)]
        self._tick()
        self._forget_pair(f"graph:{contact['id']}")
        graph_contacts.user_delete_contact(self.graph, SHARED, contact["id"])

    @rule()
    def shared_delta_token_expires(self) -> None:
        self.graph.expire_delta_tokens(SHARED)

    # ---- the invariants after a quiet cycle -------------------------------------------------------------
    def check_converged(self) -> None:
        super().check_converged()
        persons = {self._fno_key(row): row for row in self.persons()}
        contacts = {c["id"]: c for c in self.shared_contacts()}
        entries = self.shared_entries()
        links = self.shared_links()
        assert not [link for link in links if link.is_claim], "shared list: claims left behind"
        assert len({link.fno_key for link in links}) == len(links), "shared list: a person linked twice"
        assert len({link.graph_id for link in links}) == len(links), "shared list: a contact linked twice"
        for link in links:
            row, contact = persons.get(link.fno_key), contacts.get(link.graph_id)
            if row is None or contact is None:
                assert self.held(SHARED_KIND, SHARED), f"{link}: one side gone, valve not held"
                continue
            assert self.on_shared_list(row, entries), (link, row)
            party = PARTIES.get(str(row.get("AssociatedPartyNumber") or ""), "")
            fno = contact_from_person(row, company_name=party).model_dump()
            graph = contact_from_graph(contact).model_dump()
            assert company_key(fno.pop("company_name")) == company_key(graph.pop("company_name")), link
            assert fno == graph, ("shared", link.fno_key, fno, graph)
        for key, row in persons.items():
            if self.on_shared_list(row, entries):
                assert key in {link.fno_key for link in links}, f"{key} on the shared list but not linked"
        linked = {link.graph_id for link in links}
        for graph_id, contact in contacts.items():
            if graph_id in linked:
                continue
            problems = [c for c in contact.get("categories") or [] if c in PROBLEM_CATEGORIES]
            assert problems, f"shared contact {contact['surname']} not linked"
        twice = [n for n, c in Counter(str(c.get("surname")) for c in contacts.values()).items() if c > 1]
        assert not twice, f"shared contacts created twice: {twice}"
        stamps = [stamp_of(c) for c in contacts.values() if stamp_of(c)]
        assert len(stamps) == len(set(stamps)), "two shared contacts carry the same F&O key"
        self._check_three_copies(persons)

    def _check_edits(self, link: Link, final: Any, suffixed: frozenset[str]) -> None:
        """The private machine's check knows two copies; `_check_three_copies` replaces it here."""

    def _check_three_copies(self, persons: dict[str, dict[str, Any]]) -> None:
        """No edit lost across F&O, Alice's contact and the shared contact of one person."""
        copies: dict[str, list[str]] = {}
        for link in self.links() + self.shared_links():
            copies.setdefault(link.fno_key, []).append(f"graph:{link.graph_id}")
        for item, key in self.copy_of.items():
            if item not in copies.get(key, []):
                copies.setdefault(key, []).append(item)
        for key, graph_items in copies.items():
            row = persons.get(key)
            if row is None:
                continue
            party = str(row.get("AssociatedPartyNumber") or "")
            final = {
                "given_name": str(row.get("FirstName") or ""),
                "job_title": str(row.get("EmploymentJobTitle") or ""),
                "notes": str(row.get("Notes") or ""),
                "phone": str(row.get("PrimaryPhoneNumber") or ""),
                "company": company_key(PARTIES.get(party, "")),
            }
            for fld, value in final.items():
                edits = [
                    e
                    for item in [f"fno:{key}", *graph_items]
                    for e in self.model.edits.get(item, {}).get(fld, [])
                ]
                if not edits:
                    continue
                last = {e.side: e.value for e in edits}
                if fld == "given_name":
                    words = {v.rsplit(" ", 1)[-1] for v in last.values()}
                    assert value.rsplit(" ", 1)[-1] in words, (key, fld, value, last)
                    continue
                assert value in last.values(), (key, fld, value, last)
                if len(last) == 1:
                    assert value == next(iter(last.values())), (key, fld, value, last)


class TwoListMachineTest(TwoListMachine):
    def teardown(self) -> None:
        try:
            self.quiesce()
        finally:
            super().teardown()


_PROFILE = settings.default
assert _PROFILE is not None
_LONG = _PROFILE.max_examples >= 1000
TwoListMachineTest.TestCase.settings = settings(
    parent=_PROFILE,
    max_examples=300 if _LONG else 15,
    stateful_step_count=40 if _LONG else 20,
)
TestTwoListStateMachine = TwoListMachineTest.TestCase


def test_an_edit_in_the_shared_folder_reaches_alice_and_f_and_o() -> None:
    """The example the rules describe: one person on both lists, edited in the shared folder."""
    machine = TwoListMachine()
    try:
        machine.existing_data(["Maria"], [])
        shared = machine.shared_contacts()
        assert len(shared) == 1 and len(machine.links()) == 1, "the Fabrikam contact is on both lists"
        machine.edit_in_shared(0, "job_title", 0)
        machine.quiesce()
        assert machine.persons()[0]["EmploymentJobTitle"] == machine.shared_contacts()[0]["jobTitle"]
    finally:
        machine.teardown()


def test_a_company_change_in_f_and_o_moves_the_person_off_the_shared_list() -> None:
    machine = TwoListMachine()
    try:
        machine.existing_data(["Maria"], [])
        machine.edit_in_fno(0, "company", 1)  # to Northwind: SOUTH, out of the query
        machine.quiesce()
        assert not machine.shared_contacts() and not machine.shared_links()
        assert len(machine.links()) == 1, "Alice keeps her contact"
    finally:
        machine.teardown()


def test_an_edit_in_the_shared_folder_survives_the_person_leaving_the_list() -> None:
    """A shared-folder user edits a contact while an F&O user moves its person out of the list's query in
    the same interval: the contact leaves the folder, and its edit reaches F&O first."""
    machine = TwoListMachine()
    try:
        machine.existing_data(["Maria"], [])
        machine.edit_in_shared(0, "job_title", 0)
        edited = machine.shared_contacts()[0]["jobTitle"]
        machine.edit_in_fno(0, "company", 1)  # to Northwind: SOUTH, out of the query
        machine.quiesce()
        assert not machine.shared_contacts()
        assert machine.persons()[0]["EmploymentJobTitle"] == edited
    finally:
        machine.teardown()
