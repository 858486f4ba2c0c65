"""Contact folders and contacts of the Graph stand-in: storage, validation and rendering.

What it follows from Exchange (docs/spec.md §7, simulators/reference/graph-examples/contact-*.json):
- Every mailbox has a default "Contacts" folder; `POST /contactFolders` creates a folder under it and a
  second folder of the same name under the same parent is refused (409 ErrorFolderExists).
- Ids: with `Prefer: IdType="ImmutableId"` a contact keeps its id for life; without it the id depends on
  the folder, so a contact moved by the user gets a new one (the old one answers 404).
- `displayName` is computed from the name parts on create when it is not sent, and again on a PATCH that
  changes a name part without sending displayName: contact-update.md says properties left out "maintain
  their previous values or be recalculated based on changes to other property values", and that later
  updates "may cause an automatically generated value to overwrite the displayName value you have
  specified. To preserve a pre-existing value, always include it as displayName in an update operation".
- Unknown properties and wrongly typed values are refused like Graph does (400 RequestBodyRead).
- Timestamps are whole seconds with Z, as in the published contact examples.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulators.graph import ids
from simulators.graph.errors import GraphError, bad_request, not_found
from simulators.graph.events import ext_key
from simulators.graph.model import Mailbox
from simulators.graph.state import GraphState

DEFAULT_FOLDER = "Contacts"
_STRINGS = (
    "assistantName", "businessHomePage", "companyName", "department", "displayName", "fileAs", "generation",
    "givenName", "initials", "jobTitle", "manager", "middleName", "mobilePhone", "nickName", "officeLocation",
    "personalNotes", "profession", "spouseName", "surname", "title", "yomiCompanyName", "yomiGivenName",
    "yomiSurname", "birthday",
)  # fmt: skip
_STRING_LISTS = ("businessPhones", "homePhones", "imAddresses", "children", "categories")
_ADDRESSES = ("businessAddress", "homeAddress", "otherAddress")
_ADDRESS_PROPS = ("street", "city", "state", "countryOrRegion", "postalCode")
_READ_ONLY = ("id", "createdDateTime", "lastModifiedDateTime", "changeKey", "parentFolderId")
WRITABLE = {*_STRINGS, *_STRING_LISTS, *_ADDRESSES, "emailAddresses", "singleValueExtendedProperties"}
CONTACT_PROPS = {*_STRINGS, *_STRING_LISTS, *_ADDRESSES, "emailAddresses", *_READ_ONLY}


@dataclass
class ContactFolder:
    key: bytes
    display_name: str
    parent: bytes | None


@dataclass
class StoredContact:
    key: bytes
    folder: bytes
    fields: dict[str, Any]
    created: datetime
    modified: datetime
    ext: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Normalised extended-property id -> (id as first written, value)."""
    version: int = 1
    seq: int = 0


@dataclass
class ContactBook:
    """One mailbox's contacts: folders, items, tombstones and the change sequence delta reads."""

    root: bytes
    folders: dict[bytes, ContactFolder] = field(default_factory=dict)
    contacts: dict[bytes, StoredContact] = field(default_factory=dict)
    tombstones: dict[bytes, tuple[bytes, int]] = field(default_factory=dict)
    """Deleted contact key -> (its folder, change sequence of the delete)."""
    regular: dict[bytes, bytes] = field(default_factory=dict)
    """Folder-dependent ("regular") id key -> contact key; a move drops the old entry."""
    seq: int = 0


def book(state: GraphState, mb: Mailbox) -> ContactBook:
    """The mailbox's contact book, created with its default folder on first use."""
    books: dict[str, ContactBook] = state.contact_books
    found = books.get(mb.user.id.lower())
    if found is None:
        root = state.new_key("contact-folder")
        found = books[mb.user.id.lower()] = ContactBook(root)
        found.folders[root] = ContactFolder(root, DEFAULT_FOLDER, None)
    return found


def _now(state: GraphState) -> datetime:
    return state.clock().astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _regular_key(key: bytes, folder: bytes) -> bytes:
    return hashlib.sha256(b"regular" + key + folder).digest()[:16]


def folder_id(key: bytes) -> str:
    return ids.encode(ids.ItemRef(key), immutable=True)


