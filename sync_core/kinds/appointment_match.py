"""First-run matching of appointments (docs/spec.md §3): before creating anything, look for the partner that
already exists unlinked on the other side, for example an activity a user copied by hand.

The product's own stamp is tried first (`find_graph_partner` / `find_fno_partner`); this is the second,
strict key. F&O keeps no iCalUId, so the key is: same owner (mailbox / responsible worker), same subject
(after the usual normalisation, case-sensitive), the same start to the minute and the same all-day flag.
Candidates that carry another item's identity (a different stamp or OutlookEntryId) are never taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sync_core.d365.odata import and_all, datetime_literal, enum_literal, exact_string_eq, is_safe_text
from sync_core.exchange.urls import graph_datetime, odata_string, user_seg
from sync_core.model.appointment import MappingError, appointment_from_event, from_record
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import STAMP_PROPERTY_ID, fno_key, stamp_of

_MAX_PAGES = 5  # a one-minute calendar view holds a handful of events; more pages means something is odd


def strict_key(record: Mapping[str, Any]) -> tuple[Any, ...]:
    appointment = from_record(record)
    return (appointment.subject, appointment.start, appointment.is_all_day)


async def graph_candidates(ctx: SyncContext, mailbox: Mailbox, record: Mapping[str, Any]) -> list[str]:
    """Ids of events in the mailbox with the record's strict key, oldest first (series masters excluded:
    their occurrences are what the calendar shows)."""
    key = strict_key(record)
    start = key[1]
    query = (
        f"startDateTime={graph_datetime(start)}&endDateTime={graph_datetime(start + timedelta(minutes=1))}"
        f"&$expand=singleValueExtendedProperties($filter=id eq {odata_string(STAMP_PROPERTY_ID)})"
    )
    url: str | None = f"users/{user_seg(mailbox.address)}/calendarView?{query}"
    found: list[tuple[str, str]] = []
    for _ in range(_MAX_PAGES):
        if url is None:
            break
        page = await ctx.graph.request_json("GET", mailbox.address, url) or {}
        for event in page.get("value") or []:
            if not isinstance(event, dict) or event.get("isCancelled") or event.get("type") == "seriesMaster":
                continue
            if stamp_of(event) is not None:
                continue  # made by the product for another activity: found by its stamp, never by content
            try:
                appointment = appointment_from_event(
                    event,
                    sync_category=ctx.settings.category,
                    time_zone=mailbox.zone,
                    owner_addresses=mailbox.owner_addresses,
                )
            except (MappingError, ValueError):
                continue
            if (appointment.subject, appointment.start, appointment.is_all_day) == key:
                found.append((str(event.get("createdDateTime") or ""), str(event["id"])))
        link = page.get("@odata.nextLink")
        url = link if isinstance(link, str) else None
    return [graph_id for _created, graph_id in sorted(found)]


async def fno_candidates(
    ctx: SyncContext, mailbox: Mailbox, record: Mapping[str, Any], graph_id: str
) -> list[str]:
    """Keys of the worker's appointment activities with the record's strict key, lowest number first."""
    start = strict_key(record)[1]  # subject and all-day are compared by the caller, exactly
    worker = mailbox.record.personnel_number
    if not worker or not is_safe_text(worker):
        return []
    flt = and_all(
        f"Category eq {enum_literal('smmActivityCategory', 'Appointment')}",
        exact_string_eq("ResponsibleWorkerPersonnelNumber", worker),
        f"StartDateTime ge {datetime_literal(start)}",
        f"StartDateTime lt {datetime_literal(start + timedelta(minutes=1))}",
    )
    keys: list[str] = []
    async for row in ctx.fno.query("Activities", filter=flt):
        entry = row.get("OutlookEntryId")
        if isinstance(entry, str) and entry and entry != graph_id:
            continue  # created from (or for) another Outlook item
        company, number = row.get("dataAreaId"), row.get("ActivityNumber")
        if not isinstance(company, str) or not isinstance(number, str) or not number:
            continue
        if str(row.get("ResponsibleWorkerPersonnelNumber") or "") != worker:
            continue  # F&O compares case-insensitively and with wildcards
        keys.append(fno_key(company, number))
    return sorted(keys)


def same_key(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return strict_key(a) == strict_key(b)
    except (ValueError, TypeError):
        return False
