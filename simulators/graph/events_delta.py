"""calendarView/delta with Exchange's awkward parts (rounds, pages and tokens: `delta.py`).

Choices made here (all deterministic):
- The first page of every round (initial or from a $deltatoken) is EMPTY and carries an @odata.nextLink,
  as real Graph often answers the first initial request (GraphState.empty_first_delta_page, on by default;
  off, a round's first answer carries the changes and, when they fit, the deltaLink).
- When the page size is 2 or more, every page after the first non-empty one starts by repeating the last
  item of the previous page, so clients must tolerate repeats.
- A later round reports what changed against the snapshot taken when the previous round started: new or
  changed instances in full, vanished ones (deleted, cancelled, moved out of the window) as @removed, plus
  @removed for events changed or deleted outside the window since then.
- The window is the first request's (`startDateTime`, `endDateTime`) and stays the round's and every later
  round's; expire_delta_tokens bumps the mailbox's generation and old tokens answer 410 SyncStateNotFound.

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

from collections.abc import Hashable
from datetime import datetime
from typing import Any

from simulators.graph import calendar, events, ids
from simulators.graph.delta import Entry, Feed, Snapshot, serve
from simulators.graph.events_api import render_options, window
from simulators.graph.http import GraphRequest, GraphResponse
from simulators.graph.model import Instance, Mailbox
from simulators.graph.state import GraphState

_FORBIDDEN = ("$select", "$filter", "$expand", "$orderby", "$search", "$top", "$skip")
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
    def options(req: GraphRequest, last: dict[str, Any] | None) -> dict[str, Any]:
        start, end = (last["start"], last["end"]) if last else window(req)
        return {"start": start, "end": end}

    def entries(
        opts: dict[str, Any], old: Snapshot | None
    ) -> tuple[list[Entry], dict[Hashable, Any], dict[str, Any]]:
        bare = state.bare_occurrences_in_delta
        view = _view(mb, opts["start"], opts["end"], masters=bare)
        seen: dict[Hashable, Any] = {ref: _delta_key(row) for ref, row in view.items()}
        memo = {"seq": mb.seq}
        if old is None:
            return [(ref, False) for ref in view], seen, memo
        changed = {ref for ref in view if old.seen.get(ref) != seen[ref]}
        series = {ref.key for ref in changed if ref.occurrence is None} if bare else set()
        found: list[Entry] = [(ref, False) for ref in view if ref in changed or ref.key in series]
        found += [
            (ref, True)
            for ref in old.seen
            if ref not in view and not (bare and isinstance(ref, ids.ItemRef) and _cancelled(mb, ref))
        ]
        # Events changed or deleted outside the window since the last round come as @removed too.
        known_keys = {ref.key for ref in old.seen if isinstance(ref, ids.ItemRef)} | {ref.key for ref in view}
        since = int(old.memo["seq"])
        found += [
            (ids.ItemRef(ev.key), True)
            for ev in mb.events.values()
            if ev.seq > since and ev.key not in known_keys
        ]
        found += [
            (ids.ItemRef(key), True)
            for key, seq in mb.tombstones.items()
            if seq > since and key not in known_keys
        ]
        return found, seen, memo

    def render(
        req: GraphRequest, chosen: list[Entry], _opts: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        opts, applied = render_options(req, allow_query=False)
        bare = state.bare_occurrences_in_delta
        value = [
            _item(mb, ref, removed, opts, bare=bare)
            for ref, removed in chosen
            if isinstance(ref, ids.ItemRef)
        ]
        return value, applied

    feed = Feed(
        name="events",
        type_name="event",
        forbidden=_FORBIDDEN,
        scope={},
        options=options,
        entries=entries,
        render=render,
        first_page_empty=lambda state, _initial: state.empty_first_delta_page,
        overlap=True,
    )
    return serve(state, req, mb, feed)


def _item(
    mb: Mailbox, ref: ids.ItemRef, removed: bool, opts: events.RenderOptions, *, bare: bool
) -> dict[str, Any]:
    inst = None if removed else events.find(mb, ref)
    event_id = ids.encode(ref, immutable=opts.immutable)
    if inst is None:
        return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}
    item = {"@odata.type": "#microsoft.graph.event", **events.render(mb, inst, opts)}
    return {k: item[k] for k in _BARE} if bare and inst.occurrence is not None else item
