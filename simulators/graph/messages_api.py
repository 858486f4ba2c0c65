"""Mail endpoints: /messages (all folders), /mailFolders, folder messages, get/patch/delete, copy/move.

Lists take `$filter` (including `categories/any(c:c eq 'X')` and extended-property filters), `$select`,
`$expand=singleValueExtendedProperties(...)`, `$top` (default 10) and `$skip` nextLinks. Bodies come back
as HTML unless `Prefer: outlook.body-content-type="text"`; `Preference-Applied` says which.
"""

from __future__ import annotations

from typing import Any

from simulators.graph import messages_delta, odata, paging
from simulators.graph import messages_store as mail
from simulators.graph.errors import GraphError, bad_request
from simulators.graph.http import GraphRequest, GraphResponse, json_response
from simulators.graph.model import Mailbox
from simulators.graph.state import GraphState


def render_options(req: GraphRequest, *, allow_expand: bool = True) -> tuple[mail.Render, dict[str, str]]:
    applied = []
    if "outlook.body-content-type" in req.headers.get("prefer", "").lower():
        applied.append(f'outlook.body-content-type="{"text" if req.prefer.text_body else "html"}"')
    if req.prefer.immutable_ids:
        applied.append('IdType="ImmutableId"')
    select = ext_filter = None
    if "$select" in req.query:
        select = odata.parse_select(req.query["$select"], mail.MESSAGE_PROPS, "message")
    if "$expand" in req.query:
        if not allow_expand:
            raise bad_request(
                "The query parameter '$expand' is not supported with change tracking over messages."
            )
        ext_filter = odata.parse_expand(req.query["$expand"])
    opts = mail.Render(req.prefer.immutable_ids, req.prefer.text_body, select, ext_filter)
    return opts, ({"Preference-Applied": ", ".join(applied)} if applied else {})


def _method_not_allowed() -> GraphError:
    return GraphError(
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
    )


def _unknown(segment: str) -> GraphError:
    return bad_request(f"Resource not found for the segment '{segment[:100]}'.")


def _context(req: GraphRequest, mb: Mailbox, tail: str) -> str:
    return f"{req.base_url}/$metadata#users('{mb.user.id}')/{tail}"


def route(state: GraphState, req: GraphRequest, mb: Mailbox, rest: list[str]) -> GraphResponse:
    """`rest` starts with "messages" or "mailFolders"."""
    store = mail.store_for(state, mb)
    if rest[0] == "messages":
        return _messages(state, req, mb, store, rest[1:], None)
    if len(rest) == 1:
        if req.method != "GET":
            raise _method_not_allowed()
        top = [f for f in store.folders.values() if f.parent == store.root]
        return _folder_list(req, mb, store, top)
    folder = mail.find_folder(store, rest[1])
    tail = rest[2:]
    if not tail:
        if req.method != "GET":
            raise _method_not_allowed()
        body = {"@odata.context": _context(req, mb, "mailFolders/$entity")}
        body.update(mail.render_folder(store, folder, req.prefer.immutable_ids))
        return json_response(200, body)
    if tail[0] == "childFolders" and len(tail) == 1:
        if req.method == "GET":
            return _folder_list(req, mb, store, [f for f in store.folders.values() if f.parent == folder.key])
        if req.method == "POST":
            data = req.json()
            name = data.get("displayName") if isinstance(data, dict) else None
            if not isinstance(name, str):
                raise bad_request("The folder name is required.", "ErrorInvalidRequest")
            created = mail.add_folder(state, mb, mail.folder_id(folder), name)
            return json_response(201, mail.render_folder(store, created, req.prefer.immutable_ids))
        raise _method_not_allowed()
    if tail[0] == "messages":
        if tail[1:] == ["delta"]:
            if req.method != "GET":
                raise _method_not_allowed()
            return messages_delta.delta(state, req, mb, folder)
        return _messages(state, req, mb, store, tail[1:], folder)
    raise _unknown(tail[0])


def _folder_list(
    req: GraphRequest, mb: Mailbox, store: mail.MailStore, folders: list[mail.Folder]
) -> GraphResponse:
    value = [mail.render_folder(store, f, req.prefer.immutable_ids) for f in folders]
    return json_response(200, {"@odata.context": _context(req, mb, "mailFolders"), "value": value})


def _messages(
    state: GraphState,
    req: GraphRequest,
    mb: Mailbox,
    store: mail.MailStore,
    rest: list[str],
    folder: mail.Folder | None,
) -> GraphResponse:
    method = req.method
    if not rest:
        if method == "GET":
            rows = [m for m in store.messages.values() if folder is None or m.folder == folder.key]
            return _page(req, mb, store, rows)
        if method == "POST":
            target = mail.folder_id(folder) if folder else "drafts"
            data = req.json()
            if not isinstance(data, dict):
                raise bad_request("The request body must be a JSON object.", "RequestBodyRead")
            created = mail.add_message(state, mb, target, {**data, "isDraft": True})
            opts, applied = render_options(req)
            return json_response(201, _entity(req, mb, store, created, opts), applied)
        raise _method_not_allowed()
    message_id = rest[0]
    if len(rest) == 1:
        if method == "GET":
            opts, applied = render_options(req)
            return json_response(
                200, _entity(req, mb, store, mail.find_message(store, message_id), opts), applied
            )
        if method == "PATCH":
            updated = mail.patch_message(state, mb, message_id, req.json())
            opts, applied = render_options(req)
            return json_response(200, _entity(req, mb, store, updated, opts), applied)
        if method == "DELETE":
            mail.delete_message(state, mb, message_id)
            return GraphResponse(204)
        raise _method_not_allowed()
    if len(rest) == 2 and rest[1] in ("copy", "move"):
        if method != "POST":
            raise _method_not_allowed()
        data = req.json()
        destination = data.get("destinationId") if isinstance(data, dict) else None
        if not isinstance(destination, str) or not destination:
            raise bad_request("The destinationId is required.", "ErrorInvalidRequest")
        action = mail.copy_message if rest[1] == "copy" else mail.move_message
        result = action(state, mb, message_id, destination)
        opts, applied = render_options(req)
        return json_response(201, _entity(req, mb, store, result, opts), applied)
    raise _unknown(rest[-1])


def _entity(
    req: GraphRequest, mb: Mailbox, store: mail.MailStore, message: mail.Message, opts: mail.Render
) -> dict[str, Any]:
    return {
        "@odata.context": _context(req, mb, "messages/$entity"),
        **mail.render_message(store, message, opts),
    }


def _page(req: GraphRequest, mb: Mailbox, store: mail.MailStore, rows: list[mail.Message]) -> GraphResponse:
    opts, applied = render_options(req)
    if "$filter" in req.query:
        predicate = odata.parse_filter(req.query["$filter"])
        rows = [m for m in rows if predicate(mail.filter_view(store, m))]
    rows.sort(key=lambda m: (m.received, m.key), reverse=True)  # newest first, as Outlook lists them
    chosen, next_link = paging.page(req, rows)
    body: dict[str, Any] = {
        "@odata.context": _context(req, mb, "messages"),
        "value": [mail.render_message(store, m, opts) for m in chosen],
    }
    if next_link is not None:
        body["@odata.nextLink"] = next_link
    return json_response(200, body, applied)
