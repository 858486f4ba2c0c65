"""calendarView/delta with Exchange's awkward parts.

A round is the pages between two delta links. Choices made here (all deterministic):
- The first page of every round (initial or from a $deltatoken) is EMPTY and carries an @odata.nextLink,
  as real Graph often answers the first initial request (GraphState.empty_first_delta_page, on by default;
  off, a round's first answer carries the changes and, when they fit, the deltaLink).
- When the page size is 2 or more, every page after the first non-empty one starts by repeating the last
  item of the previous page, so clients must tolerate repeats.
- A later round reports what changed against the snapshot taken when the previous round started: new or
  changed instances in full, vanished ones (deleted, cancelled, moved out of the window) as @removed, plus
  @removed for events changed or deleted outside the window since then.
- Tokens are opaque base64url text that carries the window and the mailbox's sync generation;
  expire_delta_tokens bumps the generation and old tokens answer 410 SyncStateNotFound.

Recurring series, by default as Microsoft documents them: occurrences and exceptions with the same
properties as calendarView, never the series master, a deleted occurrence as @removed
(https://learn.microsoft.com/graph/api/event-delta: "the same properties you'd normally get from a
GET /calendarView request"; beta's event-delta: "occurrences and exceptions of recurring series").
GraphState.bare_occurrences_in_delta gives the shape public reports describe instead:
- occurrences and exceptions bare: @odata.type, @odata.etag, id, seriesMasterId, type, start, end
  (microsoftgraph/microsoft-graph-docs-contrib#34, microsoft-graph-docs#7632, #1716);
- the series master is listed, whole, before its instances, and a change anywhere in a series (the master,
  an exception, a cancelled occurrence) reports the master with every instance left in the window
  (https://stackoverflow.com/questions/55641502);
- a cancelled occurrence is not reported at all (the same question; microsoft-graph-docs PR #4501, "No
  indication is given for a deleted occurrence").
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulators.graph import calendar, events, ids
from simulators.graph.errors import GraphError, bad_request
from simulators.graph.events_api import render_options, window
from simulators.graph.http import GraphRequest, GraphResponse, json_response
from simulators.graph.model import Instance, Mailbox
from simulators.graph.state import GraphState
from simulators.graph.timezones import parse_offset

_FORBIDDEN = ("$select", "$filter", "$expand", "$orderby", "$search", "$top", "$skip")


@dataclass
class Snapshot:
    mailbox_id: str
    start: datetime
    end: datetime
    seen: dict[ids.ItemRef, str]
    """Instance -> changeKey the client was given."""
    seq: int


@dataclass
class Round:
    mailbox_id: str
    entries: list[tuple[ids.ItemRef, bool]]
    """(instance, removed?) in the order they are paged out."""
    next_snapshot: str


def _token(kind: str, ref: str, mb: Mailbox, start: datetime, end: datetime, offset: int = 0) -> str:
    data = {
        "k": kind,
        "r": ref,
        "g": mb.sync_generation,
        "o": offset,
        "w": [start.isoformat(), end.isoformat()],
    }
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _read_token(raw: str, mb: Mailbox, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(data, dict) or data.get("k") != kind:
            raise ValueError("wrong token kind")
        parse_offset(data["w"][0])
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise bad_request("The delta or skip token is not valid.", "ErrorInvalidUrlQuery") from exc
    if data.get("g") != mb.sync_generation:
        raise GraphError(
            410,
            "SyncStateNotFound",
            f"The sync state generation is not found; generation={data.get('g')};"
            f"[highest={mb.sync_generation}].",
        )
    return data


_BARE = ("@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end")


def _view(mb: Mailbox, start: datetime, end: datetime, *, masters: bool) -> dict[ids.ItemRef, Instance]:
    rows: list[Instance] = []
    for ev in mb.events.values():
        found = events.instances_in(ev, start, end)
        if masters and ev.recurrence is not None and found:
            rows.append(calendar.whole(ev))
        rows.extend(found)
    rows.sort(key=lambda row: (row.start, row.occurrence is not None))  # a master before its first instance
    return {events.instance_ref(row): row for row in rows}


def _delta_key(inst: Instance) -> str:
    """The version a round compares; a reported master changes with anything in its series."""
    key = events.instance_change_key(inst)
    return f"{key}/{inst.master.seq}" if inst.occurrence is None and inst.master.recurrence else key


def _cancelled(mb: Mailbox, ref: ids.ItemRef) -> bool:
    master = mb.events.get(ref.key)
    return master is not None and ref.occurrence is not None and ref.occurrence in master.cancelled


def delta(state: GraphState, req: GraphRequest, mb: Mailbox) -> GraphResponse:
    for name in _FORBIDDEN:
        if name in req.query:
            raise bad_request(
                f"The query parameter '{name}' is not supported with change tracking over events."
            )
    if "$skiptoken" in req.query:
        return _page(state, req, mb, _read_token(req.query["$skiptoken"], mb, "skip"))
    if "$deltatoken" in req.query:
        data = _read_token(req.query["$deltatoken"], mb, "delta")
        snapshot = state.delta_snapshots.get(data["r"])
        if not isinstance(snapshot, Snapshot) or snapshot.mailbox_id != mb.user.id:
            raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")
        return _start_round(state, req, mb, snapshot.start, snapshot.end, snapshot)
    start, end = window(req)
    return _start_round(state, req, mb, start, end, None)


def _start_round(
    state: GraphState, req: GraphRequest, mb: Mailbox, start: datetime, end: datetime, old: Snapshot | None
) -> GraphResponse:
    bare = state.bare_occurrences_in_delta
    view = _view(mb, start, end, masters=bare)
    seen = {ref: _delta_key(row) for ref, row in view.items()}
    entries: list[tuple[ids.ItemRef, bool]]
    if old is None:
        entries = [(ref, False) for ref in view]
    else:
        changed = {ref for ref, key in seen.items() if old.seen.get(ref) != key}
        series = {ref.key for ref in changed if ref.occurrence is None} if bare else set()
        entries = [(ref, False) for ref in view if ref in changed or ref.key in series]
        entries += [(ref, True) for ref in old.seen if ref not in view and not (bare and _cancelled(mb, ref))]
        known_keys = {ref.key for ref in old.seen} | {ref.key for ref in view}
        entries += [
            (ids.ItemRef(ev.key), True)
            for ev in mb.events.values()
            if ev.seq > old.seq and ev.key not in known_keys
        ]
        entries += [
            (ids.ItemRef(key), True)
            for key, seq in mb.tombstones.items()
            if seq > old.seq and key not in known_keys
        ]
    snapshot_id = uuid.uuid4().hex
    state.delta_snapshots[snapshot_id] = Snapshot(mb.user.id, start, end, seen, mb.seq)
    round_id = uuid.uuid4().hex
    state.delta_rounds[round_id] = Round(mb.user.id, entries, snapshot_id)
    if not state.empty_first_delta_page:
        return _page(state, req, mb, {"r": round_id, "o": 0, "w": [start.isoformat(), end.isoformat()]})
    link = req.link(
        *req.segments[:-1], "delta", query="$skiptoken=" + _token("skip", round_id, mb, start, end)
    )
    _opts, applied = render_options(req, allow_query=False)
    return json_response(200, _body(req, [], link, "nextLink"), applied)


def _page(state: GraphState, req: GraphRequest, mb: Mailbox, data: dict[str, Any]) -> GraphResponse:
    rnd = state.delta_rounds.get(data["r"])
    if not isinstance(rnd, Round) or rnd.mailbox_id != mb.user.id:
        raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")
    opts, applied = render_options(req, allow_query=False)
    size = req.prefer.max_page_size or state.page_size
    if req.prefer.max_page_size:
        applied["Preference-Applied"] = ", ".join(
            filter(None, [applied.get("Preference-Applied"), f"odata.maxpagesize={size}"])
        )
    offset = int(data["o"])
    repeat = offset > 0 and size >= 2
    take = size - 1 if repeat else size
    chosen = rnd.entries[offset - 1 if repeat else offset : offset + take]
    value = [_item(mb, ref, removed, opts, bare=state.bare_occurrences_in_delta) for ref, removed in chosen]
    start, end = parse_offset(data["w"][0]), parse_offset(data["w"][1])
    segments = [*req.segments[:-1], "delta"]
    if offset + take < len(rnd.entries):
        token = _token("skip", data["r"], mb, start, end, offset + take)
        return json_response(
            200, _body(req, value, req.link(*segments, query="$skiptoken=" + token), "nextLink"), applied
        )
    token = _token("delta", rnd.next_snapshot, mb, start, end)
    return json_response(
        200, _body(req, value, req.link(*segments, query="$deltatoken=" + token), "deltaLink"), applied
    )


def _item(
    mb: Mailbox, ref: ids.ItemRef, removed: bool, opts: events.RenderOptions, *, bare: bool
) -> dict[str, Any]:
    inst = None if removed else events.find(mb, ref)
    event_id = ids.encode(ref, immutable=opts.immutable)
    if inst is None:
        return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}
    item = {"@odata.type": "#microsoft.graph.event", **events.render(mb, inst, opts)}
    return {k: item[k] for k in _BARE} if bare and inst.occurrence is not None else item


def _body(req: GraphRequest, value: list[dict[str, Any]], link: str, kind: str) -> dict[str, Any]:
    return {
        "@odata.context": f"{req.base_url}/$metadata#Collection(event)",
        f"@odata.{kind}": link,
        "value": value,
    }
