"""Adopting a predecessor's links: activities whose `OutlookEntryId` an earlier Outlook sync wrote
(the AX 2012 client's MAPI entry id in hex, an EWS id) are linked to their Outlook items by translating the
ids (exchange/id_translation.py), before the first-run matching by subject and start.

Adopting one activity writes two things, both idempotent, then leaves the linking to the pair job:
1. with `SYNC_MIGRATE_CATEGORIES=map`, the predecessor's categories on the event are renamed or dropped as
   `SYNC_MIGRATE_CATEGORY_MAP` says (the category list only, never to an occurrence);
2. the activity's `OutlookEntryId` becomes the event's Graph id, exactly as if the product had made the
   activity from that event. From then on both directions find the pair by what the product always looks
   for (the id in `OutlookEntryId`), and the pair job links it with its claims and ETag-guarded links. A
   crash between the steps repeats them; nothing is created, and no attendee is written: at the first link
   of an activity that names its event the Outlook side wins every difference (pipeline/pair.py), so the
   event is written at most its category list (the mark), which sends no meeting update.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync_core.d365.odata import and_all, enum_literal, exact_string_eq, is_safe_text
from sync_core.exchange.id_translation import ITEM_NOT_FOUND, Translation, translate_any
from sync_core.kinds.task_todo import ENTRY_PREFIX as TODO_ENTRY_PREFIX
from sync_core.model.appointment import MappingError, appointment_from_activity, to_record
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import fno_key, split_fno_key
from sync_core.runtime.kind import ExchangeChange, FnoItem, GraphItem
from sync_core.settings import MigrateCategories
from sync_core.state.base import AuditEntry

log = logging.getLogger(__name__)

KIND = "appointment"
TRANSLATED, STRICT_KEY, NOT_LINKED, LINKED = "translated", "strict-key", "not-linked", "linked"
# Why an activity is not linked by either way, in an administrator's words (docs/migration.md).
REASONS = {
    "no-id": "no Outlook id and no event with the same subject and start: the next cycle creates it in Outlook",
    "item-deleted": "its Outlook item no longer exists and no event matches: the next cycle creates it again",
    "id-unreadable": "its Outlook id is no Exchange id of this mailbox and no event matches: the next cycle"
    " creates it in Outlook",
    "taken": "its Outlook item belongs to another activity or link and no other event matches: the next"
    " cycle creates it in Outlook",
    "series-member": "an occurrence or exception of a series that no event matches: series are made in"
    " Outlook only, so it stays unlinked",
    "outside-window": "outside the sync window: left alone until it comes into the window",
    "unreadable-activity": "the activity has no readable start or end: it fails until that is fixed",
}


@dataclass
class Candidate:
    """One marked appointment activity of the mailbox's worker and what adoption would do with it."""

    key: str
    entry: str  # OutlookEntryId as found ("" none)
    row: Mapping[str, Any] = field(repr=False)
    outcome: str = NOT_LINKED
    reason: str = ""
    graph_id: str | None = None
    graph_item: Mapping[str, Any] | None = field(default=None, repr=False)


def is_foreign(entry: object) -> bool:
    """An id the product did not write for this kind (To Do tasks' entries carry a prefix)."""
    return isinstance(entry, str) and bool(entry.strip()) and not entry.startswith(TODO_ENTRY_PREFIX)


async def marked_activities(ctx: SyncContext, mailbox: Mailbox) -> list[dict[str, Any]]:
    """The worker's marked appointment activities (all companies), whole rows."""
    worker = mailbox.record.personnel_number
    if not worker or not is_safe_text(worker):
        return []
    flt = and_all(
        f"Category eq {enum_literal('smmActivityCategory', 'Appointment')}",
        exact_string_eq("ResponsibleWorkerPersonnelNumber", worker),
        f"KeepSynchronized eq {enum_literal('NoYes', 'Yes')}",
    )
    rows: list[dict[str, Any]] = []
    async for row in ctx.fno.query("Activities", filter=flt):
        if str(row.get("ResponsibleWorkerPersonnelNumber") or "") != worker:
            continue  # F&O compares case-insensitively and with wildcards
        if isinstance(row.get("dataAreaId"), str) and isinstance(row.get("ActivityNumber"), str):
            rows.append(row)
    return rows


async def candidates(ctx: SyncContext, mailbox: Mailbox) -> tuple[list[Candidate], int]:
    """The unlinked marked activities, each with its translated id checked; and how many are linked."""
    found: list[Candidate] = []
    linked = 0
    for row in await marked_activities(ctx, mailbox):
        key = fno_key(str(row["dataAreaId"]), str(row["ActivityNumber"]))
        if await ctx.store.get_link_by_fno(KIND, mailbox.address, key) is not None:
            linked += 1  # linked, or a create in progress (a claim): the pair job's business
            continue
        entry = row.get("OutlookEntryId")
        found.append(
            Candidate(key, entry.strip() if isinstance(entry, str) and is_foreign(entry) else "", row)
        )
    with_ids = [c for c in found if c.entry]
    translations = await translate_any(ctx.graph, mailbox.address, [c.entry for c in with_ids])
    for candidate in with_ids:
        await _check(ctx, mailbox, candidate, translations[candidate.entry])
    return found, linked


