"""`POST /users/{id}/translateExchangeIds` and the five Exchange id formats of one item.

Documented in microsoft-graph-docs-contrib api-reference/v1.0/api/user-translateexchangeids.md
(https://learn.microsoft.com/graph/api/user-translateexchangeids) and resources/convertidresult.md:

- body `inputIds` (at most 1,000, all of one `sourceIdType`, all of the same mailbox), `sourceIdType`,
  `targetIdType`, each an `exchangeIdFormat`: entryId, ewsId, immutableEntryId, restId, restImmutableEntryId;
- the binary formats (entryId, immutableEntryId) go URL-safe base64: `+` -> `-`, `/` -> `_`, the `=` padding
  removed and its count (0, 1 or 2) appended;
- the answer is 200 with one convertIdResult per input id: `sourceId` and `targetId`, or `sourceId` and
  `errorDetails` (a genericError: code, message) when that id could not be converted. The page names no
  codes; the stand-in uses Exchange's `ErrorInvalidIdMalformed` for an id that is not of the source type
  and `ErrorItemNotFound` for a well-formed id of no item in this mailbox (deleted, or another mailbox's),
  since an immutable id cannot be made without the item.
- more than 1,000 ids, or a format name that is not an exchangeIdFormat: 400 (the request is refused
  whole, as for any parameter Graph cannot take).

How the stand-in derives the formats of one stored item (ids.py holds the key): restImmutableEntryId and
restId are the ids Graph hands out with and without `Prefer: IdType="ImmutableId"`; ewsId is the same item
key in a form of its own (EWS ids are not REST ids, and a client must not take one for the other);
entryId is a 70-byte MAPI message entry id (flags, the mailbox store's provider UID, type 0x0007, folder and
message database GUIDs with their counters) whose message GUID is the item key, as the AX 2012 Outlook
client saw it (it stored it as a hex string); immutableEntryId is a shorter binary id of store UID and key.
Occurrences of a series have REST ids only (MAPI gives occurrences no entry id of their own).
Only calendar events are resolved: the items this product translates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from simulators.graph import events, ids
from simulators.graph.errors import GraphError, bad_request
from simulators.graph.http import GraphRequest, GraphResponse, json_response
from simulators.graph.model import Mailbox

FORMATS = ("entryId", "ewsId", "immutableEntryId", "restId", "restImmutableEntryId")
MAX_IDS = 1000
_EWS_FORM = 3
_ENTRY_FLAGS = b"\x00\x00\x00\x00"
_MESSAGE_TYPE = b"\x07\x00"
_IMMUTABLE_TYPE = b"\x07\x01"
_PAD = b"\x00\x00"


def store_uid(mb: Mailbox) -> bytes:
    """The mailbox store's MAPI provider UID (one per mailbox)."""
    return hashlib.sha256(b"store|" + mb.user.id.encode()).digest()[:16]


def _calendar_guid(mb: Mailbox) -> bytes:
    return hashlib.sha256(b"calendar|" + mb.user.id.encode()).digest()[:16]


def urlsafe(binary: bytes) -> str:
    """The page's URL-safe base64 of a binary id: '-' and '_', no padding, the padding count appended."""
    text = base64.b64encode(binary).decode()
    stripped = text.rstrip("=")
    return stripped.replace("+", "-").replace("/", "_") + str(len(text) - len(stripped))


def _from_urlsafe(text: str) -> bytes | None:
    if len(text) < 2 or text[-1] not in "012":
        return None
    body = text[:-1].replace("-", "+").replace("_", "/") + "=" * int(text[-1])
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


def entry_id_binary(mb: Mailbox, key: bytes) -> bytes:
    counter = hashlib.sha256(b"counter|" + key).digest()[:6]
    folder = _calendar_guid(mb) + b"\x00\x00\x00\x00\x00\x09" + _PAD
    return _ENTRY_FLAGS + store_uid(mb) + _MESSAGE_TYPE + folder + key + counter + _PAD


def _key_of_entry_id(mb: Mailbox, binary: bytes) -> bytes | str | None:
    """The item key; "other" for a well-formed id of another store; None when malformed."""
    if len(binary) != 70 or binary[:4] != _ENTRY_FLAGS or binary[20:22] != _MESSAGE_TYPE:
        return None
    return binary[46:62] if binary[4:20] == store_uid(mb) else "other"


def _key_of_immutable(mb: Mailbox, binary: bytes) -> bytes | str | None:
    if len(binary) != 38 or binary[:4] != _ENTRY_FLAGS or binary[20:22] != _IMMUTABLE_TYPE:
        return None
    return binary[22:38] if binary[4:20] == store_uid(mb) else "other"


