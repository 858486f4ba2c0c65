"""Microsoft Graph calls for contacts, on the GraphClient's generic escape hatches (one place for
throttling, retries and the immutable-id header). Ids in URLs are always encoded with `seg`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, NamedTuple
from urllib.parse import quote

from sync_core.exchange.client import DeltaPage, GraphClient
from sync_core.exchange.errors import GraphError, GraphNotFound
from sync_core.exchange.urls import odata_string, seg, user_seg
from sync_core.runtime.keys import STAMP_PROPERTY_ID

log = logging.getLogger(__name__)
_EXPAND_STAMP = f"singleValueExtendedProperties($filter=id eq {odata_string(STAMP_PROPERTY_ID)})"


def _query(**params: str) -> str:
    return "&".join(f"${name}={quote(value, safe=',()')}" for name, value in params.items())


def _contacts_path(mailbox: str, folder_id: str) -> str:
    return f"users/{user_seg(mailbox)}/contactFolders/{seg(folder_id)}/contacts"


def _contact_path(mailbox: str, contact_id: str) -> str:
    # GET/PATCH/DELETE /users/{id}/contacts/{id} (contact-get.md, contact-update.md, contact-delete.md).
    return f"users/{user_seg(mailbox)}/contacts/{seg(contact_id)}"


class Folder(NamedTuple):
    """A contact folder: its id and its parent's. The product's folder is made by `POST
    /users/{id}/contactFolders`, which "creates a new contactFolder under the user's default contacts
    folder" (api-reference/v1.0/api/user-post-contactfolders.md) and is found again in `GET
    /users/{id}/contactFolders`, "the contact folder collection in the default Contacts folder"
    (user-list-contactfolders.md): its `parentFolderId` (resources/contactfolder.md) names the default
    Contacts folder, the id the documented delta path needs (contact-delta.md)."""

    id: str
    parent_id: str | None


def default_folder_id(folder: Folder) -> str:
    """The default Contacts folder's id: the parent of the product's folder (see `Folder`)."""
    if folder.parent_id is None:
        raise GraphError(200, "InvalidResponse", "contact folder answered without parentFolderId")
    return folder.parent_id


def _folder(data: Any) -> Folder | None:
    if not isinstance(data, dict):
        return None
    folder_id, parent_id = data.get("id"), data.get("parentFolderId")
    if not isinstance(folder_id, str) or not folder_id:
        return None
    return Folder(folder_id, parent_id if isinstance(parent_id, str) and parent_id else None)


async def find_folder(graph: GraphClient, mailbox: str, name: str) -> Folder | None:
    path = f"users/{user_seg(mailbox)}/contactFolders?" + _query(
        filter=f"displayName eq {odata_string(name)}"
    )
    data = await graph.request_json("GET", mailbox, path) or {}
    for item in data.get("value") or []:
        folder = _folder(item)
        if folder and str(item.get("displayName", "")).casefold() == name.casefold():
            return folder
    return None


async def ensure_folder(graph: GraphClient, mailbox: str, name: str) -> Folder:
    """The contact folder `name`, created when it is missing (a lost create race is fine)."""
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
    folder = _folder(created) or await find_folder(graph, mailbox, name)
    if folder is None:
        raise GraphError(200, "InvalidResponse", "contact folder was neither created nor found")
    return folder


async def iter_delta(
    graph: GraphClient, mailbox: str, folder_id: str, delta_link: str | None
) -> AsyncIterator[DeltaPage]:
    """One delta round of a contact folder, from `delta_link` or anew. Only the folder form
    `/users/{id}/contactFolders/{id}/contacts/delta` is documented (contact-delta.md)."""
    url = delta_link or _contacts_path(mailbox, folder_id) + "/delta"
    async for page in graph.iter_delta(mailbox, url):
        yield page


async def get_contact(graph: GraphClient, mailbox: str, contact_id: str) -> dict[str, Any] | None:
    path = f"{_contact_path(mailbox, contact_id)}?" + _query(expand=_EXPAND_STAMP)
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
    path = _contact_path(mailbox, contact_id)
    headers = {"If-Match": if_match} if if_match else None
    return await graph.request_json("PATCH", mailbox, path, body=patch, headers=headers) or {}


async def delete_contact(graph: GraphClient, mailbox: str, contact_id: str) -> None:
    try:
        await graph.request_json("DELETE", mailbox, _contact_path(mailbox, contact_id))
    except GraphNotFound:
        log.info("graph delete: contact already gone")
