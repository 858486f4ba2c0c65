"""Contacts created on one side whose create answer was lost: never a second one.

F&O to Outlook: the new contact carries the stamp in its POST body, so the retry finds it by the stamp.
Outlook to F&O: `ContactPersons` cannot hold the Outlook id; a creation token on the Outlook contact, set
before the POST, lets the retry find the contact person that POST made (sync_core/contacts/creation.py).

Faults are injected at the stand-ins' HTTP layer (simulators/faults.py): the request is applied, then the
connection breaks before the answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.faults import LOSE_ANSWER, AppliedWrite, Faults
from simulators.graph import contacts as graph_contacts
from simulators.sample_contacts import PRIVATE_FOLDER
from simulators.sample_data import CATEGORY, COMPANY
from sync_core.contacts.creation import CreationToken, digest_of, parse_token, token_for
from sync_core.runtime.keys import fno_key, stamp_of
from sync_core.state.base import PENDING
from tests.durability.faulty_tenant import faults as faults  # the fixtures, shared
from tests.durability.faulty_tenant import quiet
from tests.durability.faulty_tenant import tenant as tenant
from tests.e2e.harness import Tenant

ALICE = "alice@contoso.com"
CONTACT_PERSONS = r"^/data/ContactPersons$"


def _persons(tenant: Tenant, first: str, last: str) -> list[dict[str, Any]]:
    return [
        p
        for p in tenant.fno.all("ContactPersons")
        if p.get("FirstName") == first and p.get("LastName") == last
    ]


def _contacts(tenant: Tenant, name: str) -> list[dict[str, Any]]:
    return [
        c
        for c in graph_contacts.list_contacts(tenant.graph, ALICE, PRIVATE_FOLDER)
        if c["displayName"] == name
    ]


def _outlook_contact(tenant: Tenant, first: str, last: str) -> dict[str, Any]:
    # Contoso Pharmaceuticals is in the SOUTH district: the shared list does not take it.
    return graph_contacts.seed_contact(
        tenant.graph,
        ALICE,
        {
            "givenName": first,
            "surname": last,
            "companyName": "Contoso Pharmaceuticals",
            "jobTitle": "Lab lead",
            "emailAddresses": [{"address": f"{first.lower()}@contoso-pharma.com", "name": f"{first} {last}"}],
        },
        folder=PRIVATE_FOLDER,
    )


def _settled(tenant: Tenant, cycles: int = 4) -> None:
    """Cycles five minutes apart until one ends with nothing failed or waiting for a retry."""
    for _ in range(cycles):
        tenant.advance(minutes=5)
        report = tenant.cycle()
        if not report.failures and report.waiting_for_retry == 0:
            return
    raise AssertionError(f"not settled: {report.failures}")


def test_a_lost_answer_to_a_contact_person_create_links_the_one_it_made(
    tenant: Tenant, faults: Faults
) -> None:
    contact = _outlook_contact(tenant, "Greta", "Lindqvist")
    lost = faults.lose_answer("POST", CONTACT_PERSONS, count=1)  # applied, then the connection breaks

    tenant.cycle()
    assert lost.fired == 1
    _settled(tenant)

    [person] = _persons(tenant, "Greta", "Lindqvist")
    assert person["AssociatedPartyNumber"] == "000000102"
    [synced] = _contacts(tenant, "Greta Lindqvist")
    assert synced["id"] == contact["id"]
    # The create's last step, finished by the pass that found the contact person: the stamp is the key.
    assert stamp_of(synced) == fno_key(COMPANY, person["ContactPersonId"])
    quiet(tenant)
    # An edit flows through the link as usual.
    graph_contacts.user_update_contact(tenant.graph, ALICE, contact["id"], {"jobTitle": "Head of lab"})
    tenant.advance(minutes=5)
    assert tenant.cycle().failures == []
    [person] = _persons(tenant, "Greta", "Lindqvist")
    assert person["EmploymentJobTitle"] == "Head of lab"


def test_a_refused_contact_person_create_is_made_once_and_the_token_written_once(
    tenant: Tenant, faults: Faults
) -> None:
    """Refused for certain (nothing made, F&O in maintenance): the retries find nothing and create once.
    The token is written before the first attempt only, so a create failing for hours does not make the
    contact look changed (and be read again) in every cycle."""
    contact = _outlook_contact(tenant, "Omar", "Haddad")
    refused = faults.unavailable("POST", CONTACT_PERSONS, retry_after=0)
    mark = tenant.mark_logs()
    for _ in range(3):
        tenant.cycle()
        tenant.advance(minutes=5)
    assert refused.fired >= 1
    assert _persons(tenant, "Omar", "Haddad") == []
    patches = [r for r in tenant.graph.request_log[mark[0] :] if r["method"] == "PATCH"]
    assert len(patches) == 1  # the creation token, once
    [pending] = _contacts(tenant, "Omar Haddad")
    assert parse_token(stamp_of(pending)) is not None

    faults.remove(refused)
    _settled(tenant, cycles=12)  # the work list's backoff decides when the retry comes
    [person] = _persons(tenant, "Omar", "Haddad")
    [synced] = _contacts(tenant, "Omar Haddad")
    assert synced["id"] == contact["id"]
    assert stamp_of(synced) == fno_key(COMPANY, person["ContactPersonId"])
    quiet(tenant)


def test_a_lost_answer_to_an_outlook_contact_create_is_found_by_its_stamp(
    tenant: Tenant, faults: Faults
) -> None:
    # A contact person joins Alice's private list in F&O (her worker, the list's category).
    tenant.fno.add(
        "ContactPersons",
        {
            "dataAreaId": COMPANY,
            "ContactPersonId": "CP-0700",
            "FirstName": "Ines",
            "LastName": "Moreau",
            "PrimaryEmailAddress": "ines.moreau@contoso-pharma.com",
            "AssociatedPartyNumber": "000000102",
            "ContactPersonResponsiblePersonnelNumber": "000101",
            "MicrosoftOutlookCategories": CATEGORY,
        },
    )
    lost = faults.lose_answer("POST", r"/users/[^/]+/contactFolders/[^/]+/contacts$", count=1)

    tenant.cycle()
    assert lost.fired == 1
    _settled(tenant)

    [contact] = _contacts(tenant, "Ines Moreau")  # one, though the create was sent once and not answered
    assert stamp_of(contact) == fno_key(COMPANY, "CP-0700")
    assert len(_persons(tenant, "Ines", "Moreau")) == 1
    quiet(tenant)


def test_content_matching_needs_the_token_and_the_exact_values_sent() -> None:
    body = {
        "dataAreaId": "USMF",
        "AssociatedPartyNumber": "000000102",
        "ContactPersonResponsiblePersonnelNumber": "000101",
        "FirstName": "Greta",
        "LastName": "Lindqvist",
        "PrimaryEmailAddress": "greta@contoso-pharma.com",
    }
    at = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
    token = token_for(body, at)
    assert token.value.startswith(PENDING)
    assert parse_token(token.value) == token
    assert parse_token("usmf|CP-0001") is None and parse_token(f"{PENDING}garbage") is None
    # As F&O stores it (company lower-case, a trailing blank trimmed): the same create.
    stored = {**body, "dataAreaId": "usmf", "PrimaryEmailAddress": "Greta@contoso-pharma.com "}
    assert digest_of(stored) == token.digest
    # Another person of the same company and party: not the same create.
    assert digest_of({**body, "FirstName": "Grete"}) != token.digest
    assert digest_of({**body, "ContactPersonResponsiblePersonnelNumber": ""}) != token.digest
    # A retry of the same create keeps the first token (its time covers both attempts).
    later = token_for(body, at + timedelta(minutes=5))
    assert token.same_create(later) and not token.same_create(CreationToken(at, "000000999", token.digest))
    # No personal data in the token: the names and address appear only inside the digest.
    assert "Greta" not in token.value and "contoso-pharma" not in token.value


def test_the_fno_feed_reporting_the_person_first_does_not_create_a_second_contact(
    tenant: Tenant, faults: Faults
) -> None:
    """The create's answer was lost and its own retries could not look (the F&O query failing); the next
    cycle's F&O feed reports the new contact person before the work list retries the Outlook side. The
    feed's pair finds the contact the unfinished create came from and links it: one contact, not two."""
    contact = _outlook_contact(tenant, "Hedda", "Moberg")

    def after_create(write: AppliedWrite) -> str | None:
        if write.method == "POST" and write.path == "/data/ContactPersons":
            faults.fail("GET", CONTACT_PERSONS, status=500, count=60)  # this cycle's retries fail
            return LOSE_ANSWER
        return None

    remove = faults.on_applied_write(after_create)
    report = tenant.cycle(SYNC_RETRY_MINUTES="60")
    remove()
    faults.clear()
    assert report.waiting_for_retry == 1
    assert len(_persons(tenant, "Hedda", "Moberg")) == 1
    [waiting] = _contacts(tenant, "Hedda Moberg")
    assert parse_token(stamp_of(waiting) or "") is not None  # the create is not finished

    tenant.advance(minutes=5)
    report = tenant.cycle(SYNC_RETRY_MINUTES="60")  # the feed's pair only: the retry is not due yet
    assert report.failures == []
    [person] = _persons(tenant, "Hedda", "Moberg")
    [synced] = _contacts(tenant, "Hedda Moberg")
    assert synced["id"] == contact["id"]
    assert stamp_of(synced) == fno_key(COMPANY, person["ContactPersonId"])
