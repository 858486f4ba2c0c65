"""`migrate [--dry-run]`: take over from a predecessor's Outlook sync, one mailbox at a time.

For each mailbox in scope, the worker's marked appointment activities that are not linked yet are sorted
into: linked by translated id (kinds/appointment_adopt.py), linked by the strict key (the first-run match of
kinds/appointment_match.py, which a normal cycle applies), or not linked, with the reason. The dry run reads
only. The run adopts the translated ones (categories as set, `OutlookEntryId`) and links each with the pair
job, so its link, claim and audit entry are made as every cycle makes them; the strict-key ones the next
cycle links. Running it again finds them linked and changes nothing.

The first scan of each mailbox does the same adoption by itself (`SYNC_ADOPT_PREDECESSOR_IDS`, on by
default): see kinds/appointment_adopt.py `adopt_at_first_scan`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sync_core.contacts.registry import is_shared_only
from sync_core.exchange.urls import graph_datetime, odata_string, user_seg
from sync_core.kinds.appointment_adopt import (
    KIND,
    LINKED,
    NOT_LINKED,
    REASONS,
    STRICT_KEY,
    TRANSLATED,
    Candidate,
    adopt,
    candidates,
    strict_key_of,
)
from sync_core.kinds.appointment_match import strict_key
from sync_core.model.appointment import MappingError, appointment_from_event, from_record
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import STAMP_PROPERTY_ID, stamp_of
from sync_core.runtime.messages import SyncPair
from sync_core.service_errors import ServiceUnusable
from sync_core.state.base import MailboxRecord

_TOP = 100


@dataclass
class MailboxMigration:
    mailbox: str
    linked_already: int = 0
    items: list[Candidate] = field(default_factory=list)
    adopted: int = 0  # linked by this run
    failed: list[str] = field(default_factory=list)  # activity keys whose adoption failed, this run

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.items if c.outcome == outcome)

    def reasons(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.items:
            if c.outcome == NOT_LINKED:
                out[c.reason] = out.get(c.reason, 0) + 1
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "linkedAlready": self.linked_already,
            "byTranslatedId": self.count(TRANSLATED),
            "byStrictKey": self.count(STRICT_KEY),
            "notLinked": self.count(NOT_LINKED),
            "notLinkedWhy": self.reasons(),
            "adopted": self.adopted,
            "failed": self.failed,
            # Keys and outcomes only: no subjects (the report may be pasted into a ticket).
            "activities": [{"activity": c.key, "outcome": c.outcome, "reason": c.reason} for c in self.items],
        }


async def plan_mailbox(ctx: SyncContext, mailbox: Mailbox) -> MailboxMigration:
    """What adoption and the first-run match would do with the mailbox's unlinked marked activities."""
    found, linked = await candidates(ctx, mailbox)
    result = MailboxMigration(mailbox.address, linked_already=linked)
    claimed: set[str] = set()
    kind = ctx.kinds[KIND]
    for candidate in found:
        if candidate.outcome == TRANSLATED and candidate.graph_id in claimed:
            candidate.outcome, candidate.reason = NOT_LINKED, "taken"  # two activities named one item
        if candidate.graph_id and candidate.outcome == TRANSLATED:
            claimed.add(candidate.graph_id)
    rest = [c for c in found if c.outcome != TRANSLATED]
    events = await _unlinked_events(ctx, mailbox, claimed) if rest else {}
    for candidate in sorted(rest, key=lambda c: c.key):
        record = strict_key_of(ctx, mailbox, candidate.row)
        if record is None:
            candidate.reason = "unreadable-activity"
            continue
        if not kind.rules.in_scope(ctx, record):
            candidate.reason = "outside-window"
            continue
        pool = events.get(strict_key(record)) or []
        if pool:
            candidate.outcome, candidate.reason = STRICT_KEY, "strict-key"
            candidate.graph_id = pool.pop(0)
        elif from_record(record).series != "single":
            candidate.reason = "series-member"  # never created in Outlook, whatever its id said
        elif not candidate.reason:
            candidate.reason = "no-id"
    result.items = sorted(found, key=lambda c: c.key)
    return result