def contact_id(contact: StoredContact, *, immutable: bool) -> str:
    if immutable:
        return ids.encode(ids.ItemRef(contact.key), immutable=True)
    return ids.encode(ids.ItemRef(_regular_key(contact.key, contact.folder)), immutable=False)


# ---- folders ---------------------------------------------------------------------------------------


def find_folder(bk: ContactBook, raw_id: str) -> ContactFolder:
    # No well-known name such as "contacts": v1.0 documents none for contact folders
    # (api-reference/v1.0/resources/contactfolder.md), unlike mail folders.
    ref = ids.decode(raw_id)
    folder = bk.folders.get(ref.key) if ref else None
    if folder is None:
        raise not_found()
    return folder


def create_folder(
    state: GraphState, bk: ContactBook, body: Any, parent: bytes | None = None
) -> ContactFolder:
    if not isinstance(body, dict):
        raise bad_request("Cannot read the request body.", "RequestBodyRead")
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("The folder name must be specified.", "ErrorInvalidRequest")
    for key in body:
        if key not in ("displayName", "parentFolderId"):
            raise _unknown_property(key, "contactFolder")
    # POST /users/{id}/contactFolders creates "under the user's default contacts folder"
    # (api-reference/v1.0/api/user-post-contactfolders.md).
    parent_key = parent if parent is not None else bk.root
    for folder in bk.folders.values():
        if folder.parent == parent_key and folder.display_name.casefold() == name.strip().casefold():
            raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.")
    key = state.new_key("contact-folder")
    folder = bk.folders[key] = ContactFolder(key, name.strip(), parent_key)
    return folder


