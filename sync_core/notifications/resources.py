"""The `resource` of a change notification -> (user, collection).

`resource` is "the URI of the resource that emitted the change notification relative to
https://graph.microsoft.com" (resources/changenotification.md). Microsoft's samples spell it several ways:
`users/{guid}@{tenant}/messages/{id}` (concepts/change-notifications-delivery-webhooks.md),
`Users/{guid}/Messages/{id}` and `Users('{guid}')/messages('{id}')`
(concepts/outlook-change-notifications-overview.md); items of a folder may come under
`ContactFolders/{folder}/`, `mailFolders('{folder}')/`, `calendars/{id}/` or `calendar/`.

Outlook ids are standard base64 (`/`, `+`, `=`; `-` and `_` in other id forms), and the path spelling
does not escape them: an id runs to the end of the resource and may contain `/`. Everything here is hostile
input: anything unexpected gives None, never an exception. The receiver routes by the clientState and the
subscription, so a resource this module does not understand still leads to a scan."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_RESOURCE_LENGTH = 4096
COLLECTIONS = ("events", "messages", "contacts")
# Containers that may sit between the user and the collection (all but `calendar` carry a key), and what
# each may hold: an unquoted container key ends at the next segment naming one of those.
_HOLDS = {
    "users": (*COLLECTIONS, "calendar", "calendars", "mailfolders", "contactfolders"),
    "calendar": ("events",),
    "calendars": ("events",),
    "mailfolders": ("messages", "childfolders"),
    "contactfolders": ("contacts", "childfolders"),
    "childfolders": ("messages", "contacts", "childfolders"),
}
_USER = re.compile(r"/?users(?:\('([^']+)'\)|/([^/()']+))(?:/|$)", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z]+")
# `('key')`, a quote inside doubled as OData writes it.
_QUOTED = re.compile(r"\('((?:[^']|'')+)'\)")
_NEXT = {
    name: re.compile(r"/(?:" + "|".join(held) + r")(?=[/(]|$)", re.IGNORECASE)
    for name, held in _HOLDS.items()
}
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PRINTABLE = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class ResourceRef:
    user: str  # a user id (GUID, lower-case) or a mailbox address (lower-case)
    collection: str  # "events", "messages" or "contacts"


def _user_key(raw: str) -> str | None:
    # users/{guid}@{tenant}: the part before "@" is the user's object id.
    head, at, tenant = raw.partition("@")
    if _GUID.fullmatch(head):
        return head.lower()
    if at and head and "." in tenant:
        return raw.lower()  # a user principal name / address
    return None


def _item_key_ok(rest: str) -> bool:
    """What follows the collection: nothing (the collection itself), `('id')` or `/id` (which may hold `/`)."""
    return not rest or bool(_QUOTED.fullmatch(rest)) or (rest[0] == "/" and len(rest) > 1)


def _collection(rest: str) -> str | None:
    """Walk the containers after the user down to the collection."""
    parent = "users"
    while rest:
        name = _NAME.match(rest)
        word = name.group().lower() if name else ""
        if name is None or word not in _HOLDS[parent]:
            return None
        rest = rest[name.end() :]
        if word in COLLECTIONS:
            return word if _item_key_ok(rest) else None
        if word != "calendar":
            quoted = _QUOTED.match(rest)
            if quoted is not None:
                rest = rest[quoted.end() :]
            elif rest[:1] == "/":
                following = _NEXT[word].search(rest, 1)
                if following is None or following.start() <= 1:
                    return None  # a container without its key, or nothing after it
                rest = rest[following.start() :]
            else:
                return None
        if rest[:1] != "/":
            return None
        rest, parent = rest[1:], word
    return None


def parse_resource(resource: object) -> ResourceRef | None:
    if not isinstance(resource, str) or not resource or len(resource) > MAX_RESOURCE_LENGTH:
        return None
    if not _PRINTABLE.fullmatch(resource):
        return None
    user = _USER.match(resource)
    if user is None:
        return None
    key = _user_key(user.group(1) or user.group(2))
    collection = _collection(resource[user.end() :])
    if key is None or collection is None:
        return None
    return ResourceRef(user=key, collection=collection)