async def _unlinked_events(
    ctx: SyncContext, mailbox: Mailbox, taken: set[str]
) -> dict[tuple[Any, ...], list[str]]:
    """Events in the window by strict key, oldest first, that the first-run match could take: not stamped
    by the product, not linked, not cancelled, not a series master, not adopted by translated id."""
    start, end = ctx.window()
    expand = f"singleValueExtendedProperties($filter=id eq {odata_string(STAMP_PROPERTY_ID)})"
    link: str | None = (
        f"users/{user_seg(mailbox.address)}/calendarView"
        f"?startDateTime={quote(graph_datetime(start))}&endDateTime={quote(graph_datetime(end))}"
        f"&$expand={quote(expand)}&$top={_TOP}"
    )
    found: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
    while link is not None:
        page = await ctx.graph.request_json("GET", mailbox.address, link) or {}
        for event in page.get("value") or []:
            if not isinstance(event, dict) or not isinstance(event.get("id"), str):
                continue
            if event.get("isCancelled") or event.get("type") == "seriesMaster" or stamp_of(event):
                continue
            if event["id"] in taken or await ctx.store.get_link_by_graph(KIND, mailbox.address, event["id"]):
                continue
            try:
                appointment = appointment_from_event(
                    event,
                    sync_category=ctx.settings.category,
                    time_zone=mailbox.zone,
                    owner_addresses=mailbox.owner_addresses,
                )
            except (MappingError, ValueError):
                continue
            key = (appointment.subject, appointment.start, appointment.is_all_day)
            found.setdefault(key, []).append((str(event.get("createdDateTime") or ""), event["id"]))
        next_link = page.get("@odata.nextLink")
        link = next_link if isinstance(next_link, str) and next_link else None
    return {key: [graph_id for _c, graph_id in sorted(pairs)] for key, pairs in found.items()}


async def adopt_mailbox(ctx: SyncContext, plan: MailboxMigration, mailbox: Mailbox) -> None:
    """Adopt each translated activity and link it with the pair job (not in a dry run)."""
    from sync_core.pipeline.pair import sync_pair  # pair imports kinds; kinds import this module's users

    cycle_id = uuid.uuid4().hex
    for candidate in plan.items:
        if candidate.outcome != TRANSLATED:
            continue
        try:
            await adopt(ctx, mailbox, candidate, cycle_id=cycle_id)
            await sync_pair(
                ctx, SyncPair(kind=KIND, mailbox=mailbox.address, fno_key=candidate.key, cycle_id=cycle_id)
            )
        except ServiceUnusable:
            raise  # F&O or Graph cannot be used at all: the command stops with exit 3 and the fix
        except Exception as exc:  # one activity never stops the others; the reason is the error's class
            plan.failed.append(f"{candidate.key}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if await ctx.store.get_link_by_fno(KIND, mailbox.address, candidate.key) is not None:
            plan.adopted += 1


def in_scope_records(records: Iterable[MailboxRecord]) -> list[MailboxRecord]:
    """Worker mailboxes that sync (a paused one is left as it is; shared mailboxes hold contacts only)."""
    return [r for r in records if r.status == "ok" and not r.paused and not is_shared_only(r)]


def format_text(plans: list[MailboxMigration], *, dry_run: bool, started: datetime) -> str:
    lines = [
        "Dry run: nothing was written." if dry_run else "Migration run: translated links adopted.",
        f"(as of {started:%Y-%m-%d %H:%M} UTC; appointments of each mailbox's worker, marked in F&O, not linked"
        " yet)",
    ]
    for plan in plans:
        lines.append(f"{plan.mailbox}:")
        verb = "would be linked" if dry_run else "linked"
        lines.append(f"  {plan.count(TRANSLATED):5}  {verb} by translated Outlook id")
        lines.append(f"  {plan.count(STRICT_KEY):5}  would be linked by subject and start (the next cycle)")
        lines.append(f"  {plan.count(NOT_LINKED):5}  not linked:")
        for reason, number in plan.reasons().items():
            lines.append(f"  {number:9}  {REASONS.get(reason, reason)}")
        lines.append(f"  {plan.linked_already:5}  linked already")
        if not dry_run:
            lines.append(f"  {plan.adopted:5}  linked by this run")
        for failure in plan.failed:
            lines.append(f"  FAILED {failure}")
    if not plans:
        lines.append("no mailbox in scope is ready (see `python -m sync_core status`)")
    return "\n".join(lines)


__all__ = [
    "LINKED",
    "MailboxMigration",
    "adopt_mailbox",
    "format_text",
    "in_scope_records",
    "plan_mailbox",
]
