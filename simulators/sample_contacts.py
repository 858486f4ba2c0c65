"""Sample data for contact lists: contact persons with categories and responsible workers, customers in
the sales districts NORTH and SOUTH, a shared mailbox for the NORTH list, and contacts people created in
Outlook. Builds on `sample_data.seed` (workers, Fabrikam Retail, Litware, Tailspin, CP-0001/CP-0002)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from simulators.fno.state import FnoState
from simulators.graph import contacts
from simulators.graph.state import GraphState
from simulators.sample_data import CATEGORY, COMPANY

SHARED_MAILBOX = "sales-north@contoso.com"
SHARED_FOLDER = "Sales North"
PRIVATE_FOLDER = "Dynamics 365"
SHARED_LISTS = [
    {
        "name": "North",
        "mailbox": SHARED_MAILBOX,
        "folder": SHARED_FOLDER,
        "contactFilter": "IsInactive eq Microsoft.Dynamics.DataEntities.NoYes'No'",
        "customerFilter": "SalesDistrict eq 'NORTH'",
    }
]


def contact_settings() -> dict[str, str]:
    """Settings the sample tenant adds for contacts (the shared list; the private folder is the default)."""
    return {"SYNC_SHARED_LISTS": json.dumps(SHARED_LISTS)}


def _customer(fno: FnoState, account: str, party: str, name: str, district: str) -> None:
    fno.add(
        "CustomersV3",
        {
            "dataAreaId": COMPANY,
            "CustomerAccount": account,
            "PartyNumber": party,
            "OrganizationName": name,
            "SalesDistrict": district,
        },
    )


def seed_contacts(
    graph: GraphState, fno: FnoState, now: datetime, *, problems: bool = False
) -> dict[str, Any]:
    """Fill both stand-ins; `problems` adds the Outlook contacts whose company is missing or ambiguous
    (they are recorded as failures until fixed, so the sandbox leaves them out)."""
    graph.add_user(SHARED_MAILBOX, "Sales North (shared)", time_zone="UTC")
    _customer(fno, "US-002", "000000102", "Contoso Pharmaceuticals", "SOUTH")
    _customer(fno, "US-003", "000000103", "Northwind Traders", "NORTH")
    # Two different parties with one name: a contact naming it cannot be attached.
    _customer(fno, "US-004", "000000104", "Adventure Works", "SOUTH")
    fno.add(
        "Prospects",
        {
            "dataAreaId": COMPANY,
            "ProspectId": "PR-008",
            "ProspectPartyNumber": "000000302",
            "CompanyName": "Adventure  Works",
        },
    )
    people = (
        # id, first, last, e-mail, party, responsible worker, categories, phone, mobile?
        ("CP-0003", "Maria", "Garcia", "maria.garcia@northwind.com", "000000103", "000102", CATEGORY, "+1 206 555 0103", False),
        ("CP-0004", "Li", "Wei", "li.wei@contoso-pharma.com", "000000102", "000102", "Internal", "+1 425 555 0104", False),
        ("CP-0005", "Tom", "Jensen", "tom.jensen@fabrikam.com", "000000101", "", "", "+45 20 55 01 05", True),
    )  # fmt: skip
    for contact_id, first, last, email, party, owner, categories, phone, mobile in people:
        fno.add(
            "ContactPersons",
            {
                "dataAreaId": COMPANY,
                "ContactPersonId": contact_id,
                "FirstName": first,
                "LastName": last,
                "PrimaryEmailAddress": email,
                "PrimaryPhoneNumber": phone,
                "IsPrimaryPhoneNumberMobile": "Yes" if mobile else "No",
                "EmploymentJobTitle": "Buyer",
                "PrimaryAddressCity": "Seattle",
                "AssociatedPartyNumber": party,
                "ContactPersonResponsiblePersonnelNumber": owner,
                "MicrosoftOutlookCategories": categories,
            },
        )
    handles: dict[str, Any] = {}
    # Alice keeps a contact in her list folder; the company is written loosely, as people do.
    handles["priya"] = contacts.seed_contact(
        graph,
        "alice@contoso.com",
        {
            "givenName": "Priya",
            "surname": "Patel",
            "companyName": "fabrikam  RETAIL",
            "jobTitle": "Store manager",
            "emailAddresses": [{"address": "priya.patel@fabrikam.com", "name": "Priya Patel"}],
            "businessPhones": ["+1 206 555 0199"],
        },
        folder=PRIVATE_FOLDER,
    )["id"]
    if problems:
        handles["sam"] = contacts.seed_contact(
            graph,
            "alice@contoso.com",
            {"givenName": "Sam", "surname": "Lee", "companyName": "Unknown Corp"},
            folder=PRIVATE_FOLDER,
        )["id"]
        handles["alex"] = contacts.seed_contact(
            graph,
            "alice@contoso.com",
            {"givenName": "Alex", "surname": "Kim", "companyName": "Adventure Works"},
            folder=PRIVATE_FOLDER,
        )["id"]
    return handles


def private_count(graph: GraphState, mailboxes: list[str]) -> int:
    return sum(len(contacts.list_contacts(graph, m, PRIVATE_FOLDER)) for m in mailboxes)


def shared_count(graph: GraphState) -> int:
    return len(contacts.list_contacts(graph, SHARED_MAILBOX, SHARED_FOLDER))
