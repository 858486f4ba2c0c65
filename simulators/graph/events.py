"""Event rules: validate POST/PATCH bodies, expand series into instances, render Graph JSON."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from simulators.graph import bodies, ids, recurrence
from simulators.graph.errors import GraphError, bad_request
from simulators.graph.model import Instance, Mailbox, StoredEvent
from simulators.graph.timezones import format_local, format_offset, parse_local, resolve_zone

_ENUMS: dict[str, tuple[str, ...]] = {
    "importance": ("low", "normal", "high"),
    "sensitivity": ("normal", "personal", "private", "confidential"),
    "showAs": ("unknown", "free", "tentative", "busy", "oof", "workingElsewhere"),
    "onlineMeetingProvider": ("unknown", "skypeForBusiness", "skypeForConsumer", "teamsForBusiness"),
}
_BOOLS = ("isReminderOn", "allowNewTimeProposals", "responseRequested", "hideAttendees", "isOnlineMeeting")
_READ_ONLY = {
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "iCalUId", "bodyPreview", "isCancelled",
    "isOrganizer", "isDraft", "hasAttachments", "organizer", "originalStartTimeZone", "originalEndTimeZone",
    "responseStatus", "seriesMasterId", "type", "webLink", "onlineMeetingUrl", "onlineMeeting",
    "cancelledOccurrences", "originalStart",
}  # fmt: skip
_WRITABLE = {
    "subject", "body", "start", "end", "isAllDay", "location", "locations", "attendees", "categories",
    "transactionId", "recurrence", "reminderMinutesBeforeStart", "singleValueExtendedProperties",
    *_ENUMS, *_BOOLS,
}  # fmt: skip
# Changes to these make Exchange send meeting updates to attendees.
MEETING_PROPS = ("subject", "body", "location", "start", "end", "isAllDay", "attendees", "recurrence")
_EXT_ID = re.compile(r"^\s*(\w+)\s+\{([0-9A-Fa-f-]{36})\}\s+(Name|Id)\s+(.+?)\s*$")
_NO_RESPONSE = "0001-01-01T00:00:00Z"


def ext_key(raw: str) -> str:
    """Extended-property id -> comparison key; Exchange matches type, GUID and name case-insensitively."""
    match = _EXT_ID.match(raw)
    if not match:
        return " ".join(raw.lower().split())
    kind, guid, how, name = match.groups()
    return f"{kind.lower()} {{{guid.lower()}}} {how.lower()} {name.lower()}"


def _read_error(message: str) -> GraphError:
    return bad_request(message, "RequestBodyRead")


def _validation_error(message: str) -> GraphError:
    return bad_request(message, "ErrorPropertyValidationFailure")


def _zone_of(value: dict[str, Any]) -> tuple[str, tzinfo]:
    name = value.get("timeZone") or "UTC"
    zone = resolve_zone(str(name))
    if zone is None:
        raise bad_request(
            "A valid TimeZone value must be specified. The following TimeZone value is not supported: "
            f"'{str(name)[:100]}'.",
            "TimeZoneNotSupportedException",
        )
    return str(name), zone


def _times(body: dict[str, Any], ev: StoredEvent | None) -> tuple[datetime, datetime, str, str]:
    out: list[Any] = []
    for which in ("start", "end"):
        value = body.get(which)
        if value is None:
            if ev is None:
                raise _validation_error(f"The event {which} time is required.")
            out.append((getattr(ev, which), ev.start_zone if which == "start" else ev.end_zone))
            continue
        if not isinstance(value, dict):
            raise _read_error(f"'{which}' must be a dateTimeTimeZone object.")
        name, zone = _zone_of(value)
        try:
            out.append((parse_local(value.get("dateTime"), zone), name))
        except ValueError as exc:
            raise _read_error(
                f"Cannot convert the literal to the expected type 'Edm.DateTime' ({which})."
            ) from exc
    (start, start_zone), (end, end_zone) = out
    return start, end, start_zone, end_zone


def _check_all_day(start: datetime, end: datetime, zone_name: str) -> None:
    zone = resolve_zone(zone_name) or UTC
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    midnight = all(t.time() == datetime.min.time() for t in (local_start, local_end))
    if not midnight or local_end.date() <= local_start.date():
        raise _validation_error(
            "Your request can't be completed. If the event is an all-day event, the start and end times must be "
            "on midnight and the end must be at least one day after the start."
        )


def _attendees(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _read_error("'attendees' must be a collection.")
    result = []
    for item in value:
        email = item.get("emailAddress") if isinstance(item, dict) else None
        address = email.get("address") if isinstance(email, dict) else None
        if not isinstance(email, dict) or not isinstance(address, str) or "@" not in address:
            raise bad_request("An attendee has no valid email address.", "ErrorInvalidRecipients")
        kind = str(item.get("type") or "required").lower()
        if kind not in ("required", "optional", "resource"):
            raise _read_error(
                "Cannot convert the literal to the expected type 'microsoft.graph.attendeeType'."
            )
        name = email.get("name")
        result.append(
            {
                "type": kind,
                "status": {"response": "none", "time": _NO_RESPONSE},
                "emailAddress": {
                    "name": name if isinstance(name, str) and name else address,
                    "address": address,
                },
            }
        )
    return result


def _location(value: object) -> dict[str, Any]:
    if value is None:
        return {
            "displayName": "",
            "locationType": "default",
            "uniqueIdType": "unknown",
            "address": {},
            "coordinates": {},
        }
    if not isinstance(value, dict):
        raise _read_error("'location' must be a location object.")
    name = value.get("displayName") or ""
    if not isinstance(name, str):
        raise _read_error("location.displayName must be a string.")
    if not name:
        return _location(None)
    return {
        "displayName": name,
        "locationType": "default",
        "uniqueId": name,
        "uniqueIdType": "private",
        "address": {},
        "coordinates": {},
    }


def _simple_fields(body: dict[str, Any], fields: dict[str, Any]) -> None:
    for name, value in body.items():
        if name.startswith("@") or "@odata." in name or name in _READ_ONLY:
            continue  # annotations and read-only properties are ignored, as Graph does for most of them
        if name not in _WRITABLE:
            raise _read_error(
                f"The property '{name[:100]}' does not exist on type 'microsoft.graph.event'. Make sure to only "
                "use property names that are defined by the type or mark the type as open type."
            )
        if name == "subject":
            if value is not None and not isinstance(value, str):
                raise _read_error("'subject' must be a string.")
            fields["subject"] = value or ""
        elif name == "body":
            fields["body"] = _body(value)
        elif name == "location":
            fields["location"] = _location(value)
        elif name == "attendees":
            fields["attendees"] = _attendees(value)
        elif name == "categories":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise _read_error("'categories' must be a collection of strings.")
            fields["categories"] = list(dict.fromkeys(value))
        elif name in _ENUMS:
            matches = [m for m in _ENUMS[name] if isinstance(value, str) and m.lower() == value.lower()]
            if not matches:
                raise _read_error(
                    f"Cannot convert the literal to the expected type 'microsoft.graph.{name}'."
                )
            fields[name] = matches[0]
        elif name in _BOOLS:
            if not isinstance(value, bool):
                raise _read_error(f"'{name}' must be a boolean.")
            fields[name] = value
        elif name == "reminderMinutesBeforeStart":
            if not isinstance(value, int) or isinstance(value, bool):
                raise _read_error("'reminderMinutesBeforeStart' must be an integer.")
            fields[name] = value
        elif name == "transactionId":
            if value is not None and not isinstance(value, str):
                raise _read_error("'transactionId' must be a string.")
            fields[name] = value


def _body(value: object) -> dict[str, Any]:
    if value is None:
        return {"contentType": "html", "content": ""}
    if not isinstance(value, dict):
        raise _read_error("'body' must be an itemBody object.")
    kind = str(value.get("contentType") or "text").lower()
    content = value.get("content") or ""
    if kind not in ("text", "html") or not isinstance(content, str):
        raise _read_error("Cannot convert the literal to the expected type 'microsoft.graph.bodyType'.")
    return {"contentType": kind, "content": content}


def _ext_props(value: object, ev: StoredEvent) -> None:
    if not isinstance(value, list):
        raise _read_error("'singleValueExtendedProperties' must be a collection.")
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise _read_error("An extended property needs an id.")
        raw_id, raw_value = item["id"], item.get("value")
        if len(raw_id) > 300 or (raw_value is not None and not isinstance(raw_value, str)):
            raise _read_error("An extended property id or value is invalid.")
        key = ext_key(raw_id)
        if raw_value is None:
            ev.ext.pop(key, None)
            continue
        ev.ext[key] = (ev.ext[key][0] if key in ev.ext else raw_id, raw_value)


def _defaults() -> dict[str, Any]:
    return {
        "subject": "",
        "body": {"contentType": "html", "content": ""},
        "location": _location(None),
        "attendees": [],
        "categories": [],
        "importance": "normal",
        "sensitivity": "normal",
        "showAs": "busy",
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 15,
        "allowNewTimeProposals": True,
        "responseRequested": True,
        "hideAttendees": False,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "transactionId": None,
    }


def create(body: object, key: bytes, now: datetime) -> StoredEvent:
    if not isinstance(body, dict):
        raise _read_error("The request body must be a JSON object.")
    fields = _defaults()
    _simple_fields(body, fields)
    start, end, start_zone, end_zone = _times(body, None)
    ev = StoredEvent(key, fields, start, end, start_zone, end_zone, False, now, now)
    _finish(ev, body, is_occurrence=False)
    return ev


def patch(ev: StoredEvent, body: object, now: datetime, *, is_occurrence: bool) -> list[str]:
    """Apply a PATCH in place; returns the meeting-relevant properties whose value changed."""
    if not isinstance(body, dict):
        raise _read_error("The request body must be a JSON object.")
    if "transactionId" in body:
        body = {k: v for k, v in body.items() if k != "transactionId"}  # only settable on create
    before = {name: copy.deepcopy(_meeting_value(ev, name)) for name in MEETING_PROPS}
    trial = copy.deepcopy(ev)
    _simple_fields(body, trial.fields)
    trial.start, trial.end, trial.start_zone, trial.end_zone = _times(body, ev)
    _finish(trial, body, is_occurrence=is_occurrence)
    ev.__dict__.update(trial.__dict__)
    ev.version += 1
    ev.modified = now
    return [name for name in MEETING_PROPS if name in body and _meeting_value(ev, name) != before[name]]


def _meeting_value(ev: StoredEvent, name: str) -> object:
    if name in ("start", "end", "isAllDay", "recurrence"):
        return {"start": ev.start, "end": ev.end, "isAllDay": ev.is_all_day, "recurrence": ev.recurrence}[
            name
        ]
    return ev.fields.get(name)


def _finish(ev: StoredEvent, body: dict[str, Any], *, is_occurrence: bool) -> None:
    if "isAllDay" in body:
        if not isinstance(body["isAllDay"], bool):
            raise _read_error("'isAllDay' must be a boolean.")
        ev.is_all_day = body["isAllDay"]
    if ev.end < ev.start:
        raise _validation_error("The end time of an event must not be before its start time.")
    if ev.is_all_day:
        _check_all_day(ev.start, ev.end, ev.start_zone)
    if "recurrence" in body:
        if is_occurrence and body["recurrence"] is not None:
            raise bad_request("An occurrence of a series cannot have a recurrence.", "ErrorInvalidRequest")
        ev.recurrence = (
            None if body["recurrence"] is None else recurrence.normalise(body["recurrence"], ev.start_zone)
        )
    if "singleValueExtendedProperties" in body:
        _ext_props(body["singleValueExtendedProperties"], ev)


# ---- instances -------------------------------------------------------------------------------------------


def _zone(name: str) -> tzinfo:
    return resolve_zone(name) or UTC


def occurrence(master: StoredEvent, day: date) -> Instance | None:
    """The occurrence of `master` whose original start date is `day` (None if the series has none)."""
    if master.recurrence is None or day in master.cancelled:
        return None
    exception = master.exceptions.get(day)
    if exception is not None:
        return Instance(master, exception, day, exception.start, exception.end)
    for candidate in recurrence.occurrence_dates(master.recurrence):
        if candidate == day:
            start = _occurrence_start(master, day)
            return Instance(master, master, day, start, start + (master.end - master.start))
        if candidate > day:
            break
    return None


def _occurrence_start(master: StoredEvent, day: date) -> datetime:
    zone = _zone(master.start_zone)
    local_time = master.start.astimezone(zone).time()
    return datetime.combine(day, local_time, tzinfo=zone).astimezone(UTC)


def instances_in(master: StoredEvent, window_start: datetime, window_end: datetime) -> list[Instance]:
    """Calendar-view rows of one stored event that overlap [window_start, window_end)."""
    if master.recurrence is None:
        inst = Instance(master, master, None, master.start, master.end)
        return [inst] if _overlaps(inst, window_start, window_end) else []
    rows: list[Instance] = []
    duration = master.end - master.start
    last_day = (window_end + timedelta(days=2)).date()
    for day in recurrence.occurrence_dates(master.recurrence):
        if day > last_day + timedelta(days=max(duration.days, 0)):
            break
        if day in master.cancelled or day in master.exceptions:
            continue
        start = _occurrence_start(master, day)
        inst = Instance(master, master, day, start, start + duration)
        if _overlaps(inst, window_start, window_end):
            rows.append(inst)
    for day, exception in master.exceptions.items():
        if day not in master.cancelled:
            inst = Instance(master, exception, day, exception.start, exception.end)
            if _overlaps(inst, window_start, window_end):
                rows.append(inst)
    return sorted(rows, key=lambda row: row.start)


def _overlaps(inst: Instance, window_start: datetime, window_end: datetime) -> bool:
    if inst.start == inst.end:
        return window_start <= inst.start < window_end
    return inst.start < window_end and inst.end > window_start


def find(mailbox: Mailbox, ref: ids.ItemRef) -> Instance | None:
    master = mailbox.events.get(ref.key)
    if master is None:
        return None
    if ref.occurrence is None:
        return Instance(master, master, None, master.start, master.end)
    return occurrence(master, ref.occurrence)


def instance_ref(inst: Instance) -> ids.ItemRef:
    return ids.ItemRef(inst.master.key, inst.occurrence)


def instance_change_key(inst: Instance) -> str:
    if inst.occurrence is None:
        return ids.change_key(inst.master.key, inst.master.version)
    own = inst.record.version if inst.record is not inst.master else 0
    salt = inst.occurrence.toordinal().to_bytes(4, "big")
    return ids.change_key(inst.master.key + salt, inst.master.version * 100_000 + own)


# ---- rendering -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderOptions:
    zone: tzinfo = UTC
    zone_name: str = "UTC"
    immutable: bool = True
    text_body: bool = False
    ext_filter: Callable[[dict[str, Any]], bool] | None = None
    """Set by $expand=singleValueExtendedProperties(...): which properties to include."""
    select: tuple[str, ...] | None = None


def render(mailbox: Mailbox, inst: Instance, opts: RenderOptions) -> dict[str, Any]:
    rec, master = inst.record, inst.master
    event_id = ids.encode(instance_ref(inst), immutable=opts.immutable)
    change = instance_change_key(inst)
    body = rec.fields["body"]
    modified = max(master.modified, rec.modified)
    user = mailbox.user
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{change}"',
        "id": event_id,
        "createdDateTime": format_offset(master.created),
        "lastModifiedDateTime": format_offset(modified),
        "changeKey": change,
        "categories": list(rec.fields["categories"]),
        "transactionId": master.fields.get("transactionId"),
        "originalStartTimeZone": rec.start_zone,
        "originalEndTimeZone": rec.end_zone,
        "iCalUId": ids.ical_uid(master.key),
        "reminderMinutesBeforeStart": rec.fields["reminderMinutesBeforeStart"],
        "isReminderOn": rec.fields["isReminderOn"],
        "hasAttachments": False,
        "subject": rec.fields["subject"],
        "bodyPreview": bodies.preview(body),
        "importance": rec.fields["importance"],
        "sensitivity": rec.fields["sensitivity"],
        "isAllDay": rec.is_all_day,
        "isCancelled": False,
        "isOrganizer": master.invited_by is None,
        "responseRequested": rec.fields["responseRequested"],
        "seriesMasterId": (
            ids.encode(ids.ItemRef(master.key), immutable=opts.immutable) if inst.occurrence else None
        ),
        "showAs": rec.fields["showAs"],
        "type": inst.kind,
        "webLink": "https://outlook.office365.com/owa/?itemid="
        + event_id.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
        + "&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": rec.fields["isOnlineMeeting"],
        "onlineMeetingProvider": rec.fields["onlineMeetingProvider"],
        "allowNewTimeProposals": rec.fields["allowNewTimeProposals"],
        "isDraft": False,
        "hideAttendees": rec.fields["hideAttendees"],
        "responseStatus": {
            "response": "organizer" if master.invited_by is None else "notResponded",
            "time": _NO_RESPONSE,
        },
        "body": bodies.render(body, want_text=opts.text_body),
        "start": {"dateTime": format_local(inst.start, opts.zone), "timeZone": opts.zone_name},
        "end": {"dateTime": format_local(inst.end, opts.zone), "timeZone": opts.zone_name},
        "location": copy.deepcopy(rec.fields["location"]),
        "locations": [copy.deepcopy(rec.fields["location"])] if rec.fields["location"]["displayName"] else [],
        "recurrence": copy.deepcopy(master.recurrence) if inst.occurrence is None else None,
        "attendees": copy.deepcopy(rec.fields["attendees"]),
        "organizer": {
            "emailAddress": (
                {"name": user.display_name, "address": user.mail}
                if master.invited_by is None
                else {"name": master.invited_by[1], "address": master.invited_by[0]}
            )
        },
        "onlineMeeting": None,
    }
    if inst.occurrence is not None:
        original = _occurrence_start(master, inst.occurrence)
        out["originalStart"] = original.strftime("%Y-%m-%dT%H:%M:%SZ")
    if opts.select is not None:
        keep = {"@odata.etag", "id", *opts.select}
        out = {k: v for k, v in out.items() if k in keep}
    if opts.ext_filter is not None:
        props = [{"id": raw, "value": value} for raw, value in rec.ext.values()]
        if rec is not master:
            props = [{"id": raw, "value": value} for raw, value in {**master.ext, **rec.ext}.values()]
        out["singleValueExtendedProperties"] = [p for p in props if opts.ext_filter(p)]
    return out


def filter_view(mailbox: Mailbox, inst: Instance) -> dict[str, Any]:
    """JSON the $filter evaluator reads: UTC rendering plus every extended property."""
    view = render(mailbox, inst, RenderOptions(ext_filter=lambda _p: True))
    return view


def readable_copy(ev: StoredEvent) -> StoredEvent:
    """Deep copy used to turn an occurrence into an exception before patching it."""
    clone = copy.deepcopy(ev)
    clone.recurrence = None
    clone.exceptions = {}
    clone.cancelled = set()
    clone.version = 1
    return clone
