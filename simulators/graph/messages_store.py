"""Mail of the Graph stand-in: folders and messages of one mailbox, and how they render as Graph JSON.

Kept beside (not inside) the calendar model: `GraphState.mail_stores` holds one `MailStore` per mailbox,
made on first use with Outlook's well-known folders. Times are UTC; message DateTimeOffsets render as whole
seconds with `Z`, as the published message examples show.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulators.graph import bodies, ids
from simulators.graph.errors import GraphError, bad_request, not_found
from simulators.graph.events import ext_key
from simulators.graph.model import Mailbox
from simulators.graph.state import GraphState

WELL_KNOWN = (
    ("inbox", "Inbox"),
    ("sentitems", "Sent Items"),
    ("drafts", "Drafts"),
    ("deleteditems", "Deleted Items"),
    ("archive", "Archive"),
    ("junkemail", "Junk Email"),
)
MESSAGE_PROPS = {
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
    "sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance",
    "parentFolderId", "conversationId", "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead",
    "isDraft", "webLink", "inferenceClassification", "body", "sender", "from", "toRecipients", "ccRecipients",
    "bccRecipients", "replyTo", "flag",
}  # fmt: skip
_RECIPIENT_LISTS = ("toRecipients", "ccRecipients", "bccRecipients", "replyTo")
# What a PATCH may change on a received message (body and recipients only on drafts).
_PATCHABLE = {"categories", "subject", "importance", "isRead", "flag", "inferenceClassification"}
_DRAFT_ONLY = {"body", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "from", "sender"}
_READ_ONLY = MESSAGE_PROPS - _PATCHABLE - _DRAFT_ONLY


@dataclass
class Folder:
    key: bytes
    display_name: str
    parent: bytes | None
    well_known: str | None = None


@dataclass
class Message:
    key: bytes
    folder: bytes
    fields: dict[str, Any]
    received: datetime
    sent: datetime
    created: datetime
    modified: datetime
    ext: dict[str, tuple[str, str]] = field(default_factory=dict)
    version: int = 1
    seq: int = 0


@dataclass
class MailStore:
    root: bytes
    folders: dict[bytes, Folder] = field(default_factory=dict)
    messages: dict[bytes, Message] = field(default_factory=dict)
    seq: int = 0
    tombstones: dict[bytes, tuple[bytes, int]] = field(default_factory=dict)
    """Deleted message key -> (its folder, change sequence of the delete)."""
    patches: list[dict[str, Any]] = field(default_factory=list)
    """Every PATCH body received for a message (tests check that the product writes the least)."""


def store_for(state: GraphState, mb: Mailbox) -> MailStore:
    with state.lock:
        store = state.mail_stores.get(mb.user.id.lower())
        if store is None:
            root = state.new_key("mail-root")
            store = MailStore(root=root)
            for name, display in WELL_KNOWN:
                key = state.new_key(f"folder-{name}")
                store.folders[key] = Folder(key, display, root, name)
            state.mail_stores[mb.user.id.lower()] = store
        return store


def folder_id(folder: Folder, immutable: bool = True) -> str:
    return ids.encode(ids.ItemRef(folder.key), immutable=immutable)


def find_folder(store: MailStore, ref: str) -> Folder:
    """A folder by id or well-known name (case-insensitive), as Graph accepts both."""
    for folder in store.folders.values():
        if folder.well_known and folder.well_known == ref.lower():
            return folder
    decoded = ids.decode(ref)
    if decoded is not None and decoded.key in store.folders:
        return store.folders[decoded.key]
    raise not_found()


def find_message(store: MailStore, message_id: str) -> Message:
    decoded = ids.decode(message_id)
    message = store.messages.get(decoded.key) if decoded else None
    if message is None:
        raise not_found()
    return message


def _read_error(text: str) -> GraphError:
    return bad_request(text, "RequestBodyRead")


def _recipient(value: object, name: str) -> dict[str, Any]:
    email = value.get("emailAddress") if isinstance(value, dict) else None
    address = email.get("address") if isinstance(email, dict) else None
    if not isinstance(email, dict) or not isinstance(address, str):
        raise _read_error(f"'{name}' needs an emailAddress with an address.")
    label = email.get("name")
    return {
        "emailAddress": {"name": label if isinstance(label, str) and label else address, "address": address}
    }


def _categories(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise _read_error("'categories' must be a collection of strings.")
    return list(dict.fromkeys(value))


def _set_ext(message: Message, value: object) -> None:
    if not isinstance(value, list):
        raise _read_error("'singleValueExtendedProperties' must be a collection.")
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise _read_error("An extended property needs an id.")
        raw_id, raw_value = item["id"], item.get("value")
        if raw_value is not None and not isinstance(raw_value, str):
            raise _read_error("An extended property value must be a string.")
        key = ext_key(raw_id)
        if raw_value is None:
            message.ext.pop(key, None)
        else:
            message.ext[key] = (message.ext[key][0] if key in message.ext else raw_id, raw_value)


def _apply(message: Message, body: dict[str, Any], *, creating: bool) -> None:
    for name, value in body.items():
        if name.startswith("@") or "@odata." in name:
            continue
        if name == "singleValueExtendedProperties":
            _set_ext(message, value)
        elif name == "categories":
            message.fields["categories"] = _categories(value)
        elif name in ("subject", "internetMessageId", "conversationId") and (creating or name == "subject"):
            if value is not None and not isinstance(value, str):
                raise _read_error(f"'{name}' must be a string.")
            message.fields[name] = value or ""
        elif name == "body" and (creating or message.fields["isDraft"]):
            kind = str(value.get("contentType") or "text").lower() if isinstance(value, dict) else ""
            content = value.get("content") if isinstance(value, dict) else None
            if kind not in ("text", "html") or not isinstance(content, str):
                raise _read_error(
                    "Cannot convert the literal to the expected type 'microsoft.graph.itemBody'."
                )
            message.fields["body"] = {"contentType": kind, "content": content}
        elif name in ("sender", "from") and (creating or message.fields["isDraft"]):
            message.fields[name] = None if value is None else _recipient(value, name)
        elif name in _RECIPIENT_LISTS and (creating or message.fields["isDraft"]):
            if not isinstance(value, list):
                raise _read_error(f"'{name}' must be a collection.")
            message.fields[name] = [_recipient(v, name) for v in value]
        elif name in ("isRead", "isDraft", "isDeliveryReceiptRequested", "isReadReceiptRequested"):
            if not isinstance(value, bool):
                raise _read_error(f"'{name}' must be a boolean.")
            if name == "isRead" or creating:
                message.fields[name] = value
        elif name == "importance":
            if value not in ("low", "normal", "high"):
                raise _read_error(
                    "Cannot convert the literal to the expected type 'microsoft.graph.importance'."
                )
            message.fields[name] = value
        elif name == "inferenceClassification":
            if value not in ("focused", "other"):
                raise _read_error(
                    "Cannot convert the literal to the expected type 'inferenceClassificationType'."
                )
            message.fields[name] = value
        elif name == "flag":
            status = value.get("flagStatus") if isinstance(value, dict) else None
            if status not in ("notFlagged", "complete", "flagged"):
                raise _read_error(
                    "Cannot convert the literal to the expected type 'microsoft.graph.followupFlag'."
                )
            message.fields["flag"] = {"flagStatus": status}
        elif name in _READ_ONLY or name in _DRAFT_ONLY or name in ("receivedDateTime", "sentDateTime"):
            if not creating:
                continue  # read-only, or draft-only on a received message: ignored as Exchange does
        else:
            raise _read_error(
                f"The property '{name[:100]}' does not exist on type 'microsoft.graph.message'. Make sure to only "
                "use property names that are defined by the type or mark the type as open type."
            )


def _defaults() -> dict[str, Any]:
    return {
        "subject": "",
        "body": {"contentType": "html", "content": ""},
        "categories": [],
        "sender": None,
        "from": None,
        "toRecipients": [],
        "ccRecipients": [],
        "bccRecipients": [],
        "replyTo": [],
        "importance": "normal",
        "isRead": False,
        "isDraft": False,
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "inferenceClassification": "focused",
        "flag": {"flagStatus": "notFlagged"},
        "internetMessageId": "",
        "conversationId": "",
    }


def _time(value: object, fallback: datetime) -> datetime:
    if not isinstance(value, str):
        return fallback
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _read_error("Cannot convert the literal to the expected type 'Edm.DateTimeOffset'.") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)


def _touch(store: MailStore, message: Message) -> None:
    store.seq += 1
    message.seq = store.seq


def add_message(state: GraphState, mb: Mailbox, folder_ref: str, body: dict[str, Any]) -> Message:
    """Store a message as delivered (seeding): any field may be given, times default to the clock."""
    store = store_for(state, mb)
    folder = find_folder(store, folder_ref)
    now = state.clock().astimezone(UTC).replace(microsecond=0)
    key = state.new_key("message")
    message = Message(key, folder.key, _defaults(), now, now, now, now)
    _apply(message, body, creating=True)
    message.received = _time(body.get("receivedDateTime"), now)
    message.sent = _time(body.get("sentDateTime"), message.received)
    if not message.fields["internetMessageId"] and not message.fields["isDraft"]:
        digest = hashlib.sha256(key).hexdigest()[:20].upper()
        message.fields["internetMessageId"] = f"<{digest}@stand-in.prod.outlook.com>"
    if not message.fields["conversationId"]:
        message.fields["conversationId"] = "AAQkA" + hashlib.sha256(key).hexdigest()[:12]
    store.messages[key] = message
    _touch(store, message)
    return message


def patch_message(state: GraphState, mb: Mailbox, message_id: str, body: object) -> Message:
    store = store_for(state, mb)
    message = find_message(store, message_id)
    if not isinstance(body, dict):
        raise _read_error("The request body must be a JSON object.")
    trial = copy.deepcopy(message)
    _apply(trial, body, creating=False)
    message.__dict__.update(trial.__dict__)
    message.version += 1
    message.modified = state.clock().astimezone(UTC).replace(microsecond=0)
    _touch(store, message)
    store.patches.append(copy.deepcopy(body))
    return message


def copy_message(state: GraphState, mb: Mailbox, message_id: str, folder_ref: str) -> Message:
    """A copy in another folder: a new item with its own id, same internetMessageId and properties."""
    store = store_for(state, mb)
    source = find_message(store, message_id)
    folder = find_folder(store, folder_ref)
    key = state.new_key("message")
    now = state.clock().astimezone(UTC).replace(microsecond=0)
    clone = copy.deepcopy(source)
    clone.key, clone.folder, clone.created, clone.modified, clone.version = key, folder.key, now, now, 1
    store.messages[key] = clone
    _touch(store, clone)
    return clone


def move_message(state: GraphState, mb: Mailbox, message_id: str, folder_ref: str) -> Message:
    """Move keeps the immutable id (that is what immutable ids are for)."""
    store = store_for(state, mb)
    message = find_message(store, message_id)
    message.folder = find_folder(store, folder_ref).key
    message.version += 1
    _touch(store, message)
    return message


def delete_message(state: GraphState, mb: Mailbox, message_id: str) -> None:
    store = store_for(state, mb)
    message = find_message(store, message_id)
    del store.messages[message.key]
    store.seq += 1
    store.tombstones[message.key] = (message.folder, store.seq)


def add_folder(state: GraphState, mb: Mailbox, parent_ref: str | None, display_name: str) -> Folder:
    store = store_for(state, mb)
    parent = find_folder(store, parent_ref).key if parent_ref else store.root
    if not display_name.strip():
        raise bad_request("The folder name is required.", "ErrorInvalidRequest")
    for folder in store.folders.values():
        if folder.parent == parent and folder.display_name.lower() == display_name.lower():
            raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.")
    key = state.new_key("folder")
    store.folders[key] = Folder(key, display_name, parent)
    return store.folders[key]


# ---- rendering ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Render:
    immutable: bool = True
    text_body: bool = False
    select: tuple[str, ...] | None = None
    ext_filter: Callable[[dict[str, Any]], bool] | None = None


def change_key(message: Message) -> str:
    # Message change keys are long and start "CQAAABYAAA" in real Exchange.
    digest = hashlib.sha256(message.key + message.version.to_bytes(4, "big")).digest()[:12]
    return "CQAAABYAAA" + base64.b64encode(digest).decode()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_message(store: MailStore, message: Message, opts: Render) -> dict[str, Any]:
    fields = message.fields
    message_id = ids.encode(ids.ItemRef(message.key), immutable=opts.immutable)
    key = change_key(message)
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{key}"',
        "id": message_id,
        "createdDateTime": _stamp(message.created),
        "lastModifiedDateTime": _stamp(message.modified),
        "changeKey": key,
        "categories": list(fields["categories"]),
        "receivedDateTime": _stamp(message.received),
        "sentDateTime": _stamp(message.sent),
        "hasAttachments": False,
        "internetMessageId": fields["internetMessageId"] or None,
        "subject": fields["subject"],
        "bodyPreview": bodies.preview(fields["body"]),
        "importance": fields["importance"],
        "parentFolderId": ids.encode(ids.ItemRef(message.folder), immutable=opts.immutable),
        "conversationId": fields["conversationId"],
        "isDeliveryReceiptRequested": fields["isDeliveryReceiptRequested"],
        "isReadReceiptRequested": fields["isReadReceiptRequested"],
        "isRead": fields["isRead"],
        "isDraft": fields["isDraft"],
        "webLink": "https://outlook.office365.com/owa/?ItemID="
        + message_id.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
        + "&exvsurl=1&viewmodel=ReadMessageItem",
        "inferenceClassification": fields["inferenceClassification"],
        "body": bodies.render(fields["body"], want_text=opts.text_body),
        "sender": copy.deepcopy(fields["sender"]),
        "from": copy.deepcopy(fields["from"]),
        "toRecipients": copy.deepcopy(fields["toRecipients"]),
        "ccRecipients": copy.deepcopy(fields["ccRecipients"]),
        "bccRecipients": copy.deepcopy(fields["bccRecipients"]),
        "replyTo": copy.deepcopy(fields["replyTo"]),
        "flag": copy.deepcopy(fields["flag"]),
    }
    if opts.select is not None:
        keep = {"@odata.etag", "id", *opts.select}
        out = {k: v for k, v in out.items() if k in keep}
    if opts.ext_filter is not None:
        props = [{"id": raw, "value": value} for raw, value in message.ext.values()]
        out["singleValueExtendedProperties"] = [p for p in props if opts.ext_filter(p)]
    return out


def filter_view(store: MailStore, message: Message) -> dict[str, Any]:
    """What $filter reads: the full rendering plus every extended property."""
    return render_message(store, message, Render(ext_filter=lambda _p: True))


def render_folder(store: MailStore, folder: Folder, immutable: bool) -> dict[str, Any]:
    children = [f for f in store.folders.values() if f.parent == folder.key]
    inside = [m for m in store.messages.values() if m.folder == folder.key]
    return {
        "id": folder_id(folder, immutable),
        "displayName": folder.display_name,
        "parentFolderId": ids.encode(ids.ItemRef(folder.parent or store.root), immutable=immutable),
        "childFolderCount": len(children),
        "unreadItemCount": sum(1 for m in inside if not m.fields["isRead"]),
        "totalItemCount": len(inside),
        "isHidden": False,
    }
