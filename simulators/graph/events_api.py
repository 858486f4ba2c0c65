"""Event endpoints: create, list ($filter/$select/$top), get/patch/delete, instances, calendarView."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulators.graph import calendar, events, ids, odata, paging
from simulators.graph.errors import GraphError, bad_request, check_if_match, not_found
from simulators.graph.http import GraphRequest, GraphResponse, json_response
from simulators.graph.model import Instance, Mailbox
from simulators.graph.state import GraphState
from simulators.graph.timezones import parse_offset, resolve_zone

EVENT_PROPS = {
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "transactionId",
    "originalStartTimeZone", "originalEndTimeZone", "iCalUId", "reminderMinutesBeforeStart", "isReminderOn",
    "hasAttachments", "subject", "bodyPreview", "importance", "sensitivity", "isAllDay", "isCancelled",
    "isOrganizer", "responseRequested", "seriesMasterId", "showAs", "type", "webLink", "onlineMeetingUrl",
    "isOnlineMeeting", "onlineMeetingProvider", "allowNewTimeProposals", "isDraft", "hideAttendees",
    "responseStatus", "body", "start", "end", "location", "locations", "recurrence", "attendees", "organizer",
    "onlineMeeting", "originalStart",
}  # fmt: skip


def render_options(
    req: GraphRequest, *, allow_query: bool = True
) -> tuple[events.RenderOptions, dict[str, str]]:
    """Options from Prefer/$select/$expand, and the Preference-Applied header to answer with."""
    applied: list[str] = []
    zone_name, zone = "UTC", resolve_zone("UTC")
    wanted = req.prefer.timezone
    if wanted is not None and (found := resolve_zone(wanted)) is not None:
        zone_name, zone = wanted, found
        applied.append(f'outlook.timezone="{wanted}"')
    if req.prefer.text_body:
        applied.append('outlook.body-content-type="text"')
    if req.prefer.immutable_ids:
        applied.append('IdType="ImmutableId"')
    select = ext_filter = None
    if allow_query:
        if "$select" in req.query:
            select = odata.parse_select(req.query["$select"], EVENT_PROPS, "event")
        if "$expand" in req.query:
            ext_filter = odata.parse_expand(req.query["$expand"])
    assert zone is not None
    opts = events.RenderOptions(
        zone, zone_name, req.prefer.immutable_ids, req.prefer.text_body, ext_filter, select
    )
    return opts, ({"Preference-Applied": ", ".join(applied)} if applied else {})


def _context(req: GraphRequest, mb: Mailbox, tail: str, opts: events.RenderOptions) -> str:
    selected = f"({','.join(opts.select)})" if opts.select else ""
    return f"{req.base_url}/$metadata#users('{mb.user.id}')/{tail}{selected}"


def create(state: GraphState, req: GraphRequest, mb: Mailbox) -> GraphResponse:
    opts, applied = render_options(req)
    inst, _created = calendar.create_event(state, mb, req.json())
    body = {"@odata.context": _context(req, mb, "events", opts) + "/$entity", **events.render(mb, inst, opts)}
    return json_response(201, body, applied)


def get_one(req: GraphRequest, mb: Mailbox, event_id: str) -> GraphResponse:
    opts, applied = render_options(req)

    ref = ids.decode(event_id)
    inst = events.find(mb, ref) if ref else None
    if inst is None:
        raise not_found()
    body = {"@odata.context": _context(req, mb, "events", opts) + "/$entity", **events.render(mb, inst, opts)}
    # A single-event GET also carries navigation metadata for the event's calendar.
    calendar_url = f"{req.base_url}/users('{mb.user.id}')/calendars('{_calendar_id(mb)}')"
    body["calendar@odata.associationLink"] = calendar_url + "/$ref"
    body["calendar@odata.navigationLink"] = calendar_url
    return json_response(200, body, applied)


def _calendar_id(mb: Mailbox) -> str:
    return "AAMkAGCal" + mb.user.id.replace("-", "")[:16] + "AAA="


def update(state: GraphState, req: GraphRequest, mb: Mailbox, event_id: str) -> GraphResponse:
    opts, applied = render_options(req)
    ref = ids.decode(event_id)
    current = events.find(mb, ref) if ref else None
    if current is not None:
        check_if_match(req.headers, f'W/"{events.instance_change_key(current)}"')
    inst = calendar.update_event(state, mb, event_id, req.json())
    body = {"@odata.context": _context(req, mb, "events", opts) + "/$entity", **events.render(mb, inst, opts)}
    return json_response(200, body, applied)


def delete(state: GraphState, mb: Mailbox, event_id: str) -> GraphResponse:
    calendar.delete_event(state, mb, event_id)
    return GraphResponse(204)


def _filtered(req: GraphRequest, mb: Mailbox, rows: list[Instance]) -> list[Instance]:
    if "$filter" not in req.query:
        return rows
    predicate = odata.parse_filter(req.query["$filter"])
    return [row for row in rows if predicate(events.filter_view(mb, row))]


def _page(
    req: GraphRequest, mb: Mailbox, rows: list[Instance], segments: list[str], tail: str
) -> GraphResponse:
    opts, applied = render_options(req)
    chosen, next_link = paging.page(req, rows, segments)
    body: dict[str, Any] = {
        "@odata.context": _context(req, mb, tail, opts),
        "value": [events.render(mb, row, opts) for row in chosen],
    }
    if next_link is not None:
        body["@odata.nextLink"] = next_link
    return json_response(200, body, applied)


def list_events(req: GraphRequest, mb: Mailbox) -> GraphResponse:
    rows = [calendar.whole(ev) for ev in mb.events.values()]
    return _page(req, mb, _filtered(req, mb, rows), req.segments, "events")


def window(req: GraphRequest) -> tuple[datetime, datetime]:
    start, end = req.query.get("startdatetime"), req.query.get("enddatetime")
    if not start or not end:
        raise bad_request(
            "This request requires a time window specified by the query string parameters StartDateTime and "
            "EndDateTime.",
            "ErrorInvalidParameter",
        )
    try:
        return parse_offset(start), parse_offset(end)
    except ValueError as exc:
        raise bad_request(
            "The StartDateTime or EndDateTime value is invalid.", "ErrorInvalidParameter"
        ) from exc


def calendar_view(req: GraphRequest, mb: Mailbox) -> GraphResponse:
    start, end = window(req)
    rows = [row for ev in mb.events.values() for row in events.instances_in(ev, start, end)]
    rows.sort(key=lambda row: row.start)
    return _page(req, mb, _filtered(req, mb, rows), req.segments, "calendarView")


def instances(req: GraphRequest, mb: Mailbox, event_id: str) -> GraphResponse:

    start, end = window(req)
    ref = ids.decode(event_id)
    master = mb.events.get(ref.key) if ref and ref.occurrence is None else None
    if master is None:
        raise not_found()
    if master.recurrence is None:
        raise GraphError(400, "ErrorInvalidRequest", "The event is not a recurring series master.")
    rows = events.instances_in(master, start, end)
    return _page(req, mb, rows, req.segments, f"events('{event_id}')/instances")
