"""Sample e-mails for the sandbox and the end-to-end tests (docs/spec.md §3.3): messages marked for import in
several folders, whose addresses match a contact person, a customer, a vendor, a prospect and an extra party
address in `PartyContactsV3`, next to the owner's own address, colleagues (tenant domain) and strangers.

Call `seed_email` after `simulators.sample_data.seed` (it uses that tenant's mailboxes and parties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.fno.state import FnoState
from simulators.graph.state import GraphState
from simulators.sample_data import COMPANY

IMPORT = "D365 Import"
# An extra e-mail address of the vendor Litware's party, known only through PartyContactsV3.
VENDOR_EXTRA_ADDRESS = "accounts@litware.com"


def _who(address: str, name: str = "") -> dict[str, Any]:
    return {"emailAddress": {"address": address, "name": name or address}}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_email(graph: GraphState, fno: FnoState, now: datetime) -> dict[str, Any]:
    """Add the e-mail sample; returns handles (message ids by name, internetMessageIds)."""
    fno.add(
        "PartyContactsV3",
        {
            "PartyNumber": "000000201",
            "ElectronicAddressId": "000000777",
            "Type": "Email",
            "Locator": VENDOR_EXTRA_ADDRESS,
            "Description": "Accounts payable",
        },
    )
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    projects = graph.add_mail_folder("alice@contoso.com", "Projects")
    litware = graph.add_mail_folder("alice@contoso.com", "Litware", parent=projects)
    handles: dict[str, Any] = {"folders": {"projects": projects, "litware": litware}}

    def deliver(mailbox: str, name: str, folder: str, **fields: Any) -> None:
        fields.setdefault("receivedDateTime", _iso(hour - timedelta(hours=len(handles))))
        handles[name] = graph.add_message(mailbox, fields, folder=folder)["id"]

    deliver(
        "alice@contoso.com",
        "order",
        "inbox",
        subject="Order 4711: delivery dates",
        internetMessageId="<order-4711.1@fabrikam.com>",
        body={
            "contentType": "html",
            "content": "<html><head><style>p{margin:0}</style></head><body><p>Hi Alice,</p>"
            "<p>please confirm the <b>delivery dates</b>:</p><ul><li>Pallet 1: 3 April</li>"
            "<li>Pallet 2: 7&nbsp;April</li></ul><p>Thanks,<br>Jane</p></body></html>",
        },
        sender=_who("jane.o'brien@fabrikam.com", "Jane O'Brien"),
        **{"from": _who("jane.o'brien@fabrikam.com", "Jane O'Brien")},
        toRecipients=[_who("alice@contoso.com", "Alice Wagner")],
        ccRecipients=[_who("orders@fabrikam.com", "Fabrikam orders"), _who("bob@contoso.com", "Bob Kahale")],
        categories=[IMPORT, "Customer"],
    )
    deliver(
        "alice@contoso.com",
        "terms",
        litware,
        subject="Supplier terms 2026",
        internetMessageId="<terms-2026@contoso.com>",
        body={"contentType": "text", "content": "Dear Litware team,\nattached our terms for 2026."},
        sender=_who("alice@contoso.com", "Alice Wagner"),
        **{"from": _who("alice@contoso.com", "Alice Wagner")},
        toRecipients=[_who("sales@litware.com"), _who(VENDOR_EXTRA_ADDRESS), _who("ken.sato@litware.com")],
        categories=[IMPORT],
        isRead=True,
    )
    deliver(
        "alice@contoso.com",
        "intro",
        "archive",
        subject="Introduction: Tailspin Toys",
        internetMessageId="<intro-77@tailspin.com>",
        body={"contentType": "html", "content": "<div>Nice to meet you &amp; your team.</div>"},
        sender=_who("hello@tailspin.com", "Tailspin Toys"),
        **{"from": _who("hello@tailspin.com", "Tailspin Toys")},
        toRecipients=[_who("alice@contoso.com")],
        categories=[IMPORT],
    )
    # The same mail delivered a second time (same internetMessageId): one activity only.
    deliver(
        "alice@contoso.com",
        "intro_again",
        "inbox",
        subject="Introduction: Tailspin Toys",
        internetMessageId="<intro-77@tailspin.com>",
        body={"contentType": "html", "content": "<div>Nice to meet you &amp; your team.</div>"},
        sender=_who("hello@tailspin.com", "Tailspin Toys"),
        **{"from": _who("hello@tailspin.com", "Tailspin Toys")},
        toRecipients=[_who("alice@contoso.com")],
        categories=[IMPORT],
    )
    deliver(
        "alice@contoso.com",
        "newsletter",
        "inbox",
        subject="Newsletter (not marked)",
        sender=_who("news@example.org"),
        toRecipients=[_who("alice@contoso.com")],
        categories=["Blue category"],
    )
    deliver(
        "carol@contoso.com",
        "demo_followup",
        "inbox",
        subject="Re: Demo for Tailspin",
        internetMessageId="<demo-followup@example.org>",
        body={"contentType": "text", "content": "Following up on the demo."},
        sender=_who("stranger@example.org", "Someone unknown"),
        **{"from": _who("stranger@example.org", "Someone unknown")},
        toRecipients=[_who("carol@contoso.com")],
        ccRecipients=[_who("HELLO@tailspin.com", "Tailspin")],
        categories=[IMPORT],
    )
    handles["company"] = COMPANY
    return handles
