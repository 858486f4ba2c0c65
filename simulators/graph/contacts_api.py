"""HTTP side of the contacts stand-in: /contactFolders, /contacts and contacts delta per folder (the only
delta Microsoft documents for contacts: `/users/{id}/contacts/delta` is refused, see contact-delta.md).

Delta follows the event delta's awkward parts (simulators/graph/delta.py): the first page of every round
is empty with a nextLink, pages overlap by one item, a later round reports new or changed contacts of the
folder in full and contacts deleted or moved out of it as `@removed`, and `expire_delta_tokens` makes
every older token answer 410 SyncStateNotFound. Contact delta takes `$select` but no `$filter`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simulators.graph import contacts, odata
from simulators.graph.contacts import ContactBook, ContactFolder, StoredContact
from simulators.graph.errors import GraphError, bad_request, check_if_match
from simulators.graph.http import GraphRequest, GraphResponse, encode_query, json_response
from simulators.graph.model import Mailbox
from simulators.graph.state import GraphState

_DEFAULT_TOP = 10
_DELTA_FORBIDDEN = ("$filter", "$orderby", "$search", "$expand", "$skip")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _not_allowed() -> GraphError:
    return GraphError(
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
    )


def _unknown(segment: str) -> GraphError:
    return bad_request(f"Resource not found for the segment '{segment[:100]}'.")


def route(state: GraphState, req: GraphRequest, mb: Mailbox, rest: list[str]) -> GraphResponse:
    bk = contacts.book(state, mb)
    if rest[0] == "contactFolders":
        if len(rest) == 1:
            if req.method == "GET":
                return _list_folders(req, bk)
            if req.method == "POST":
                folder = contacts.create_folder(state, bk, req.json())
                return json_response(201, _folder_body(req, mb, bk, folder))
            raise _not_allowed()
        folder = contacts.find_folder(bk, rest[1])
        if len(rest) == 2:
            if req.method == "GET":
                return json_response(200, _folder_body(req, mb, bk, folder))
            if req.method == "DELETE":
                contacts.delete_folder(bk, folder)
                return GraphResponse(204)
            raise _not_allowed()
        if rest[2] == "childFolders" and len(rest) == 3:
            if req.method != "POST":
                raise _not_allowed()
            child = contacts.create_folder(state, bk, req.json(), parent=folder.key)
            return json_response(201, _folder_body(req, mb, bk, child))
        if rest[2] != "contacts":
            raise _unknown(rest[2])
        return _contacts(state, req, mb, bk, folder, rest[3:])
    if rest[1:] == ["delta"]:
        # contact-delta.md documents delta per folder only (/users/{id}/contactFolders/{id}/contacts/delta).
        raise _unknown("delta")
    return _contacts(state, req, mb, bk, bk.folders[bk.root], rest[1:])


def _context(req: GraphRequest, mb: Mailbox, tail: str) -> str:
    return f"{req.base_url}/$metadata#users('{mb.user.id}')/{tail}"


def _folder_body(req: GraphRequest, mb: Mailbox, bk: ContactBook, folder: ContactFolder) -> dict[str, Any]:
    return {
        "@odata.context": _context(req, mb, "contactFolders/$entity"),
        **contacts.render_folder(bk, folder),
    }


def _list_folders(req: GraphRequest, bk: ContactBook) -> GraphResponse:
    # "the contact folder collection in the default Contacts folder" (user-list-contactfolders.md): its
    # children, each naming it in parentFolderId. (The page's example lists a folder "Contacts" whose
    # parent looks like the mailbox root; the stand-in follows the text.)
    rows = [contacts.render_folder(bk, f) for f in bk.folders.values() if f.parent == bk.root]
    if "$filter" in req.query:
        predicate = odata.parse_filter(req.query["$filter"])
        rows = [row for row in rows if predicate(row)]
    return json_response(200, {"value": rows})


def _contacts(
    state: GraphState, req: GraphRequest, mb: Mailbox, bk: ContactBook, folder: ContactFolder, rest: list[str]
) -> GraphResponse:
    immutable = req.prefer.immutable_ids
    if not rest:
        if req.method == "GET":
            return _list(req, mb, bk, folder)
        if req.method == "POST":
            created = contacts.create_contact(state, bk, folder, req.json())
            body = contacts.render(bk, created, immutable=immutable, ext_filter=_expand(req))
            return json_response(201, {"@odata.context": _context(req, mb, "contacts/$entity"), **body})
        raise _not_allowed()
    if rest == ["delta"]:
        if req.method != "GET":
            raise _not_allowed()
        return _delta(state, req, mb, bk, folder)
    if len(rest) != 1:
        raise _unknown(rest[-1])
    contact = contacts.find_contact(bk, rest[0])
    if req.method == "GET":
        body = contacts.render(bk, contact, immutable=immutable, ext_filter=_expand(req), select=_select(req))
        return json_response(200, {"@odata.context": _context(req, mb, "contacts/$entity"), **body})
    if req.method == "PATCH":
        check_if_match(req.headers, f'W/"{contacts.change_key(contact)}"')
        contacts.update_contact(state, bk, contact, req.json())
        body = contacts.render(bk, contact, immutable=immutable, ext_filter=_expand(req))
        return json_response(200, {"@odata.context": _context(req, mb, "contacts/$entity"), **body})
    if req.method == "DELETE":
        contacts.delete_contact(bk, contact)
        return GraphResponse(204)
    raise _not_allowed()


def _expand(req: GraphRequest) -> Any:
    return odata.parse_expand(req.query["$expand"]) if "$expand" in req.query else None


def _select(req: GraphRequest) -> tuple[str, ...] | None:
    if "$select" not in req.query:
        return None
    return odata.parse_select(req.query["$select"], contacts.CONTACT_PROPS, "contact")


def _number(req: GraphRequest, name: str, default: int) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or (name == "$top" and not 1 <= int(raw) <= 1000):
        raise bad_request(f"Invalid value '{raw[:20]}' for query option {name}.", "ErrorInvalidUrlQuery")
    return int(raw)


def _list(req: GraphRequest, mb: Mailbox, bk: ContactBook, folder: ContactFolder) -> GraphResponse:
    rows = [c for c in bk.contacts.values() if c.folder == folder.key]
    rows.sort(key=lambda c: (c.created, c.key))
    if "$filter" in req.query:
        predicate = odata.parse_filter(req.query["$filter"])
        rows = [c for c in rows if predicate(contacts.filter_view(bk, c))]
    top, skip = _number(req, "$top", _DEFAULT_TOP), _number(req, "$skip", 0)
    page = rows[skip : skip + top]
    immutable, ext, select = req.prefer.immutable_ids, _expand(req), _select(req)
    body: dict[str, Any] = {
        "@odata.context": _context(req, mb, "contacts"),
        "value": [contacts.render(bk, c, immutable=immutable, ext_filter=ext, select=select) for c in page],
    }
    if skip + top < len(rows):
        kept = {k: v for k, v in req.query.items() if k not in ("$top", "$skip")}
        body["@odata.nextLink"] = req.link(
            *req.segments, query=encode_query({**kept, "$top": str(top), "$skip": str(skip + top)})
        )
    return json_response(200, body)


# ---- delta -----------------------------------------------------------------------------------------


@dataclass
class _Snapshot:
    mailbox_id: str
    folder: bytes
    seen: dict[bytes, int]
    """Contact key -> version the client was given."""
    seq: int
    """The mailbox's change sequence when the snapshot was taken."""


