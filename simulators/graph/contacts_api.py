"""HTTP side of the contacts stand-in: /contactFolders, /contacts and contacts delta per folder (the only
delta Microsoft documents for contacts: `/users/{id}/contacts/delta` is refused, see contact-delta.md).

Delta (rounds, pages and tokens: `delta.py`) has the event delta's awkward parts: the first page of every
round is empty with a nextLink, pages overlap by one item, a later round reports new or changed contacts of
the folder in full and contacts deleted or moved out of it as `@removed`, and `expire_delta_tokens` makes
every older token answer 410 SyncStateNotFound. Contact delta takes `$select` but no `$filter`.
Lists page by `$top`/`$skip` (`paging.py`).
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any

from simulators.graph import contacts, odata, paging
from simulators.graph.contacts import ContactBook, ContactFolder, StoredContact
from simulators.graph.delta import Entry, Feed, Snapshot, changes, serve
from simulators.graph.errors import GraphError, bad_request, check_if_match
from simulators.graph.http import GraphRequest, GraphResponse, json_response
from simulators.graph.model import Mailbox
from simulators.graph.state import GraphState

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


def _list(req: GraphRequest, mb: Mailbox, bk: ContactBook, folder: ContactFolder) -> GraphResponse:
    rows = [c for c in bk.contacts.values() if c.folder == folder.key]
    rows.sort(key=lambda c: (c.created, c.key))
    if "$filter" in req.query:
        predicate = odata.parse_filter(req.query["$filter"])
        rows = [c for c in rows if predicate(contacts.filter_view(bk, c))]
    chosen, next_link = paging.page(req, rows)
    immutable, ext, select = req.prefer.immutable_ids, _expand(req), _select(req)
    body: dict[str, Any] = {
        "@odata.context": _context(req, mb, "contacts"),
        "value": [contacts.render(bk, c, immutable=immutable, ext_filter=ext, select=select) for c in chosen],
    }
    if next_link is not None:
        body["@odata.nextLink"] = next_link
    return json_response(200, body)


# ---- delta -----------------------------------------------------------------------------------------


def _delta(
    state: GraphState, req: GraphRequest, mb: Mailbox, bk: ContactBook, folder: ContactFolder
) -> GraphResponse:
    def options(req: GraphRequest, _last: dict[str, Any] | None) -> dict[str, Any]:
        return {"select": _select(req)}

    def entries(
        _opts: dict[str, Any], old: Snapshot | None
    ) -> tuple[list[Entry], dict[Hashable, Any], dict[str, Any]]:
        members = sorted(
            (c for c in bk.contacts.values() if c.folder == folder.key), key=lambda c: (c.created, c.key)
        )
        now: dict[Hashable, Any] = {c.key: c.version for c in members}
        found = changes(now, old)
        if old is not None:
            # Like the event delta: items created and deleted (or moved away) since the last round are
            # reported removed too, so a client that learnt of them otherwise (it created them) hears of it.
            since = int(old.memo["seq"])
            found += [
                (key, True)
                for key, (where, seq) in bk.tombstones.items()
                if where == folder.key and seq > since and key not in old.seen and key not in now
            ]
        return found, now, {"seq": bk.seq}

    def render(
        req: GraphRequest, chosen: list[Entry], opts: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        return [_item(bk, folder, key, removed, req, opts["select"]) for key, removed in chosen], {}

    feed = Feed(
        name="contacts",
        type_name="contact",
        forbidden=_DELTA_FORBIDDEN,
        scope={"folder": folder.key.hex()},
        options=options,
        entries=entries,
        render=render,
        first_page_empty=lambda state, _initial: state.empty_first_delta_page,
        overlap=True,
    )
    return serve(state, req, mb, feed)


def _item(
    bk: ContactBook,
    folder: ContactFolder,
    key: Hashable,
    removed: bool,
    req: GraphRequest,
    select: tuple[str, ...] | None,
) -> dict[str, Any]:
    assert isinstance(key, bytes)
    contact = None if removed else bk.contacts.get(key)
    if contact is None or contact.folder != folder.key:
        ghost = StoredContact(key=key, folder=folder.key, fields={}, created=_EPOCH, modified=_EPOCH)
        ident = contacts.contact_id(ghost, immutable=req.prefer.immutable_ids)
        return {"@odata.type": "#microsoft.graph.contact", "id": ident, "@removed": {"reason": "deleted"}}
    body = contacts.render(bk, contact, immutable=req.prefer.immutable_ids, select=select)
    return {"@odata.type": "#microsoft.graph.contact", **body}