def ews_id(ref: ids.ItemRef) -> str:
    payload = b"\x47\x53" + bytes([_EWS_FORM]) + ref.key
    if ref.occurrence is not None:
        payload += ref.occurrence.toordinal().to_bytes(4, "big")
    return "AAMkA" + base64.b64encode(payload).decode()


def _ref_of_ews(text: str) -> ids.ItemRef | None:
    if not text.startswith("AAMkA") or len(text) > 200:
        return None
    try:
        payload = base64.b64decode(text[5:], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(payload) not in (19, 23) or payload[:3] != b"\x47\x53" + bytes([_EWS_FORM]):
        return None
    # The REST decoder reads the occurrence date the same way; reuse it on the REST form of this payload.
    return ids.decode("AAMkA" + base64.b64encode(b"\x47\x53\x01" + payload[3:]).decode())


def _ref_of_rest(text: str, *, immutable: bool) -> ids.ItemRef | None:
    ref = ids.decode(text)
    if ref is None or ids.encode(ref, immutable=immutable) != text:
        return None  # the other REST form (or not an id at all)
    return ref


def format_id(mb: Mailbox, ref: ids.ItemRef, target: str) -> str | None:
    """The item's id in `target`; None where the format has none (an occurrence's binary ids)."""
    if target == "restImmutableEntryId":
        return ids.encode(ref, immutable=True)
    if target == "restId":
        return ids.encode(ref, immutable=False)
    if target == "ewsId":
        return ews_id(ref)
    if ref.occurrence is not None:
        return None
    if target == "entryId":
        return urlsafe(entry_id_binary(mb, ref.key))
    return urlsafe(_ENTRY_FLAGS + store_uid(mb) + _IMMUTABLE_TYPE + ref.key)


def all_formats(mb: Mailbox, event_id: str) -> dict[str, str]:
    """Every id of one event (tests seed a predecessor's ids with it), plus `entryIdHex` as AX 2012 kept it."""
    ref = ids.decode(event_id)
    if ref is None:
        raise ValueError("not an event id")
    found = {name: value for name in FORMATS if (value := format_id(mb, ref, name)) is not None}
    if ref.occurrence is None:
        found["entryIdHex"] = entry_id_binary(mb, ref.key).hex().upper()
    return found


def _parse(mb: Mailbox, text: str, source: str) -> ids.ItemRef | str | None:
    """The item reference, "other" (well-formed, not this mailbox), or None (not of the source type)."""
    if source in ("entryId", "immutableEntryId"):
        binary = _from_urlsafe(text)
        if binary is None:
            return None
        key = _key_of_entry_id(mb, binary) if source == "entryId" else _key_of_immutable(mb, binary)
        return key if key is None or isinstance(key, str) else ids.ItemRef(key)
    if source == "ewsId":
        return _ref_of_ews(text)
    return _ref_of_rest(text, immutable=source == "restImmutableEntryId")


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def _convert(mb: Mailbox, text: str, source: str, target: str) -> dict[str, Any]:
    parsed = _parse(mb, text, source)
    if parsed is None:
        return {"sourceId": text, "errorDetails": _error("ErrorInvalidIdMalformed", "Id is malformed.")}
    if isinstance(parsed, str) or events.find(mb, parsed) is None:
        return {
            "sourceId": text,
            "errorDetails": _error("ErrorItemNotFound", "The specified object was not found in the store."),
        }
    converted = format_id(mb, parsed, target)
    if converted is None:
        return {
            "sourceId": text,
            "errorDetails": _error("ErrorInvalidIdMalformed", "The item has no id of the target type."),
        }
    return {"sourceId": text, "targetId": converted}


def translate(req: GraphRequest, mb: Mailbox) -> GraphResponse:
    body = req.json()
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    source, target, input_ids = body.get("sourceIdType"), body.get("targetIdType"), body.get("inputIds")
    for name, value in (("sourceIdType", source), ("targetIdType", target)):
        if value not in FORMATS:
            raise bad_request(f"Requested value '{str(value)[:40]}' was not found for parameter {name}.")
    if not isinstance(input_ids, list) or not all(isinstance(i, str) for i in input_ids):
        raise bad_request("The parameter 'inputIds' must be a collection of strings.")
    if len(input_ids) > MAX_IDS:
        raise GraphError(
            400, "ErrorInvalidArgument", f"The number of ids exceeds the maximum of {MAX_IDS} per request."
        )
    assert isinstance(source, str) and isinstance(target, str)
    results = [_convert(mb, text, source, target) for text in input_ids]
    context = f"{req.base_url}/$metadata#Collection(microsoft.graph.convertIdResult)"
    return json_response(200, {"@odata.context": context, "value": results})