def delete_folder(bk: ContactBook, folder: ContactFolder) -> None:
    """DELETE /users/{id}/contactFolders/{id} (api-reference/v1.0/api/contactfolder-delete.md): the folder
    goes with its contacts and child folders; the default Contacts folder has no such request (its id is not
    a contactFolder the API lets one delete), refused here as Exchange refuses a distinguished folder."""
    if folder.key == bk.root:
        raise GraphError(400, "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
    for child in [f for f in bk.folders.values() if f.parent == folder.key]:
        delete_folder(bk, child)
    for contact in [c for c in bk.contacts.values() if c.folder == folder.key]:
        delete_contact(bk, contact)
    del bk.folders[folder.key]


def render_folder(bk: ContactBook, folder: ContactFolder) -> dict[str, Any]:
    parent = folder.parent or _root_parent(bk)
    return {
        "id": folder_id(folder.key),
        "displayName": folder.display_name,
        "parentFolderId": folder_id(parent),
    }


def _root_parent(bk: ContactBook) -> bytes:
    return hashlib.sha256(b"msgfolderroot" + bk.root).digest()[:16]


# ---- contacts --------------------------------------------------------------------------------------


def _unknown_property(name: str, type_name: str) -> GraphError:
    return bad_request(
        f"The property '{name[:100]}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to only "
        "use property names that are defined by the type or mark the type as open type.",
        "RequestBodyRead",
    )


def _bad_value(name: str) -> GraphError:
    return bad_request(f"Cannot convert the literal value of property '{name}'.", "RequestBodyRead")


def _validate(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("Cannot read the request body.", "RequestBodyRead")
    clean: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@odata."):
            continue
        if name in _READ_ONLY:
            continue  # Exchange ignores read-only properties in a body
        if name not in WRITABLE:
            raise _unknown_property(name, "contact")
        if name in _STRINGS:
            if value is not None and not isinstance(value, str):
                raise _bad_value(name)
        elif name in _STRING_LISTS:
            if value is None:
                value = []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _bad_value(name)
        elif name in _ADDRESSES:
            if value is None:
                value = {}
            if not isinstance(value, dict) or any(
                k not in _ADDRESS_PROPS or (v is not None and not isinstance(v, str))
                for k, v in value.items()
            ):
                raise _bad_value(name)
        elif name == "emailAddresses":
            if value is None:
                value = []
            if not isinstance(value, list) or not all(
                isinstance(v, dict)
                and set(v) <= {"address", "name"}
                and all(x is None or isinstance(x, str) for x in v.values())
                for v in value
            ):
                raise _bad_value(name)
            if len(value) > 3:
                raise bad_request("A contact has at most three e-mail addresses.", "ErrorInvalidProperty")
        elif name == "singleValueExtendedProperties":
            _check_extended(value)
        clean[name] = copy.deepcopy(value)
    return clean


def _check_extended(value: Any) -> None:
    # A null value removes the property, as for events and messages: Microsoft documents the rule on the beta
    # To Do page "Update singleValueExtendedProperties" ("To delete an extended property, set the value of the
    # single value extended property to null"); docs/microsoft.md says what the product relies on.
    ok = isinstance(value, list) and all(
        isinstance(v, dict) and isinstance(v.get("id"), str) and isinstance(v.get("value"), str | None)
        for v in value
    )
    if not ok:
        raise bad_request("'singleValueExtendedProperties' must be a collection.", "RequestBodyRead")


def _apply(contact: StoredContact, values: dict[str, Any]) -> None:
    for name, value in values.items():
        if name == "singleValueExtendedProperties":
            for prop in value:
                norm = ext_key(prop["id"])
                if prop["value"] is None:
                    contact.ext.pop(norm, None)
                    continue
                first = contact.ext.get(norm, (prop["id"], ""))[0]
                contact.ext[norm] = (first, prop["value"])
            continue
        contact.fields[name] = value


_NAME_PARTS = ("givenName", "middleName", "surname")


def _computed_display_name(fields: dict[str, Any]) -> str:
    parts = [fields.get(k) for k in _NAME_PARTS]
    return " ".join(p for p in parts if isinstance(p, str) and p.strip())


def _touch(bk: ContactBook, contact: StoredContact, state: GraphState) -> None:
    bk.seq += 1
    contact.seq = bk.seq
    contact.modified = _now(state)


def create_contact(state: GraphState, bk: ContactBook, folder: ContactFolder, body: Any) -> StoredContact:
    values = _validate(body)
    now = _now(state)
    contact = StoredContact(
        key=state.new_key("contact"), folder=folder.key, fields={}, created=now, modified=now
    )
    _apply(contact, values)
    if not contact.fields.get("displayName"):
        contact.fields["displayName"] = _computed_display_name(contact.fields)
    bk.contacts[contact.key] = contact
    bk.regular[_regular_key(contact.key, folder.key)] = contact.key
    _touch(bk, contact, state)
    return contact


def find_contact(bk: ContactBook, raw_id: str) -> StoredContact:
    ref = ids.decode(raw_id)
    if ref is None or ref.occurrence is not None:
        raise not_found()
    contact = bk.contacts.get(ref.key) or bk.contacts.get(bk.regular.get(ref.key, b""))
    if contact is None:
        raise not_found()
    return contact


def update_contact(state: GraphState, bk: ContactBook, contact: StoredContact, body: Any) -> StoredContact:
    values = _validate(body)
    _apply(contact, values)
    if "displayName" not in values and any(name in values for name in _NAME_PARTS):
        contact.fields["displayName"] = _computed_display_name(contact.fields)  # see the module docstring
    contact.version += 1
    _touch(bk, contact, state)
    return contact


def delete_contact(bk: ContactBook, contact: StoredContact) -> None:
    del bk.contacts[contact.key]
    bk.regular.pop(_regular_key(contact.key, contact.folder), None)
    bk.seq += 1
    bk.tombstones[contact.key] = (contact.folder, bk.seq)


def move_contact(state: GraphState, bk: ContactBook, contact: StoredContact, folder: ContactFolder) -> None:
    """A user drags the contact to another folder: the immutable id stays, the regular id changes."""
    bk.regular.pop(_regular_key(contact.key, contact.folder), None)
    bk.seq += 1
    bk.tombstones[contact.key] = (contact.folder, bk.seq)  # the old folder's delta reports it removed
    contact.folder = folder.key
    bk.regular[_regular_key(contact.key, folder.key)] = contact.key
    contact.version += 1
    _touch(bk, contact, state)


def change_key(contact: StoredContact) -> str:
    return ids.change_key(contact.key, contact.version)


def render(
    bk: ContactBook,
    contact: StoredContact,
    *,
    immutable: bool,
    ext_filter: Any = None,
    select: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    f = contact.fields
    key = change_key(contact)
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{key}"',
        "id": contact_id(contact, immutable=immutable),
        "createdDateTime": _stamp(contact.created),
        "lastModifiedDateTime": _stamp(contact.modified),
        "changeKey": key,
        "categories": list(f.get("categories", [])),
        "parentFolderId": folder_id(contact.folder),
        "birthday": f.get("birthday"),
        "fileAs": f.get("fileAs") or "",
    }
    for name in _STRINGS:
        if name not in out:
            out[name] = f.get(name)
    out["personalNotes"] = f.get("personalNotes") or ""
    for name in _STRING_LISTS:
        out[name] = list(f.get(name, []))
    out["emailAddresses"] = [dict(e) for e in f.get("emailAddresses", [])]
    for name in _ADDRESSES:
        out[name] = {k: v for k, v in f.get(name, {}).items() if v is not None}
    if ext_filter is not None:
        props = [{"id": first, "value": value} for first, value in contact.ext.values()]
        out["singleValueExtendedProperties"] = [p for p in props if ext_filter(p)]
    if select:
        keep = {"@odata.etag", "id", *select, "singleValueExtendedProperties"}
        out = {k: v for k, v in out.items() if k in keep}
    return out


def filter_view(bk: ContactBook, contact: StoredContact) -> dict[str, Any]:
    """JSON the $filter evaluator reads: every property plus every extended property."""
    return render(bk, contact, immutable=True, ext_filter=lambda _p: True)


# ---- seeding and "user edits in Outlook" (tests, sample data) --------------------------------------


def _mailbox(state: GraphState, mailbox: str) -> Mailbox:
    mb = state.find_mailbox(mailbox)
    if mb is None:
        raise KeyError("no such mailbox")
    return mb


def _folder_named(state: GraphState, bk: ContactBook, name: str | None, *, create: bool) -> ContactFolder:
    if name is None:
        return bk.folders[bk.root]
    for folder in bk.folders.values():
        if folder.display_name.casefold() == name.casefold():
            return folder
    if not create:
        raise KeyError("no such contact folder")
    return create_folder(state, bk, {"displayName": name})


def seed_folder(state: GraphState, mailbox: str, name: str) -> str:
    """A folder the user made in Outlook (found by name if it exists); returns its id."""
    with state.lock:
        bk = book(state, _mailbox(state, mailbox))
        return folder_id(_folder_named(state, bk, name, create=True).key)


def seed_contact(
    state: GraphState, mailbox: str, body: dict[str, Any], folder: str | None = None
) -> dict[str, Any]:
    """A contact the user created in Outlook (`folder` by name, created if missing; None: Contacts)."""
    with state.lock:
        bk = book(state, _mailbox(state, mailbox))
        created = create_contact(state, bk, _folder_named(state, bk, folder, create=True), body)
        return render(bk, created, immutable=True, ext_filter=lambda _p: True)


def list_contacts(state: GraphState, mailbox: str, folder: str | None = None) -> list[dict[str, Any]]:
    """Contacts of a folder (by name; None: the default folder), immutable ids, all extended properties."""
    with state.lock:
        bk = book(state, _mailbox(state, mailbox))
        try:
            target = _folder_named(state, bk, folder, create=False)
        except KeyError:
            return []
        rows = sorted(
            (c for c in bk.contacts.values() if c.folder == target.key), key=lambda c: (c.created, c.key)
        )
        return [render(bk, c, immutable=True, ext_filter=lambda _p: True) for c in rows]


def folder_names(state: GraphState, mailbox: str) -> list[str]:
    with state.lock:
        return sorted(f.display_name for f in book(state, _mailbox(state, mailbox)).folders.values())


def user_update_contact(
    state: GraphState, mailbox: str, contact: str, patch: dict[str, Any]
) -> dict[str, Any]:
    with state.lock:
        bk = book(state, _mailbox(state, mailbox))
        found = update_contact(state, bk, find_contact(bk, contact), patch)
        return render(bk, found, immutable=True, ext_filter=lambda _p: True)


def user_delete_contact(state: GraphState, mailbox: str, contact: str) -> None:
    with state.lock:
        bk = book(state, _mailbox(state, mailbox))
        delete_contact(bk, find_contact(bk, contact))


def user_move_contact(state: GraphState, mailbox: str, contact: str, folder: str | None) -> None:
    with state.lock:
        bk = book(state, _mailbox(state, mailbox))
        move_contact(state, bk, find_contact(bk, contact), _folder_named(state, bk, folder, create=True))