async def _check(ctx: SyncContext, mailbox: Mailbox, candidate: Candidate, translation: Translation) -> None:
    if translation.target is None:
        candidate.reason = "item-deleted" if translation.error == ITEM_NOT_FOUND else "id-unreadable"
        return
    kind = ctx.kinds[KIND]
    item = await kind.graph_side.get(ctx, mailbox, translation.target)
    if item is None or item.item.get("isCancelled"):
        candidate.reason = "item-deleted"
        return
    if item.stamp not in (None, candidate.key):
        candidate.reason = "taken"  # the product made it for another activity
        return
    other = await ctx.store.get_link_by_graph(KIND, mailbox.address, item.id)
    if other is not None and other.fno_key != candidate.key:
        candidate.reason = "taken"
        return
    candidate.outcome, candidate.reason = TRANSLATED, "translated"
    candidate.graph_id, candidate.graph_item = item.id, item.item


def mapped_categories(ctx: SyncContext, categories: list[str]) -> list[str]:
    """The event's categories after SYNC_MIGRATE_CATEGORY_MAP (an empty new name drops one), order kept."""
    mapping = ctx.settings.category_map
    out: list[str] = []
    for name in categories:
        new = mapping.get(name, name)
        if new and new not in out:
            out.append(new)
    return out


async def adopt(ctx: SyncContext, mailbox: Mailbox, candidate: Candidate, *, cycle_id: str = "") -> bool:
    """Steps 1 and 2 above for a translated candidate; True when anything was written."""
    assert candidate.graph_id is not None and candidate.graph_item is not None
    wrote = False
    event = candidate.graph_item
    categories = [str(c) for c in event.get("categories") or []]
    if ctx.settings.migrate_categories is MigrateCategories.MAP and event.get("type") != "occurrence":
        new = mapped_categories(ctx, categories)
        if new != categories:
            await ctx.graph.update_event(mailbox.address, candidate.graph_id, {"categories": new})
            wrote = True
    if candidate.row.get("OutlookEntryId") != candidate.graph_id:
        company, number = split_fno_key(candidate.key)
        await ctx.fno.update(
            "Activities",
            {"dataAreaId": company, "ActivityNumber": number},
            {"OutlookEntryId": candidate.graph_id},
        )
        wrote = True
        # The previous id stays findable: it is what the predecessor knew the item by.
        await ctx.store.append_audit(
            AuditEntry(
                at=ctx.now(),
                kind=KIND,
                mailbox=mailbox.address,
                fno_key=candidate.key,
                graph_id=candidate.graph_id,
                action="adopted",
                detail={"previousOutlookEntryId": candidate.entry, "cycle": cycle_id},
            )
        )
    log.info("predecessor's link adopted", extra={"kind": KIND, "wrote": wrote})
    return wrote


def strict_key_of(ctx: SyncContext, mailbox: Mailbox, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The activity's canonical record (for the strict key and the window); None when it cannot be read."""
    try:
        appointment = appointment_from_activity(
            dict(row),
            attendee_emails=[],
            sync_category=ctx.settings.category,
            time_zone=mailbox.zone,
            owner_addresses=mailbox.owner_addresses,
        )
    except (MappingError, ValueError):
        return None
    return to_record(appointment)


async def adopt_at_first_scan(ctx: SyncContext, mailbox: Mailbox) -> list[ExchangeChange]:
    """The mailbox's first calendar scan (no delta token yet): adopt what translates, before any pair job
    could match or create. Returns a change per adopted event, so that a pair job links each even when the
    event carries no mark yet (the activity's mark is what links it)."""
    if ctx.dry_run or not ctx.settings.adopt_predecessor_ids:
        return []
    found, _linked = await candidates(ctx, mailbox)
    changes: list[ExchangeChange] = []
    for candidate in found:
        if candidate.outcome != TRANSLATED or candidate.graph_id is None:
            continue
        if any(c.graph_id == candidate.graph_id for c in changes):
            continue  # two activities name one item: the first (lowest key) gets it, as in the report
        await adopt(ctx, mailbox, candidate)
        changes.append(ExchangeChange(candidate.graph_id, marked=True))
    return changes


async def adopted_partner(ctx: SyncContext, mailbox: Mailbox, fno: FnoItem) -> GraphItem | None:
    """The event an unlinked activity's foreign OutlookEntryId names, translated and adopted now (a pair
    job that runs before its mailbox's first scan, or an activity the predecessor linked since)."""
    entry = fno.row.get("OutlookEntryId")
    if not isinstance(entry, str) or not is_foreign(entry):
        return None
    translation = (await translate_any(ctx.graph, mailbox.address, [entry.strip()]))[entry.strip()]
    candidate = Candidate(fno.key, entry.strip(), fno.row)
    await _check(ctx, mailbox, candidate, translation)
    if candidate.outcome != TRANSLATED or candidate.graph_id is None:
        return None
    kind = ctx.kinds[KIND]
    if not ctx.dry_run and await adopt(ctx, mailbox, candidate):
        return await kind.graph_side.get(ctx, mailbox, candidate.graph_id)  # its categories may have changed
    return await kind.graph_side.get(ctx, mailbox, candidate.graph_id)
