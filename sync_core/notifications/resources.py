"""The `resource` of a change notification -> (user, collection).

Graph spells the same resource several ways (all seen in Microsoft's published samples):
`users/{guid}@{tenant}/messages/{id}`, `Users/{guid}/Messages/{id}` and `Users('{guid}')/messages('{id}')`;
contacts of a folder may come as `Users/{guid}/ContactFolders/{folder}/Contacts/{id}` or
`Users/{guid}/Contacts/{id}`. Everything here is hostile input: anything unexpected gives None."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_RESOURCE_LENGTH = 4096
COLLECTIONS = ("events", "messages", "contacts")
# Containers that may sit between the user and the collection (their key follows them).
_CONTAINERS = ("calendar", "calendars", "mailfolders", "contactfolders", "childfolders")
_KEYED = frozenset({"users", *COLLECTIONS, *(c for c in _CONTAINERS if c != "calendar")})
_SEGMENT = re.compile(r"^([A-Za-z]+)(?:\('([^'/]*)'\))?$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class ResourceRef:
    user: str  # a user id (GUID, lower-case) or a mailbox address (lower-case)
    collection: str  # "events", "messages" or "contacts"


def _tokens(resource: str) -> list[tuple[str, str | None]] | None:
    """Segments as (name, key): `name('key')` and `name/key` both become one token."""
    tokens: list[tuple[str, str | None]] = []
    parts = resource.strip("/").split("/")
    index = 0
    while index < len(parts):
        match = _SEGMENT.fullmatch(parts[index])
        if match is None:
            return None
        name, key = match.group(1).lower(), match.group(2)
        index += 1
        if key is None and name in _KEYED and index < len(parts):
            key = parts[index]  # e.g. Users/{guid} or Messages/{id}: the next segment is the key
            index += 1
        if key is not None and not key:
            return None
        tokens.append((name, key))
    return tokens


def _user_key(raw: str) -> str | None:
    # users/{guid}@{tenant}: the part before "@" is the user's object id.
    head, at, _tenant = raw.partition("@")
    if _GUID.fullmatch(head):
        return head.lower()
    if at and head and "." in _tenant:
        return raw.lower()  # a user principal name / address
    return None


def parse_resource(resource: object) -> ResourceRef | None:
    if not isinstance(resource, str) or not resource or len(resource) > MAX_RESOURCE_LENGTH:
        return None
    if not _PRINTABLE.fullmatch(resource):
        return None
    tokens = _tokens(resource)
    if not tokens or tokens[0][0] != "users" or not tokens[0][1]:
        return None
    user = _user_key(tokens[0][1])
    if user is None:
        return None
    collection: str | None = None
    for position, (name, key) in enumerate(tokens[1:], start=1):
        if name in COLLECTIONS:
            if position != len(tokens) - 1:
                return None  # nothing may follow the item
            collection = name
        elif name not in _CONTAINERS or (key is None and name != "calendar"):
            return None
    if collection is None:
        return None
    return ResourceRef(user=user, collection=collection)
