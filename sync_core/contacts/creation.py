"""A contact person created from Outlook whose answer never came: was it created, and which one is it?

The Outlook side can hold a reference (the stamp, an extended property), the F&O side cannot:
`ContactPersons` has no column meant for a foreign id, and every free-text column it has is shown to users
on the contact person's form and belongs to them (notes, names, address texts). Writing a token there
would put the product's bookkeeping into business data, and the token would stay behind.

So identity stays one-sided and content matching is confined to one question: a create was sent and its
outcome is unknown. Before the POST, the Outlook contact's stamp is set to a creation token
(`pending:<when>|<party>|<digest>`); the create's own follow-up writes replace it with the new key. A
token still on the contact means a create was attempted and not finished: only then is F&O searched, for a
contact person of the same company and party, edited no earlier than the attempt (less the clock margin),
whose names, e-mail address and responsible worker hash to the token's digest (the values as sent, so an
Outlook edit meanwhile does not hide it), and that is linked to nothing in this list. Anything else is
never matched by content: a contact person like an existing one but not created by this product stays
separate."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync_core.contacts.membership import CHANGE_ORDER, CONTACT_PERSONS, FEED_FIELDS
from sync_core.d365.client import FnoClient
from sync_core.d365.odata import and_all, datetime_literal, exact_string_eq, is_safe_text
from sync_core.runtime.keys import parse_fno_time
from sync_core.state.base import PENDING

# The columns of the POST body that identify what was sent (compared trimmed and case-insensitively, as
# F&O may store them). The responsible worker is empty for a shared list's contact, on both sides.
TOKEN_FIELDS = (
    "dataAreaId",
    "AssociatedPartyNumber",
    "ContactPersonResponsiblePersonnelNumber",
    "FirstName",
    "LastName",
    "PrimaryEmailAddress",
)


@dataclass(frozen=True)
class CreationToken:
    attempted: datetime  # our clock, when the (first) create was about to be sent
    party: str  # AssociatedPartyNumber sent: narrows the search in F&O (not personal data)
    digest: str  # of TOKEN_FIELDS as sent: names and address only hashed

    @property
    def value(self) -> str:
        return f"{PENDING}{self.attempted.isoformat()}|{self.party}|{self.digest}"

    def same_create(self, other: CreationToken) -> bool:
        """The same contact person would be sent again (an earlier attempt's token stays: its older time
        covers both attempts, and not rewriting it spares a write that would report the contact changed)."""
        return self.party == other.party and self.digest == other.digest


def digest_of(row: Mapping[str, Any]) -> str:
    text = "\x1f".join(str(row.get(name) or "").strip().casefold() for name in TOKEN_FIELDS)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def token_for(body: Mapping[str, Any], at: datetime) -> CreationToken:
    return CreationToken(
        attempted=at, party=str(body.get("AssociatedPartyNumber") or ""), digest=digest_of(body)
    )


def parse_token(stamp: str | None) -> CreationToken | None:
    """The creation token in a stamp value; None for a key or anything unreadable."""
    if not stamp or not stamp.startswith(PENDING):
        return None
    when, sep, rest = stamp[len(PENDING) :].partition("|")
    party, sep2, digest = rest.rpartition("|")
    attempted = parse_fno_time(when)
    if not sep or not sep2 or attempted is None or len(digest) != 24:
        return None
    return CreationToken(attempted=attempted, party=party, digest=digest)


async def created_persons(
    fno: FnoClient, company: str, token: CreationToken, margin_seconds: int
) -> list[dict[str, Any]]:
    """Contact persons of `company` that the create of `token` may have made, oldest edit first. `margin`:
    how far F&O's clock may be behind ours (SYNC_FNO_OVERLAP_SECONDS)."""
    since = token.attempted - timedelta(seconds=margin_seconds)
    parts = [exact_string_eq("dataAreaId", company), f"LastEditDateTime ge {datetime_literal(since)}"]
    if token.party and is_safe_text(token.party):
        parts.append(exact_string_eq("AssociatedPartyNumber", token.party))
    return [
        row
        async for row in fno.query(
            CONTACT_PERSONS, filter=and_all(*parts), select=FEED_FIELDS, orderby=CHANGE_ORDER
        )
        if digest_of(row) == token.digest
    ]
