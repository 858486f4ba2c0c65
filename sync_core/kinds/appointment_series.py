"""Recurring series as one calendar-delta read meets them (docs/microsoft.md, "Recurring series in the
calendar delta").

Microsoft documents that calendarView/delta returns occurrences and exceptions with the properties
calendarView returns, never the series master, and a deleted occurrence as removed
(https://learn.microsoft.com/graph/api/event-delta). Public reports say it sends occurrences bare, lists the
master, and may say nothing of a cancelled occurrence. Either way:
- a series master is read once a scan (its mark is the series' mark);
- a master the delta lists is read with its instances in the window (one listing): the occurrences the
  delta reports after it are carried whole from there instead of being read one by one, and a linked
  member of the series missing from that listing becomes a deletion candidate (the deletion check confirms
  each with a read, so a wrong guess costs one request, never a deletion).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Any

from sync_core.kinds import inventory
from sync_core.model.appointment import is_whole
from sync_core.model.datetimes import parse_instant, parse_zoned
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.state.base import Link

_MEMBERS = ("occurrence", "exception")


class SeriesReads:
    """What one scan has read of series: masters by id, and the whole instances of masters it listed."""

    def __init__(self, ctx: SyncContext, mailbox: Mailbox, kind: str) -> None:
        self._ctx, self._mailbox, self._kind = ctx, mailbox, kind
        self._masters: dict[str, Mapping[str, Any] | None] = {}
        self._instances: dict[str, Mapping[str, Any]] = {}

    def knows_master(self, master_id: str) -> bool:
        return master_id in self._masters

    async def master(self, master_id: str) -> Mapping[str, Any] | None:
        if master_id not in self._masters:
            self._masters[master_id] = await self._ctx.graph.get_event(self._mailbox.address, master_id)
        return self._masters[master_id]

    def instance(self, graph_id: str) -> Mapping[str, Any] | None:
        return self._instances.get(graph_id)

    async def master_listed(self, master: Mapping[str, Any]) -> list[str]:
        """The delta listed this master: read its instances in the window; returns the ids of linked
        members of the series that the listing lacks (cancelled, or moved out of the window)."""
        master_id = str(master["id"])
        self._masters[master_id] = master
        listed = await inventory.appointment_instances(self._ctx, self._mailbox, master_id)
        if listed is None:
            return []  # the series is gone: the delta reports that itself
        for event in listed:
            if isinstance(event.get("id"), str) and is_whole(event):
                self._instances[event["id"]] = event
        links = await self._ctx.store.list_links(self._kind, self._mailbox.address)
        return _unlisted_members(self._ctx, self._mailbox, master, listed, links)


def _unlisted_members(
    ctx: SyncContext,
    mailbox: Mailbox,
    master: Mapping[str, Any],
    listed: list[dict[str, Any]],
    links: Iterable[Link],
) -> list[str]:
    """Links carry no series id, so the series' members are told by their original start: inside the window,
    not before the series began, at a time of day the series uses (in the mailbox's zone)."""
    first = parse_zoned(master.get("start"))
    if first is None:
        return []
    starts = [parse_instant(event.get("originalStart")) for event in listed]
    times = {_time_of_day(at, mailbox) for at in [first, *starts] if at is not None}
    ids = {event.get("id") for event in listed}
    start, end = ctx.window()
    found: list[str] = []
    for link in links:
        if link.is_claim or link.graph_id in ids or link.snapshot.get("series") not in _MEMBERS:
            continue
        original = parse_instant(link.snapshot.get("original_start"))
        if original is None or not start <= original < end or original < first - timedelta(minutes=1):
            continue
        if _time_of_day(original, mailbox) in times:
            found.append(link.graph_id)
    return found


def _time_of_day(at: datetime, mailbox: Mailbox) -> time:
    return at.astimezone(mailbox.zone).time().replace(second=0, microsecond=0)
