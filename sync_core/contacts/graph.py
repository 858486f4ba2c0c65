"""Microsoft Graph calls for contacts, on the GraphClient's generic escape hatches (one place for
throttling, retries and the immutable-id header). Ids in URLs are always encoded with `seg`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from sync_core.exchange.client import DeltaPage, GraphClient
from sync_core.exchange.errors import GraphError, GraphNotFound
from sync_core.exchange.urls import odata_string, seg, user_seg
from sync_core.kinds.keys import STAMP_PROPERTY_ID

log = logging.getLogger(__name__)
_EXPAND_STAMP = f"singleValueExtendedProperties($filter=id eq {odata_string(STAMP_PROPERTY_ID)})"


def _query(**params: str) -> str:
    return "&".join(f"${name}={quote(value, safe=',()')}" for name, value in params.items())


def _contacts_path(mailbox: str, folder_id: str | None) -> str:
    if folder_id is None:
        return f"users/{user_seg(mailbox)}/contacts"  # the default Contacts folder
    return f"users/{user_seg(mailbox)}/contactFolders/{seg(folder_id)}/contacts"


async def find_folder(graph: GraphClient, mailbox: str, name: str) -> str | None:
    path = f"users/{user_seg(mailbox)}/contactFolders?" + _query(
        filter=f"displayName eq {odata_string(name)}"
    )
    data = await graph.request_json("GET", mailbox, path) or {}
    for folder in data.get("value") or []:
        if isinstance(folder, dict) and str(folder.get("displayName", "")).casefold() == name.casefold():
            folder_id = folder.get("id")
            if isinstance(folder_id, str) and folder_id:
                return folder_id
    return None


async def ensure_folder(graph: GraphClient, mailbox: str, name: str) -> str:
    """The id of the contact folder `name`, created when it is missing (a lost create race is fine)."""
    found = await find_folder(graph, mailbox, name)
    if found:
        return found
    try:
        created = await graph.request_json(
            "POST", mailbox, f"users/{user_seg(mailbox)}/contactFolders", body={"displayName": name}
        )
    except GraphError as exc:
        if exc.status != 409:
            raise
        created = None  # another worker created it meanwhile
    folder_id = (created or {}).get("id")
    if isinstance(folder_id, str) and folder_id:
        return folder_id
    found = await find_folder(graph, mailbox, name)
    if not found:
        raise GraphError(200, "InvalidResponse", "contact folder was neither created nor found")
    return found


async def iter_delta(
    graph: GraphClient, mailbox: str, folder_id: str | None, delta_link: str | None
) -> AsyncIterator[DeltaPage]:
    """One delta round of a contact folder (None: the default folder), from `delta_link` or anew."""
    url = delta_link or _contacts_path(mailbox, folder_id) + "/delta"
    async for page in graph.iter_delta(mailbox, url):
        yield page


async def get_contact(graph: GraphClient, mailbox: str, contact_id: str) -> dict[str, Any] | None:
    path = f"{_contacts_path(mailbox, None)}/{seg(contact_id)}?" + _query(expand=_EXPAND_STAMP)
    try:
        return await graph.request_json("GET", mailbox, path)
    except GraphNotFound:
        return None


async def find_by_stamp(graph: GraphClient, mailbox: str, folder_id: str, key: str) -> list[dict[str, Any]]:
    """Contacts of the folder stamped with the F&O key `key` (oldest first)."""
    prop = odata_string(STAMP_PROPERTY_ID)
    query = _query(
        filter=f"singleValueExtendedProperties/any(ep: ep/id eq {prop} and ep/value eq {odata_string(key)})",
        expand=_EXPAND_STAMP,
    )
    found: list[dict[str, Any]] = []
    link: str | None = f"{_contacts_path(mailbox, folder_id)}?{query}"
    while link:
        data = await graph.request_json("GET", mailbox, link) or {}
        found.extend(item for item in data.get("value") or [] if isinstance(item, dict))
        next_link = data.get("@odata.nextLink")
        link = next_link if isinstance(next_link, str) else None
    return sorted(found, key=lambda c: str(c.get("createdDateTime") or ""))


async def create_contact(
    graph: GraphClient, mailbox: str, folder_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    created = await graph.request_json("POST", mailbox, _contacts_path(mailbox, folder_id), body=body)
    if not created or not isinstance(created.get("id"), str):
        raise GraphError(200, "InvalidResponse", "contact create answered without an id")
    return created


async def update_contact(
    graph: GraphClient, mailbox: str, contact_id: str, patch: dict[str, Any], *, if_match: str | None = None
) -> dict[str, Any]:
    """PATCH; with `if_match` (the contact's `@odata.etag`) a changed contact answers 412, nothing written."""
    path = f"{_contacts_path(mailbox, None)}/{seg(contact_id)}"
    headers = {"If-Match": if_match} if if_match else None
    return await graph.request_json("PATCH", mailbox, path, body=patch, headers=headers) or {}


async def delete_contact(graph: GraphClient, mailbox: str, contact_id: str) -> None:
    try:
        await graph.request_json("DELETE", mailbox, f"{_contacts_path(mailbox, None)}/{seg(contact_id)}")
    except GraphNotFound:
        log.info("graph delete: contact already gone")
