"""Cheap listings of what each side holds for one mailbox and kind, for the periodic reconciliation
(`pipeline/reconcile.py`): ids, versions and marks only, one query (and its pages) per side.

Each kind exposes them as `graph_inventory(ctx, mailbox)` and `fno_inventory(ctx, mailbox)`; the functions
here do the work so the kind modules only gain two one-line methods. An inventory says, besides what it
listed, which linked items it would have listed had they been there (`covers`): only those count as
missing. Everything is read with `$select`, never whole items: the pair job reads what it needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import date
from typing import Any
from urllib.parse import quote

from sync_core.contacts.membership import (
    CONTACT_PERSONS,
    contacts_by_key,
    effective,
    on_private_rule,
    row_key,
)
from sync_core.d365.odata import and_all, datetime_literal, enum_literal, exact_string_eq, is_safe_text
from sync_core.exchange.errors import GraphNotFound
from sync_core.exchange.urls import graph_datetime, odata_string, seg, user_seg
from sync_core.kinds import task_todo as todo
from sync_core.model.appointment import from_record as appointment_from_record
from sync_core.model.datetimes import parse_instant
from sync_core.model.task_fno import is_closed
from sync_core.model.task_graph import todo_date
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.inventory import Inventory, Listed
from sync_core.runtime.keys import fno_key, row_version
from sync_core.state.base import ContactListEntry, Link

# Page sizes through `$top` (an OData query parameter the three list APIs support; the stand-in accepts up
# to 1,000). To Do pages stay at 100, as the product's other To Do reads. Bigger pages, fewer requests.
_GRAPH_TOP = 500
_TODO_TOP = 100
_SYNCED_EVENT_TYPES = {"singleInstance", "seriesMaster", "occurrence", "exception", None}
_PROBLEM_CATEGORIES = ("D365 company not found", "D365 company ambiguous")  # kinds/contact.py


def _always(_link: Link) -> bool:
    return True


async def _graph_pages(ctx: SyncContext, mailbox: str, path: str) -> AsyncIterator[dict[str, Any]]:
    link: str | None = path
    seen: set[str] = set()
    while link is not None:
        if link in seen:
            raise RuntimeError("Graph repeated a paging link")
        seen.add(link)
        data = await ctx.graph.request_json("GET", mailbox, link) or {}
        for item in data.get("value") or []:
            if isinstance(item, dict):
                yield item
        next_link = data.get("@odata.nextLink")
        link = next_link if isinstance(next_link, str) and next_link else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _has(categories: object, category: str) -> bool:
    return isinstance(categories, list) and category in categories


# ---- appointments ----------------------------------------------------------------------------------------


def _window_covers(ctx: SyncContext, snapshot: Mapping[str, Any], *, masters: bool) -> bool:
    """Whether the snapshot's appointment overlaps the window the way calendarView and the F&O query
    select (strictly: an item ending exactly at the window's start is in neither)."""
    try:
        appointment = appointment_from_record(snapshot)
    except (ValueError, TypeError, KeyError):
        return False  # unreadable: never call it missing
    if appointment.series == "master" and not masters:
        return False  # calendarView lists a series' instances, never its master
    start, end = ctx.window()
    return appointment.end > start and appointment.start < end


async def appointment_graph(ctx: SyncContext, mailbox: Mailbox) -> Inventory:
    """The calendar in the sync window: one calendarView listing with `$select`.

    calendarView returns single instances, occurrences and exceptions, never series masters
    (https://learn.microsoft.com/graph/api/user-list-calendarview); a master counts as listed, with an
    unknown version, when one of its instances is. `$select` and `$top` are OData query parameters the
    method supports."""
    start, end = ctx.window()
    category = ctx.settings.category
    path = (
        f"users/{user_seg(mailbox.address)}/calendarView"
        f"?startDateTime={quote(graph_datetime(start))}&endDateTime={quote(graph_datetime(end))}"
        f"&$select=id,changeKey,categories,type,seriesMasterId&$top={_GRAPH_TOP}"
    )
    items: dict[str, Listed] = {}
    masters: dict[str, bool] = {}
    async for event in _graph_pages(ctx, mailbox.address, path):
        graph_id = _text(event.get("id"))
        if graph_id is None:
            continue
        kind = event.get("type")
        marked = _has(event.get("categories"), category) and kind in _SYNCED_EVENT_TYPES
        master = _text(event.get("seriesMasterId"))
        if kind in ("occurrence", "exception") and master is not None:
            masters[master] = masters.get(master, False) or marked
        items[graph_id] = Listed(version=_text(event.get("changeKey")), marked=marked)
    for master, marked in masters.items():
        items.setdefault(master, Listed(version=None, marked=marked))
    return Inventory(items, lambda link: _window_covers(ctx, link.snapshot, masters=False))


async def appointment_instances(
    ctx: SyncContext, mailbox: Mailbox, master_id: str
) -> list[dict[str, Any]] | None:
    """The occurrences and exceptions of one series in the sync window, whole: one listing of the master's
    instances (https://learn.microsoft.com/graph/api/event-list-instances; it supports OData query
    parameters such as `$top`). A cancelled occurrence is not among them. None: the master is gone."""
    start, end = ctx.window()
    path = (
        f"users/{user_seg(mailbox.address)}/events/{seg(master_id)}/instances"
        f"?startDateTime={quote(graph_datetime(start))}&endDateTime={quote(graph_datetime(end))}"
        f"&$top={_GRAPH_TOP}"
    )
    try:
        return [event async for event in _graph_pages(ctx, mailbox.address, path)]
    except GraphNotFound:
        return None


async def activity_rows(
    ctx: SyncContext, mailbox: Mailbox, category: str, extra: str | None, select: list[str]
) -> list[dict[str, Any]]:
    """The mailbox worker's marked activities of `category` (all companies), `$select`ed."""
    worker = mailbox.record.personnel_number
    if not worker or not is_safe_text(worker):
        return []
    flt = and_all(
        f"Category eq {enum_literal('smmActivityCategory', category)}",
        exact_string_eq("ResponsibleWorkerPersonnelNumber", worker),
        f"KeepSynchronized eq {enum_literal('NoYes', 'Yes')}",
        extra,
    )
    fields = [
        "dataAreaId",
        "ActivityNumber",
        "ResponsibleWorkerPersonnelNumber",
        "LastDateTimeEdited",
        *select,
    ]
    rows: list[dict[str, Any]] = []
    async for row in ctx.fno.query("Activities", filter=flt, select=list(dict.fromkeys(fields))):
        if str(row.get("ResponsibleWorkerPersonnelNumber") or "") != worker:
            continue  # F&O compares case-insensitively and with wildcards
        if not isinstance(row.get("dataAreaId"), str) or not isinstance(row.get("ActivityNumber"), str):
            continue
        rows.append(row)
    return rows


def _activity_key(row: Mapping[str, Any]) -> str | None:
    try:
        return fno_key(str(row["dataAreaId"]), str(row["ActivityNumber"]))
    except (KeyError, ValueError):
        return None


async def appointment_fno(ctx: SyncContext, mailbox: Mailbox, category: str) -> Inventory:
    """The worker's marked appointment activities overlapping the window: one query, key and edit stamp."""
    start, end = ctx.window()
    window = and_all(f"EndDateTime gt {datetime_literal(start)}", f"StartDateTime lt {datetime_literal(end)}")
    items: dict[str, Listed] = {}
    for row in await activity_rows(ctx, mailbox, category, window, []):
        key = _activity_key(row)
        if key is not None:
            items[key] = Listed(version=row_version(row, "LastDateTimeEdited") or None, marked=True)
    return Inventory(items, lambda link: _window_covers(ctx, link.snapshot, masters=True))


# ---- tasks -----------------------------------------------------------------------------------------------


def _task_wanted(ctx: SyncContext, completed: bool, day: date | None) -> bool:
    """kinds/task.py RULES.in_scope: open tasks always, a completed one only if dated in the window's past part."""
    return not completed or day is None or day >= ctx.window()[0].date()


async def task_graph(ctx: SyncContext, mailbox: Mailbox, sync_list: str | None) -> Inventory:
    """The tasks of the sync list and of every list holding a linked task: one listing per list
    (https://learn.microsoft.com/graph/api/todotasklist-list-tasks supports OData query parameters;
    `$select` keeps `id` and the `@odata.etag` the product uses as the task's version)."""
    category = ctx.settings.category
    lists = {sync_list} if sync_list else set()
    for link in await ctx.store.list_links("task", mailbox.address):
        if not link.is_claim:
            try:
                lists.add(todo.split(link.graph_id)[0])
            except ValueError:
                continue
    items: dict[str, Listed] = {}
    listed: set[str] = set()
    for list_id in sorted(lists):
        path = (
            f"users/{user_seg(mailbox.address)}/todo/lists/{seg(list_id)}/tasks"
            f"?$select=id,categories,status,dueDateTime,startDateTime&$top={_TODO_TOP}"
        )
        try:
            async for task in _graph_pages(ctx, mailbox.address, path):
                task_id = task.get("id")
                if not todo.is_usable_id(task_id):
                    continue
                try:
                    graph_id = todo.compose(list_id, str(task_id))
                except ValueError:
                    continue
                marked = _has(task.get("categories"), category)
                day = todo_date(task.get("dueDateTime"), mailbox.zone) or todo_date(
                    task.get("startDateTime"), mailbox.zone
                )
                items[graph_id] = Listed(
                    version=_text(task.get("@odata.etag")),
                    marked=marked,
                    # Unstamped tasks are imported only from the configured list (kinds/task.py).
                    wanted=list_id == sync_list and _task_wanted(ctx, task.get("status") == "completed", day),
                )
        except GraphNotFound:
            continue  # the list is gone: its linked tasks count as missing (the deletion check reads them)
        listed.add(list_id)

    def covers(link: Link) -> bool:
        try:
            return todo.split(link.graph_id)[0] in listed
        except ValueError:
            return False

    return Inventory(items, covers)


async def task_fno(ctx: SyncContext, mailbox: Mailbox, category: str) -> Inventory:
    """The worker's marked task activities (no window: tasks have none), with what decides whether an
    unlinked one would be created in To Do."""
    select = ["ActivityStatus", "Closed", "StartDateTime", "EndDateTime"]
    items: dict[str, Listed] = {}
    for row in await activity_rows(ctx, mailbox, category, None, select):
        key = _activity_key(row)
        if key is None:
            continue
        try:
            completed = is_closed(row)
        except ValueError:
            completed = False  # unreadable status: let the pair job judge it
        instant = parse_instant(row.get("EndDateTime")) or parse_instant(row.get("StartDateTime"))
        day = instant.astimezone(mailbox.zone).date() if instant is not None else None
        items[key] = Listed(
            version=row_version(row, "LastDateTimeEdited") or None,
            marked=True,
            wanted=_task_wanted(ctx, completed, day),
        )
    return Inventory(items, _always)


# ---- contacts --------------------------------------------------------------------------------------------


async def contact_graph(
    ctx: SyncContext, mailbox: Mailbox, folder_id: str | None, default_folder_id: str | None
) -> Inventory:
    """The list's folder (every contact in it is on the list) and, for private lists (`default_folder_id`
    given), the contacts of the default Contacts folder carrying the sync category: `$select` of id,
    changeKey and categories (https://learn.microsoft.com/graph/api/user-list-contacts: the folder form
    `/users/{id}/contactfolders/{id}/contacts`, the same folder the mark scan's delta reads; `$filter` with
    `categories/any` as on the other Outlook items)."""
    if folder_id is None:
        return Inventory({}, lambda _link: False)  # no folder yet: nothing in it to compare
    category = ctx.settings.category
    user = user_seg(mailbox.address)
    select = f"$select=id,changeKey,categories&$top={_GRAPH_TOP}"
    items: dict[str, Listed] = {}
    sources = [(f"users/{user}/contactFolders/{seg(folder_id)}/contacts?{select}", True)]
    if default_folder_id is not None:
        flt = quote(f"categories/any(c:c eq {odata_string(category)})", safe="(),:'")
        path = f"users/{user}/contactFolders/{seg(default_folder_id)}/contacts?$filter={flt}&{select}"
        sources.append((path, False))
    for path, in_folder in sources:
        async for contact in _graph_pages(ctx, mailbox.address, path):
            graph_id = _text(contact.get("id"))
            if graph_id is None or graph_id in items:
                continue
            categories = contact.get("categories")
            if not in_folder and not _has(categories, category):
                continue
            problem = isinstance(categories, list) and any(c in _PROBLEM_CATEGORIES for c in categories)
            # A contact flagged "company not found" waits for the user's edit (which its delta reports).
            items[graph_id] = Listed(version=_text(contact.get("changeKey")), marked=True, wanted=not problem)
    return Inventory(items, _always)


_PRIVATE_FIELDS = [
    "dataAreaId",
    "ContactPersonId",
    "ContactPersonResponsiblePersonnelNumber",
    "MicrosoftOutlookCategories",
    "IsInactive",
    "LastEditDateTime",
]


def _contact_items(
    rows: Mapping[str, Mapping[str, Any]],
    by_rule: Callable[[Mapping[str, Any]], bool],
    entries: Mapping[str, ContactListEntry],
) -> dict[str, Listed]:
    return {
        key: Listed(
            version=row_version(row, "LastEditDateTime") or None,
            marked=effective(by_rule(row), entries.get(key)),
        )
        for key, row in rows.items()
    }


async def _entries(ctx: SyncContext, mailbox: Mailbox) -> dict[str, ContactListEntry]:
    return {e.contact_key: e for e in await ctx.store.list_contact_entries(mailbox.address)}


async def _explicit_members(
    ctx: SyncContext, entries: Mapping[str, ContactListEntry], listed: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Contacts put on the list explicitly that the list's own query did not return (usually none)."""
    keys = [k for k, e in entries.items() if e.member and k not in listed]
    return await contacts_by_key(ctx.fno, keys) if keys else {}


async def private_contact_fno(ctx: SyncContext, mailbox: Mailbox) -> Inventory:
    """The worker's contact persons (one query, the fields that decide membership and the edit stamp),
    plus explicit additions; each marked as the private list's rule and entries say."""
    worker = mailbox.record.personnel_number
    if not worker or not is_safe_text(worker):
        return Inventory({}, lambda _link: False)
    rows: dict[str, dict[str, Any]] = {}
    flt = exact_string_eq("ContactPersonResponsiblePersonnelNumber", worker)
    async for row in ctx.fno.query(CONTACT_PERSONS, filter=flt, select=_PRIVATE_FIELDS):
        key = row_key(row)
        if key is not None:
            rows[key] = row
    entries = await _entries(ctx, mailbox)
    rows.update(await _explicit_members(ctx, entries, rows))
    allowed = ctx.settings.contact_categories
    return Inventory(
        _contact_items(rows, lambda row: on_private_rule(row, worker, allowed), entries), _always
    )


async def shared_contact_fno(ctx: SyncContext, mailbox: Mailbox, members: Mapping[str, Any]) -> Inventory:
    """A shared list: the members its query selects (read by the caller) plus explicit additions."""
    entries = await _entries(ctx, mailbox)
    rows: dict[str, Mapping[str, Any]] = dict(members)
    rows.update(await _explicit_members(ctx, entries, rows))
    return Inventory(_contact_items(rows, lambda row: row_key(row) in members, entries), _always)


__all__ = [
    "Inventory",
    "Listed",
    "appointment_fno",
    "appointment_graph",
    "appointment_instances",
    "contact_graph",
    "private_contact_fno",
    "shared_contact_fno",
    "task_fno",
    "task_graph",
]
