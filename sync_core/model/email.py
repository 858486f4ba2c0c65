"""E-mail import (docs/spec.md §3.3): a Graph `message` -> the canonical EmailActivity -> F&O `Activities` JSON.

One way only: nothing here is read back from F&O. Every Graph string is hostile (missing fields, wrong
types, megabyte bodies, control characters); the map never raises for bad content except when the message
has no usable identity or time (`EmailMapError`, a permanent per-item failure).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from sync_core.model.datetimes import parse_instant
from sync_core.model.email_html import html_to_text
from sync_core.model.text import (
    BODY_LIMIT,
    TRUNCATION_MARKER,
    normalise_address,
    normalise_body,
    normalise_line,
)

ACTIVITY_CATEGORY = "Event"
ENTRY_ID_LIMIT = 255
"""Longest internetMessageId stored as is in `OutlookEntryId`; longer ones are stored as a digest."""
_DIGEST_PREFIX = "imid-sha256:"

__all__ = [
    "ACTIVITY_CATEGORY",
    "BODY_LIMIT",
    "TRUNCATION_MARKER",
    "EmailActivity",
    "EmailMapError",
    "activity_body",
    "body_text",
    "candidate_addresses",
    "email_from_message",
    "entry_id",
    "has_category",
    "replace_category",
]


class EmailMapError(ValueError):
    """The message cannot become an activity as it is (a permanent failure of that message)."""


class EmailActivity(BaseModel):
    """What the import keeps of a message. `addresses` are the candidates for parent links, in the order
    they are linked: sender, from, To, Cc (lower-cased, deduplicated, owner and tenant domains removed)."""

    model_config = ConfigDict(frozen=True)

    internet_message_id: str
    subject: str
    received: datetime
    body: str
    addresses: tuple[str, ...]


def body_text(body: Any) -> str:
    """Graph `itemBody` -> plain text: HTML converted, then normalised and cut at BODY_LIMIT with the
    TRUNCATION_MARKER as its last line."""
    if not isinstance(body, Mapping):
        return ""
    content = body.get("content")
    if not isinstance(content, str):
        return ""
    kind = body.get("contentType")
    text = html_to_text(content) if isinstance(kind, str) and kind.lower() == "html" else content
    return normalise_body(text)


def _recipient_address(value: Any) -> str:
    email = value.get("emailAddress") if isinstance(value, Mapping) else None
    return normalise_address(email.get("address")) if isinstance(email, Mapping) else ""


def _recipients(value: Any) -> list[str]:
    return [_recipient_address(item) for item in value] if isinstance(value, list) else []


def candidate_addresses(
    message: Mapping[str, Any], *, exclude: Iterable[str], exclude_domains: Iterable[str]
) -> tuple[str, ...]:
    """Sender, from, To and Cc in that order (Bcc is never shown to others, so it is not linked)."""
    excluded = {normalise_address(a) for a in exclude} - {""}
    domains = {d.strip().lower().lstrip("@") for d in exclude_domains} - {""}
    ordered = [
        _recipient_address(message.get("sender")),
        _recipient_address(message.get("from")),
        *_recipients(message.get("toRecipients")),
        *_recipients(message.get("ccRecipients")),
    ]
    result: dict[str, None] = {}
    for address in ordered:
        if not address or address in excluded or address.rpartition("@")[2] in domains:
            continue
        result[address] = None
    return tuple(result)


def email_from_message(
    message: Mapping[str, Any], *, exclude: Iterable[str] = (), exclude_domains: Iterable[str] = ()
) -> EmailActivity:
    internet_id = message.get("internetMessageId")
    if not isinstance(internet_id, str) or not internet_id.strip():
        raise EmailMapError("the message has no internetMessageId (drafts cannot be imported)")
    received = None
    for name in ("receivedDateTime", "sentDateTime", "createdDateTime"):
        received = parse_instant(message.get(name))
        if received is not None:
            break
    if received is None:
        raise EmailMapError("the message has no readable received time")
    return EmailActivity(
        internet_message_id=internet_id.strip(),
        subject=normalise_line(message.get("subject")),
        received=received.astimezone(UTC).replace(microsecond=0),
        body=body_text(message.get("body")),
        addresses=candidate_addresses(message, exclude=exclude, exclude_domains=exclude_domains),
    )


def entry_id(internet_message_id: str) -> str:
    """The value kept in `OutlookEntryId`: the internetMessageId itself, or a digest when it is too long
    or holds characters an OData literal cannot carry (identity only, so a digest is as good)."""
    text = internet_message_id.strip()
    printable = all(ch.isprintable() for ch in text)
    if text and len(text) <= ENTRY_ID_LIMIT and printable:
        return text
    return _DIGEST_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def activity_body(email: EmailActivity, *, company: str, personnel_number: str, entry: str) -> dict[str, Any]:
    """F&O `Activities` create body (enum members as names, times in UTC)."""
    when = email.received.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "dataAreaId": company,
        "Category": ACTIVITY_CATEGORY,
        "Purpose": email.subject,
        "StartDateTime": when,
        "EndDateTime": when,
        "OutlookText": email.body,
        "ResponsibleWorkerPersonnelNumber": personnel_number,
        "KeepSynchronized": "No",
        # Finds the activity again by the message's identity (copies and duplicates share it).
        "OutlookEntryId": entry,
    }


def has_category(categories: Any, name: str) -> bool:
    """Outlook compares category names case-insensitively."""
    wanted = name.casefold()
    return isinstance(categories, list) and any(
        isinstance(c, str) and c.casefold() == wanted for c in categories
    )


def replace_category(categories: Any, remove: Iterable[str], add: str) -> list[str]:
    """The message's category list with `remove` taken out and `add` put in, everything else kept in
    order (the user's own categories are not touched)."""
    dropped = {name.casefold() for name in remove} | {add.casefold()}
    kept = [c for c in categories if isinstance(c, str)] if isinstance(categories, list) else []
    result = [c for c in kept if c.casefold() not in dropped]
    result.append(add)
    return list(dict.fromkeys(result))