@dataclass
class _Round:
    mailbox_id: str
    folder: bytes
    entries: list[tuple[bytes, bool]]
    """(contact key, removed?) in paging order."""
    next_snapshot: str
    select: tuple[str, ...] | None


def _token(kind: str, ref: str, mb: Mailbox, folder: bytes, offset: int = 0) -> str:
    data = {"k": kind, "r": ref, "g": mb.sync_generation, "o": offset, "f": folder.hex()}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _read_token(raw: str, mb: Mailbox, kind: str, folder: bytes) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("o"), int):
            raise ValueError("wrong token kind")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise bad_request("The delta or skip token is not valid.", "ErrorInvalidUrlQuery") from exc
    if data.get("g") != mb.sync_generation or data.get("f") != folder.hex():
        raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")
    return data


def _delta(
    state: GraphState, req: GraphRequest, mb: Mailbox, bk: ContactBook, folder: ContactFolder
) -> GraphResponse:
    for name in _DELTA_FORBIDDEN:
        if name in req.query:
            raise bad_request(
                f"The query parameter '{name}' is not supported with change tracking over contacts."
            )
    if "$skiptoken" in req.query:
        return _page(state, req, mb, bk, _read_token(req.query["$skiptoken"], mb, "cskip", folder.key))
    old: _Snapshot | None = None
    if "$deltatoken" in req.query:
        data = _read_token(req.query["$deltatoken"], mb, "cdelta", folder.key)
        found = state.delta_snapshots.get(data["r"])
        if not isinstance(found, _Snapshot) or found.mailbox_id != mb.user.id:
            raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")
        old = found
    members = sorted(
        (c for c in bk.contacts.values() if c.folder == folder.key), key=lambda c: (c.created, c.key)
    )
    seen = {c.key: c.version for c in members}
    if old is None:
        entries = [(c.key, False) for c in members]
    else:
        entries = [(c.key, False) for c in members if old.seen.get(c.key) != c.version]
        entries += [(key, True) for key in old.seen if key not in seen]
        # Like the event delta: items created and deleted (or moved away) since the last round are reported
        # removed too, so a client that learnt of them otherwise (it created them) hears of the deletion.
        entries += [
            (key, True)
            for key, (where, seq) in bk.tombstones.items()
            if where == folder.key and seq > old.seq and key not in old.seen and key not in seen
        ]
    snapshot_id = uuid.uuid4().hex
    state.delta_snapshots[snapshot_id] = _Snapshot(mb.user.id, folder.key, seen, bk.seq)
    round_id = uuid.uuid4().hex
    state.delta_rounds[round_id] = _Round(mb.user.id, folder.key, entries, snapshot_id, _select(req))
    if not state.empty_first_delta_page:
        return _page(state, req, mb, bk, {"r": round_id, "o": 0})
    link = req.link(*req.segments, query="$skiptoken=" + _token("cskip", round_id, mb, folder.key))
    return json_response(200, _body(req, mb, [], link, "nextLink"))


