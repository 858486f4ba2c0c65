"""Maps /v1.0 path segments to handlers (raises GraphError for anything Graph would refuse)."""

from __future__ import annotations

from simulators.graph import events_api, events_delta, todo_api, users_api
from simulators.graph.errors import GraphError, bad_request
from simulators.graph.http import GraphRequest, GraphResponse
from simulators.graph.model import Mailbox
from simulators.graph.state import GraphState

_MEMBERS = ("members", "transitiveMembers")
# "graph" is the alias of the microsoft.graph namespace in Graph's $metadata (<Schema Alias="graph">), and
# msgraph-sdk casts with it (`members/graph.user`).
_USER_CAST = ("microsoft.graph.user", "graph.user")


def mailbox_for(state: GraphState, segments: list[str]) -> Mailbox | None:
    if len(segments) >= 2 and segments[0].lower() == "users":
        return state.find_mailbox(segments[1])
    return None


def _method_not_allowed() -> GraphError:
    return GraphError(
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
    )


def _unknown_segment(segment: str) -> GraphError:
    return bad_request(f"Resource not found for the segment '{segment[:100]}'.")


def dispatch(state: GraphState, req: GraphRequest) -> GraphResponse:
    seg, method = req.segments, req.method
    if not seg:
        raise _unknown_segment("")
    head = seg[0].lower()
    if head == "groups" and len(seg) in (3, 4) and seg[2] in _MEMBERS:
        # The stand-in's groups hold users only, so the transitive members are the direct ones
        # (group-list-members.md, group-list-transitivemembers.md: both take the OData cast to users).
        if len(seg) == 4 and seg[3] not in _USER_CAST:
            raise _unknown_segment(seg[3])
        if method != "GET":
            raise _method_not_allowed()
        return users_api.group_members(state, req, seg[1], seg[2], cast=seg[3] if len(seg) == 4 else None)
    if head != "users" or len(seg) < 2:
        raise _unknown_segment(seg[0])
    if len(seg) == 2:
        if method != "GET":
            raise _method_not_allowed()
        return users_api.get_user(state, req, seg[1])
    mb = state.find_mailbox(seg[1])
    if mb is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{seg[1][:100]}' is invalid.")
    rest = seg[2:]
    if rest[0] == "calendar" and len(rest) > 1 and rest[1] in ("events", "calendarView"):
        rest = rest[1:]  # /calendar/events is the default calendar: the same items
    return _mailbox_route(state, req, mb, rest)


def _mailbox_route(state: GraphState, req: GraphRequest, mb: Mailbox, rest: list[str]) -> GraphResponse:
    method = req.method
    if rest[0] == "mailboxSettings" and len(rest) <= 2:
        if len(rest) == 2 and rest[1] != "timeZone":
            raise _unknown_segment(rest[1])
        if method != "GET":
            raise _method_not_allowed()
        return users_api.mailbox_settings(req, mb, only_time_zone=len(rest) == 2)
    if rest == ["outlook", "masterCategories"]:
        if method == "GET":
            return users_api.list_categories(req, mb)
        if method == "POST":
            return users_api.create_category(state, req, mb)
        raise _method_not_allowed()
    if rest[0] == "events":
        return _events_route(state, req, mb, rest)
    if rest == ["translateExchangeIds"]:
        from simulators.graph import exchange_ids

        if method != "POST":
            raise _method_not_allowed()
        return exchange_ids.translate(req, mb)
    if rest[0] in ("messages", "mailFolders"):
        from simulators.graph import messages_api

        return messages_api.route(state, req, mb, rest)
    if rest[0] == "todo":
        return todo_api.route(state, req, mb, rest)
    if rest[0] == "calendarView" and len(rest) <= 2:
        if len(rest) == 2 and rest[1] != "delta":
            raise _unknown_segment(rest[1])
        if method != "GET":
            raise _method_not_allowed()
        return events_delta.delta(state, req, mb) if len(rest) == 2 else events_api.calendar_view(req, mb)
    if rest[0] in ("contactFolders", "contacts"):
        from simulators.graph import contacts_api

        return contacts_api.route(state, req, mb, rest)
    raise _unknown_segment(rest[0])


def _events_route(state: GraphState, req: GraphRequest, mb: Mailbox, rest: list[str]) -> GraphResponse:
    method = req.method
    if len(rest) == 1:
        if method == "GET":
            return events_api.list_events(req, mb)
        if method == "POST":
            return events_api.create(state, req, mb)
        raise _method_not_allowed()
    if len(rest) == 2:
        if method == "GET":
            return events_api.get_one(req, mb, rest[1])
        if method == "PATCH":
            return events_api.update(state, req, mb, rest[1])
        if method == "DELETE":
            return events_api.delete(state, mb, rest[1])
        raise _method_not_allowed()
    if len(rest) == 3 and rest[2] == "instances":
        if method != "GET":
            raise _method_not_allowed()
        return events_api.instances(req, mb, rest[1])
    raise _unknown_segment(rest[-1])
