"""Appointments: F&O `Activities` (Category Appointment) <-> calendar events (docs/spec.md §3.1)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sync_core.d365 import entities
from sync_core.engine.merge import DEFAULT_GROUPS
from sync_core.engine.rules import appointment_deletion_rule
from sync_core.engine.types import SideView
from sync_core.exchange.errors import GraphError
from sync_core.kinds import inventory
from sync_core.kinds.activity_feed import (
    CARRIED_PREFIX,
    without_carried_keys,
)
from sync_core.kinds.appointment_adopt import adopt_at_first_scan, adopted_partner
from sync_core.kinds.appointment_match import fno_candidates, graph_candidates, same_key
from sync_core.kinds.events_feed import SYNCED_EVENT_TYPES
from sync_core.kinds.fno_activities import FnoActivities
from sync_core.kinds.graph_events import GraphEvents
from sync_core.kinds.task_todo import ENTRY_PREFIX as TODO_ENTRY_PREFIX
from sync_core.model.appointment import (
    SERIES_FIELDS,
    activity_fields,
    appointment_from_activity,
    appointment_from_event,
    content_hash,
    event_fields,
    from_record,
    to_record,
)
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import (
    fno_key,
    parse_fno_time,
    row_version,
    split_fno_key,
)
from sync_core.runtime.kind import FnoItem, GraphItem, Kind
from sync_core.runtime.rules import KindRules
from sync_core.settings import Settings
from sync_core.state.base import Link

NAME = "appointment"
ACTIVITY_CATEGORY = "Appointment"


# ---- the rules (runtime/rules.py) -------------------------------------------------------------------
def _in_scope(ctx: SyncContext, record: Mapping[str, Any]) -> bool:
    """Inside the calendar window (docs/spec.md §4); a series master always (its start is the first
    occurrence's, and the series reaches into the window)."""
    appointment = from_record(record)
    if appointment.series == "master":
        return True
    start, end = ctx.window()
    return appointment.end >= start and appointment.start <= end


def _may_create_in_graph(record: Mapping[str, Any]) -> bool:
    """F&O has no recurrence pattern: series and their members are created in Outlook only."""
    return from_record(record).series == "single"


def _protects_graph_item(graph: GraphItem) -> bool:
    """Any write turns an occurrence into an exception: linking must never write to one."""
    return graph.item.get("type") == "occurrence"


def _graph_write_effects(graph: GraphItem) -> dict[str, Any]:
    return {"series": "exception"} if graph.item.get("type") == "occurrence" else {}


def _names_graph_item(fno: FnoItem, graph: GraphItem) -> bool:
    """The activity names this event in OutlookEntryId (made from it, or adopted from a predecessor)."""
    return fno.row.get("OutlookEntryId") == graph.id


RULES = KindRules(
    merge_groups=(*DEFAULT_GROUPS, SERIES_FIELDS),
    # The attendees are the activity's parent links, written after the activity is made.
    fields_finished_after_create=frozenset({"attendees"}),
    # Written without reading first (pipeline/reads.py) unless the attendees change: they are the
    # activity's parent links, which only the read side holds.
    fields_needing_fno_row=frozenset({"attendees"}),
    deletion_rule=appointment_deletion_rule,
    in_scope=_in_scope,
    may_create_in_graph=_may_create_in_graph,
    protects_graph_item=_protects_graph_item,
    names_graph_item=_names_graph_item,
    graph_write_effects=_graph_write_effects,
)


class AppointmentMapping:
    """Activities of category Appointment <-> calendar events (model/appointment.py)."""

    def __init__(self, fno_side: FnoActivities) -> None:
        self._fno = fno_side

    def graph_if_match(self, settings: Settings, link: Link) -> str | None:
        """The event's `@odata.etag` as the link knows it; series members are always read (a write may
        turn an occurrence into an exception)."""
        return f'W/"{link.graph_version}"' if link.snapshot.get("series") == "single" else None

    def content_hash(self, record: Mapping[str, Any]) -> str:
        return content_hash(record)

    async def load_fno(self, ctx: SyncContext, key: str) -> FnoItem | None:
        # The mapping needs the activity's attendees (its parent links) beside the row.
        row = await self._fno.get(ctx, key)
        return None if row is None else await self.fno_item_from_row(ctx, key, without_carried_keys(row))

    async def fno_item_from_row(self, ctx: SyncContext, key: str, row: Mapping[str, Any]) -> FnoItem:
        """The pair's F&O side from a row already read: the feed's carries its parent links and the linked
        contacts' addresses (read for a page of rows at once); otherwise they are read now."""
        company, number = split_fno_key(key)
        links, emails = row.get(_LINKS_KEY), row.get(_EMAILS_KEY)
        if not isinstance(links, list) or not isinstance(emails, dict):
            links = await entities.list_parent_links(ctx.fno, company, number)
            emails = await entities.contact_emails(ctx.fno, company, _contact_ids(links))
        return FnoItem(
            key=key,
            row=without_carried_keys(dict(row)),
            version=row_version(row, "LastDateTimeEdited"),
            extra={"contact_emails": emails, "parent_links": links},
        )

    async def fno_view(self, ctx: SyncContext, mailbox: Mailbox, item: FnoItem | None) -> SideView:
        if item is None or item.row.get("Category") != ACTIVITY_CATEGORY:
            return SideView(present=item is not None, marked=False)
        emails = list(item.extra.get("contact_emails", {}).values())
        appointment = appointment_from_activity(
            dict(item.row),
            attendee_emails=emails,
            sync_category=ctx.settings.category,
            time_zone=mailbox.zone,
            owner_addresses=mailbox.owner_addresses,
        )
        return SideView(
            present=True,
            marked=item.row.get("KeepSynchronized") == "Yes",
            record=to_record(appointment),
            modified_at=parse_fno_time(item.row.get("LastDateTimeEdited")),
        )

    async def graph_view(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem | None) -> SideView:
        if item is None:
            return SideView(present=False, marked=False)
        event = dict(item.item)
        categories = event.get("categories") or []
        marked = ctx.settings.category in categories and event.get("type") in SYNCED_EVENT_TYPES
        appointment = appointment_from_event(
            event,
            sync_category=ctx.settings.category,
            time_zone=mailbox.zone,
            owner_addresses=mailbox.owner_addresses,
        )
        return SideView(
            present=True,
            marked=marked,
            record=to_record(appointment),
            modified_at=parse_fno_time(event.get("lastModifiedDateTime")),
        )

    async def align(
        self, ctx: SyncContext, mailbox: Mailbox, fno: SideView, graph: SideView
    ) -> tuple[SideView, SideView]:
        if fno.record is None or graph.record is None:
            return fno, graph
        fno_attendees = set(fno.record.get("attendees", ()))
        graph_attendees = list(graph.record.get("attendees", ()))
        if not entities.parent_links_available(ctx.fno):
            # F&O publishes no parent-link entity (d365/preflight.py): attendees are skipped, so Exchange's
            # are taken as equal to F&O's and neither side's list is written.
            return fno, _with_attendees(graph, sorted(fno_attendees))
        if from_record(fno.record).end <= ctx.now() or from_record(graph.record).end <= ctx.now():
            # Past appointments carry no attendees into Exchange (that would send invitations):
            # whatever Exchange has is taken as equal to F&O's list.
            graph = _with_attendees(graph, sorted(fno_attendees))
            return fno, graph
        # Attendees that are not F&O contact persons cannot be held as contact-person links in F&O;
        # count them as equal on both sides so they neither vanish from Exchange nor bounce.
        resolved = await ctx.party_resolver(mailbox.record.company).resolve(graph_attendees)
        unlinkable = {
            a for a in graph_attendees if (p := resolved.get(a)) is None or p.parent_type != "ContactPerson"
        }
        if unlinkable - fno_attendees:
            fno = _with_attendees(fno, sorted(fno_attendees | unlinkable))
        return fno, graph

    def is_organizer(self, graph: GraphItem | None) -> bool:
        return graph is None or graph.item.get("isOrganizer") is not False


class AppointmentPartners:
    """The event an activity names or that carries its stamp; the activity a stamp or an event id names."""

    def __init__(self, fno_side: FnoActivities, graph_side: GraphEvents, mapping: AppointmentMapping) -> None:
        self._fno, self._graph, self._mapping = fno_side, graph_side, mapping

    async def find_graph_partner(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem) -> GraphItem | None:
        pointed = await self._event_the_activity_names(ctx, mailbox, fno)
        if pointed is not None:
            return pointed
        return await self._graph.find_stamped(ctx, mailbox, fno.key)

    async def _event_the_activity_names(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem
    ) -> GraphItem | None:
        """The event an activity made from Outlook names in OutlookEntryId (written in the same request
        that created the activity). It counts when it is not stamped for another activity: after a lost
        answer the event is not stamped yet, and nothing else would find it."""
        entry = fno.row.get("OutlookEntryId")
        if not isinstance(entry, str) or not entry or entry.startswith(TODO_ENTRY_PREFIX):
            return None
        try:
            item = await self._graph.get(ctx, mailbox, entry)
        except GraphError as exc:
            if exc.status not in (400, 404):
                raise
            item = None  # an id in another format (an older Outlook sync wrote it), or gone
        if item is None and ctx.settings.adopt_predecessor_ids:
            item = await adopted_partner(ctx, mailbox, fno)
        if item is None or item.item.get("isCancelled"):
            return None
        if item.stamp not in (None, fno.key) and await self._stamp_names_a_record(ctx, item.stamp):
            return None  # the event is another activity's
        return item

    async def _stamp_names_a_record(self, ctx: SyncContext, stamp: str | None) -> bool:
        """Whether an event's stamp names an activity that exists. A stamp outlives its activity: deleted in
        F&O, the pair was unlinked and the event kept it. Such a stale stamp must not hide the activity a
        later create made from the event (its answer lost before the new stamp was written): that activity
        would get a second event, and the event a second activity."""
        if not stamp:
            return False
        try:
            split_fno_key(stamp)
        except ValueError:
            return True  # a stamp we did not write: not trusted to be stale either
        return await self._fno.get(ctx, stamp) is not None

    async def find_fno_partner(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem) -> FnoItem | None:
        if graph.stamp:
            try:
                split_fno_key(graph.stamp)
            except ValueError:
                return None  # a stamp we did not write: ignore it rather than trust it
            stamped = await self._mapping.load_fno(ctx, graph.stamp)
            if stamped is not None:
                return stamped
            # A stale stamp (its activity deleted since): the activity a crashed create made from the
            # event names it, as for an event not stamped yet.
        for row in await self._fno.pointing_at(ctx, graph.id):
            return await self._mapping.load_fno(
                ctx, fno_key(str(row["dataAreaId"]), str(row["ActivityNumber"]))
            )
        return None


class AppointmentMatching:
    """First-run matching by content (kinds/appointment_match.py): an unstamped event and an activity of
    the same subject and time are linked, not created twice."""

    def __init__(self, graph_side: GraphEvents, mapping: AppointmentMapping) -> None:
        self._graph, self._mapping = graph_side, mapping

    async def match_graph_partners(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem) -> list[GraphItem]:
        view = await self._mapping.fno_view(ctx, mailbox, fno)
        if view.record is None:
            return []
        items: list[GraphItem] = []
        for graph_id in await graph_candidates(ctx, mailbox, view.record):
            item = await self._graph.get(ctx, mailbox, graph_id)
            if item is not None and item.stamp is None:
                items.append(item)
        return items

    async def match_fno_partners(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem) -> list[FnoItem]:
        mapping = self._mapping
        view = await mapping.graph_view(ctx, mailbox, graph)
        if view.record is None:
            return []
        items: list[FnoItem] = []
        for key in await fno_candidates(ctx, mailbox, view.record, graph.id):
            item = await mapping.load_fno(ctx, key)
            if item is not None and same_key(
                (await mapping.fno_view(ctx, mailbox, item)).record, view.record
            ):
                items.append(item)
        return items


class AppointmentWrites:
    """Events and activities written from the canonical record; an activity's attendees are its parent
    links, written after it."""

    def __init__(self, fno_side: FnoActivities, graph_side: GraphEvents, mapping: AppointmentMapping) -> None:
        self._fno, self._graph, self._mapping = fno_side, graph_side, mapping

    async def create_in_graph(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, record: Mapping[str, Any]
    ) -> GraphItem:
        appointment = from_record(record)
        body = event_fields(
            appointment,
            time_zone=mailbox.zone,
            time_zone_name=mailbox.zone_name,
            sync_category=ctx.settings.category,
        )
        if appointment.end <= ctx.now():
            body.pop("attendees", None)  # no invitation goes out for the past
        # Same F&O key and version -> same transactionId: a retried create is recognised by Exchange.
        body["transactionId"] = str(uuid.uuid5(_TRANSACTION_NS, f"{mailbox.address}|{fno.key}|{fno.version}"))
        return await self._graph.create(ctx, mailbox, body, stamp=fno.key)

    async def create_in_fno(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, record: Mapping[str, Any]
    ) -> FnoItem:
        appointment = from_record(record)
        key, _row = await self._fno.create(ctx, mailbox, activity_fields(appointment), reference=graph.id)
        await _add_parent_links(ctx, key, list(appointment.attendees), primary_first=True)
        if graph.stamp != key:
            await self._graph.stamp(ctx, mailbox, graph, key)  # a series member is not stamped
        loaded = await self._mapping.load_fno(ctx, key)
        if loaded is None:
            raise RuntimeError("the activity just created cannot be read back")
        return loaded

    async def update_graph(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        graph: GraphItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        appointment = from_record(record)
        patch = event_fields(
            appointment,
            time_zone=mailbox.zone,
            time_zone_name=mailbox.zone_name,
            sync_category=ctx.settings.category,
            fields=set(fields),
        )
        if appointment.end <= ctx.now():
            patch.pop("attendees", None)
        if not patch:
            return graph.version
        return await self._graph.update(ctx, mailbox, graph, patch)

    async def update_fno(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        fno: FnoItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        appointment = from_record(record)
        plain = set(fields) - {"attendees"}
        if plain:
            await self._fno.update(ctx, fno.key, activity_fields(appointment, plain), if_match=fno.if_match)
        if "attendees" in fields:
            await _sync_contact_links(ctx, fno, list(appointment.attendees))
        return ""

    async def stamp_graph(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, fno_key: str) -> None:
        await self._graph.stamp(ctx, mailbox, graph, fno_key)  # the stamp alone finishes a create


class AppointmentListings:
    """The calendar window of events and of the worker's appointment activities (kinds/inventory.py)."""

    async def graph_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        return await inventory.appointment_graph(ctx, mailbox)

    async def fno_inventory(self, ctx: SyncContext, mailbox: Mailbox) -> inventory.Inventory:
        return await inventory.appointment_fno(ctx, mailbox, ACTIVITY_CATEGORY)


# ---- parent links (attendees) ------------------------------------------------------------------------
async def _add_parent_links(ctx: SyncContext, key: str, emails: list[str], *, primary_first: bool) -> None:
    if not emails or not entities.parent_links_available(ctx.fno):
        return
    company, number = split_fno_key(key)
    resolved = await ctx.party_resolver(company).resolve(emails)
    first = primary_first
    for email in emails:
        party = resolved.get(email)
        if party is None:
            continue
        await entities.add_parent_link(ctx.fno, company, number, party.parent_type, party.parent_id, first)
        first = False


async def _sync_contact_links(ctx: SyncContext, fno: FnoItem, wanted: list[str]) -> None:
    company, number = split_fno_key(fno.key)
    current: Mapping[str, str] = fno.extra.get("contact_emails", {})
    wanted_set = set(wanted)
    for contact_id, email in current.items():
        if email.lower() not in wanted_set:
            await entities.remove_parent_link(ctx.fno, company, number, "ContactPerson", contact_id)
    have = {email.lower() for email in current.values()}
    has_primary = any(link.get("IsPrimaryLink") == "Yes" for link in fno.extra.get("parent_links", []))
    await _add_parent_links(ctx, fno.key, [e for e in wanted if e not in have], primary_first=not has_primary)


_TRANSACTION_NS = uuid.UUID("6f1e4a52-8d0b-4a8e-9d36-5d365e5c7a11")


_LINKS_KEY, _EMAILS_KEY = CARRIED_PREFIX + "parentLinks", CARRIED_PREFIX + "contactEmails"


def _contact_ids(links: list[dict[str, Any]]) -> list[str]:
    return [
        str(link["ParentId"])
        for link in links
        if link.get("ParentType") == "ContactPerson" and link.get("ParentId")
    ]


async def _with_attendee_rows(ctx: SyncContext, rows: list[dict[str, Any]]) -> None:
    """Add each feed row's parent links and its contacts' addresses, a few queries per company for the page."""
    by_company: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_company.setdefault(str(row.get("dataAreaId") or ""), []).append(row)
    for company, company_rows in by_company.items():
        if not company:
            continue
        links = await entities.parent_links_of(
            ctx.fno, company, [str(r.get("ActivityNumber") or "") for r in company_rows]
        )
        contact_ids = sorted({cid for found in links.values() for cid in _contact_ids(found)})
        emails = await entities.contact_emails(ctx.fno, company, contact_ids) if contact_ids else {}
        for row in company_rows:
            found = links.get(str(row.get("ActivityNumber") or ""))
            if found is None:
                continue  # not asked for (an unsafe number): the pair job reads it
            row[_LINKS_KEY] = found
            row[_EMAILS_KEY] = {cid: emails[cid] for cid in _contact_ids(found) if cid in emails}


def _with_attendees(view: SideView, attendees: list[str]) -> SideView:
    assert view.record is not None
    record = dict(view.record)
    record["attendees"] = attendees
    return SideView(present=view.present, marked=view.marked, record=record, modified_at=view.modified_at)


def appointment_kind() -> Kind:
    """The appointment kind: activities of category Appointment and calendar events (a factory: the sides
    are built per kind instance, as each process's kinds are)."""
    # The F&O feed reads each page's attendees with it; a mailbox's first calendar scan adopts the links an
    # earlier Outlook sync left (kinds/appointment_adopt.py, docs/migration.md) before anything is matched
    # by content or created.
    fno = FnoActivities(ACTIVITY_CATEGORY, enrich=_with_attendee_rows)
    graph = GraphEvents(NAME, first_scan=adopt_at_first_scan)
    mapping = AppointmentMapping(fno)
    return Kind(
        name=NAME,
        rules=RULES,
        fno_side=fno,
        graph_side=graph,
        mapping=mapping,
        partners=AppointmentPartners(fno, graph, mapping),
        matching=AppointmentMatching(graph, mapping),
        writes=AppointmentWrites(fno, graph, mapping),
        listings=AppointmentListings(),
    )