def _page(
    state: GraphState, req: GraphRequest, mb: Mailbox, bk: ContactBook, data: dict[str, Any]
) -> GraphResponse:
    rnd = state.delta_rounds.get(data["r"])
    if not isinstance(rnd, _Round) or rnd.mailbox_id != mb.user.id:
        raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")
    size = req.prefer.max_page_size or state.page_size
    offset = int(data["o"])
    repeat = offset > 0 and size >= 2  # pages overlap by one item: clients must tolerate repeats
    take = size - 1 if repeat else size
    chosen = rnd.entries[offset - 1 if repeat else offset : offset + take]
    value = [_item(bk, key, removed, req, rnd) for key, removed in chosen]
    if offset + take < len(rnd.entries):
        token = _token("cskip", data["r"], mb, rnd.folder, offset + take)
        return json_response(
            200, _body(req, mb, value, req.link(*req.segments, query="$skiptoken=" + token), "nextLink")
        )
    token = _token("cdelta", rnd.next_snapshot, mb, rnd.folder)
    return json_response(
        200, _body(req, mb, value, req.link(*req.segments, query="$deltatoken=" + token), "deltaLink")
    )


def _item(bk: ContactBook, key: bytes, removed: bool, req: GraphRequest, rnd: _Round) -> dict[str, Any]:
    contact = None if removed else bk.contacts.get(key)
    if contact is None or contact.folder != rnd.folder:
        ghost = StoredContact(key=key, folder=rnd.folder, fields={}, created=_EPOCH, modified=_EPOCH)
        ident = contacts.contact_id(ghost, immutable=req.prefer.immutable_ids)
        return {"@odata.type": "#microsoft.graph.contact", "id": ident, "@removed": {"reason": "deleted"}}
    body = contacts.render(bk, contact, immutable=req.prefer.immutable_ids, select=rnd.select)
    return {"@odata.type": "#microsoft.graph.contact", **body}


def _body(
    req: GraphRequest, mb: Mailbox, value: list[dict[str, Any]], link: str, kind: str
) -> dict[str, Any]:
    return {
        "@odata.context": f"{req.base_url}/$metadata#Collection(contact)",
        f"@odata.{kind}": link,
        "value": value,
    }
