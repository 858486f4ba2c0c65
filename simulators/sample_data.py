"""Sample tenant for the sandbox and the end-to-end tests: a few mailboxes, workers, parties,
contact persons, F&O activities and Outlook events, spread over far-apart time zones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.fno.state import FnoState
from simulators.graph.state import GraphState

COMPANY = "usmf"
CATEGORY = "D365 Sync"


@dataclass(frozen=True)
class SampleMailbox:
    mail: str
    name: str
    time_zone: str
    personnel_number: str | None  # None: no F&O worker, the mailbox is reported and skipped


MAILBOXES = (
    SampleMailbox("alice@contoso.com", "Alice Wagner", "W. Europe Standard Time", "000101"),
    SampleMailbox("bob@contoso.com", "Bob Kahale", "Hawaiian Standard Time", "000102"),
    SampleMailbox("carol@contoso.com", "Carol Tupou", "Tonga Standard Time", "000103"),
    SampleMailbox("dave@contoso.com", "Dave (no worker)", "UTC", None),
)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _graph_time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def seed(graph: GraphState, fno: FnoState, now: datetime) -> dict[str, Any]:
    """Fill both stand-ins; returns handles the tests use (activity numbers, event ids)."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for mailbox in MAILBOXES:
        graph.add_user(mailbox.mail, mailbox.name, time_zone=mailbox.time_zone)
        if mailbox.personnel_number:
            fno.add(
                "Workers",
                {
                    "PersonnelNumber": mailbox.personnel_number,
                    "Name": mailbox.name,
                    "PrimaryContactEmail": mailbox.mail,
                },
            )

    fno.add(
        "CustomersV3",
        {
            "dataAreaId": COMPANY,
            "CustomerAccount": "US-001",
            "PartyNumber": "000000101",
            "OrganizationName": "Fabrikam Retail",
            "PrimaryContactEmail": "orders@fabrikam.com",
            "SalesDistrict": "NORTH",
        },
    )
    fno.add(
        "VendorsV2",
        {
            "dataAreaId": COMPANY,
            "VendorAccountNumber": "V-0042",
            "VendorPartyNumber": "000000201",
            "VendorOrganizationName": "Litware Supplies",
            "PrimaryEmailAddress": "sales@litware.com",
        },
    )
    fno.add(
        "Prospects",
        {
            "dataAreaId": COMPANY,
            "ProspectId": "PR-007",
            "ProspectPartyNumber": "000000301",
            "CompanyName": "Tailspin Toys",
            "PrimaryEmailAddress": "hello@tailspin.com",
        },
    )
    # A quote in the address: every OData literal must escape it.
    for contact_id, first, last, email, party in (
        ("CP-0001", "Jane", "O'Brien", "jane.o'brien@fabrikam.com", "000000101"),
        ("CP-0002", "Ken", "Sato", "ken.sato@litware.com", "000000201"),
    ):
        fno.add(
            "ContactPersons",
            {
                "dataAreaId": COMPANY,
                "ContactPersonId": contact_id,
                "FirstName": first,
                "LastName": last,
                "PrimaryEmailAddress": email,
                "AssociatedPartyNumber": party,
                "ContactPersonResponsiblePersonnelNumber": "000101",
                "MicrosoftOutlookCategories": CATEGORY,
            },
        )

    def activity(owner: str, purpose: str, start: datetime, hours: float, **extra: Any) -> str:
        record = {
            "dataAreaId": COMPANY,
            "Category": "Appointment",
            "Purpose": purpose,
            "OutlookText": f"Agenda for {purpose.lower()}.\nBring the numbers.",
            "StartDateTime": _iso(start),
            "EndDateTime": _iso(start + timedelta(hours=hours)),
            "ResponsibleWorkerPersonnelNumber": owner,
            "KeepSynchronized": "Yes",
            "ShowTimeAs": "Busy",
            "Priority": "Normal",
            "Sensitivity": "Normal",
            "AllDay": "No",
        }
        record.update(extra)
        return str(fno.add("Activities", record)["ActivityNumber"])

    handles: dict[str, Any] = {}
    handles["review"] = activity(
        "000101",
        "Quarterly review with Fabrikam",
        day + timedelta(days=3, hours=9),
        1.5,
        Location="Fabrikam HQ, Room 4",
    )
    fno.add(
        "ActivityParentLinks",
        {
            "dataAreaId": COMPANY,
            "ActivityNumber": handles["review"],
            "ParentType": "ContactPerson",
            "ParentId": "CP-0001",
            "IsPrimaryLink": "Yes",
        },
    )
    handles["offsite"] = activity(
        "000101", "Sales offsite", day + timedelta(days=10), 24.0, AllDay="Yes", Sensitivity="Privat"
    )
    handles["pricing"] = activity(
        "000102",
        "Pricing call with Litware",
        day + timedelta(days=1, hours=20),
        0.5,
        Priority="High",
        Reminder="Yes",
        ReminderMinutes=30,
    )
    handles["kickoff"] = activity(
        "000103", "Project kick-off", day + timedelta(days=2, hours=21), 2.0, ShowTimeAs="Tentative"
    )
    handles["past"] = activity("000101", "Last month's visit", day - timedelta(days=12, hours=-10), 1.0)
    handles["internal"] = activity(
        "000102",
        "Internal planning (not synced)",
        day + timedelta(days=4, hours=18),
        1.0,
        KeepSynchronized="No",
    )

    handles["lunch"] = graph.add_event(
        "alice@contoso.com",
        {
            "subject": "Lunch with Litware",
            "body": {
                "contentType": "html",
                "content": "<html><body><p>Talk about <b>renewal</b>.</p></body></html>",
            },
            "start": _graph_time(day + timedelta(days=5, hours=11)),
            "end": _graph_time(day + timedelta(days=5, hours=12)),
            "location": {"displayName": "Bistro 12"},
            "categories": [CATEGORY],
            "attendees": [
                {"type": "required", "emailAddress": {"address": "ken.sato@litware.com", "name": "Ken Sato"}}
            ],
        },
    )["id"]
    handles["dentist"] = graph.add_event(
        "alice@contoso.com",
        {
            "subject": "Dentist (private, not marked)",
            "start": _graph_time(day + timedelta(days=6, hours=8)),
            "end": _graph_time(day + timedelta(days=6, hours=9)),
        },
    )["id"]
    handles["demo"] = graph.add_event(
        "carol@contoso.com",
        {
            "subject": "Demo for Tailspin",
            "start": _graph_time(day + timedelta(days=7, hours=22)),
            "end": _graph_time(day + timedelta(days=7, hours=23)),
            "categories": [CATEGORY, "Customer"],
            "importance": "high",
            "attendees": [
                {"type": "required", "emailAddress": {"address": "hello@tailspin.com", "name": "Tailspin"}},
                {
                    "type": "optional",
                    "emailAddress": {"address": "jane.o'brien@fabrikam.com", "name": "Jane"},
                },
            ],
        },
    )["id"]
    return handles


def sandbox_settings(graph_url: str, fno_url: str, token: str, state_dir: str) -> dict[str, str]:
    return {
        "D365_URL": fno_url,
        "GRAPH_URL": f"{graph_url}/v1.0",
        "SYNC_AUTH": "static",
        "SYNC_STATIC_TOKEN": token,
        "SYNC_MAILBOXES": ",".join(m.mail for m in MAILBOXES),
        "SYNC_COMPANY": COMPANY,
        "SYNC_CATEGORY": CATEGORY,
        "SYNC_STATE_DIR": state_dir,
    }
