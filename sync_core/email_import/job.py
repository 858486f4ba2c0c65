"""Import one marked message (an `ImportMessage`): the activity, its parent links, then the category swap.

Exactly once per internetMessageId and company, whatever happens:
- the message's stamp (the product's extended property, written with the category swap in one PATCH) says
  a copy of an imported message is done already;
- the claim record (`claims`) lets one worker create; the others wait (a transient error, retried);
- the activity carries the message identity in `OutlookEntryId`, so a crash between "created in F&O" and
  "claim updated", or a lost state store, finds the activity instead of creating a second one.
The steps are ordered so that a crash at any point is repaired by running the job again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sync_core.d365 import entities
from sync_core.email_import import claims, graph
from sync_core.email_import.parties import link_parties, parties_for
from sync_core.model.email import (
    ACTIVITY_CATEGORY,
    TRUNCATION_MARKER,
    activity_body,
    email_from_message,
    entry_id,
    has_category,
    replace_category,
)
from sync_core.runtime import owner
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.failures import is_permanent
from sync_core.runtime.keys import fno_key, split_fno_key, stamp_of
from sync_core.runtime.messages import ImportMessage
from sync_core.runtime.report import PlannedAction
from sync_core.state.base import AuditEntry, ConcurrencyError, MailboxRecord

log = logging.getLogger(__name__)
NO_WORKER = "no F&O worker has this address as PrimaryContactEmail"


class ImportFailed(ValueError):
    """The message cannot be imported as things are (permanent): it gets the failure category."""


def has_no_worker(record: MailboxRecord) -> bool:
    """A mailbox the planner skipped because no worker matches it (its marked messages fail visibly)."""
    return record.status != "ok" and not record.personnel_number and record.reason.startswith("no F&O worker")


async def tenant_domains(ctx: SyncContext) -> tuple[str, ...]:
    """SYNC_TENANT_DOMAINS, or when blank the domains of the mailboxes in scope."""
    configured = {d.strip().lower().lstrip("@") for d in ctx.settings.tenant_domains.split(",")} - {""}
    if configured:
        return tuple(sorted(configured))
    return tuple(sorted({r.mailbox.rpartition("@")[2].lower() for r in await ctx.mailbox_records()}))


async def import_message(ctx: SyncContext, message: ImportMessage) -> None:
    address = message.mailbox.lower()
    record = ctx.registry.get(address) or await ctx.store.get_mailbox(address)
    if record is None:
        return  # no longer in scope
    item = await graph.get_message(ctx, address, message.graph_id)
    if item is None or not has_category(item.get("categories"), ctx.settings.import_category):
        return  # deleted, already imported (a repeated message), or unmarked meanwhile
    try:
        if record.status != "ok":
            if not has_no_worker(record):
                return  # the mailbox cannot be read now (reported by the planner); try next cycle
            raise ImportFailed("no F&O worker for this mailbox (PrimaryContactEmail), so no activity owner")
        await _import(ctx, Mailbox.from_record(record), message, item)
    except Exception as exc:
        if is_permanent(exc) and not ctx.dry_run:
            await _mark_failed(ctx, address, item)
        raise


async def _mark_failed(ctx: SyncContext, address: str, item: dict[str, Any]) -> None:
    settings = ctx.settings
    categories = replace_category(
        item.get("categories"), [settings.import_category], settings.import_failed_category
    )
    try:
        await graph.write_categories(ctx, address, str(item["id"]), categories)
    except Exception as exc:  # the failure itself is recorded by the caller; this is a courtesy
        log.warning("could not set the failure category", extra={"error": type(exc).__name__})


async def _import(ctx: SyncContext, mailbox: Mailbox, message: ImportMessage, item: dict[str, Any]) -> None:
    company = mailbox.record.company
    if not mailbox.record.personnel_number:
        raise ImportFailed("no F&O worker for this mailbox (PrimaryContactEmail), so no activity owner")
    stamped = await _stamped_activity(ctx, company, stamp_of(item))
    if stamped is not None:
        # A copy of a message imported before (the stamp travels with copies): only the category is due.
        await _finish(ctx, mailbox, item, stamped, created=False, parties=0, truncated=False)
        return
    email = email_from_message(
        item, exclude=mailbox.owner_addresses, exclude_domains=await tenant_domains(ctx)
    )
    entry = entry_id(email.internet_message_id)
    if ctx.dry_run:
        ctx.report.planned.append(
            PlannedAction(
                claims.KIND, mailbox.address, "import-to-fno", None, message.graph_id, "marked for import"
            )
        )
        return
    store, now = ctx.store, ctx.now()
    link = await claims.find(store, company, entry)
    ours = False  # whether this run holds the claim it just wrote
    key: str | None = None
    fresh = False
    if link is not None and claims.state_of(link) != "pending":
        if await _event_activity(ctx, company, link.fno_key) is not None:
            key = link.fno_key
        else:
            link, ours = await claims.claim(store, company, entry, now, link), True  # deleted in F&O
    if key is None:
        found = await _activity_by_entry(ctx, company, entry)
        if link is None:
            link, ours = await claims.claim(store, company, entry, now, None), True
        if found is None and not ours:
            configured = timedelta(seconds=ctx.settings.create_outcome_wait_seconds)
            if not claims.is_stale(link, now, owner.wait_for(link.owner, claims.claim_key(link), configured)):
                raise ConcurrencyError("another worker is importing this message")
            link = await claims.claim(store, company, entry, now, link)  # left by a crash: take over
        if found is not None:
            key = found
        else:
            body = activity_body(
                email, company=company, personnel_number=mailbox.record.personnel_number, entry=entry
            )
            with owner.creating(claims.claim_key(link)):
                row = await ctx.fno.create(entities.ACTIVITIES, body)
            key, fresh = fno_key(company, str(row["ActivityNumber"])), True
        link = await claims.advance(store, link, key, "created", now)
    assert link is not None  # found above, or claimed here
    parties = 0
    if claims.state_of(link) != "linked":
        found_parties = await parties_for(ctx, company, email.addresses)
        await link_parties(ctx, company, split_fno_key(key)[1], found_parties, fresh=fresh)
        parties = len(found_parties)
        link = await claims.advance(store, link, key, "linked", now)
    await _finish(
        ctx,
        mailbox,
        item,
        key,
        created=fresh,
        parties=parties,
        truncated=email.body.endswith(TRUNCATION_MARKER),
    )


async def _finish(
    ctx: SyncContext,
    mailbox: Mailbox,
    item: dict[str, Any],
    key: str,
    *,
    created: bool,
    parties: int,
    truncated: bool,
) -> None:
    """Swap the category and stamp the message in one PATCH, then report and audit."""
    settings = ctx.settings
    if ctx.dry_run:
        return
    categories = replace_category(
        item.get("categories"),
        [settings.import_category, settings.import_failed_category],
        settings.imported_category,
    )
    await graph.write_categories(ctx, mailbox.address, str(item["id"]), categories, stamp=key)
    if created:
        ctx.report.count(claims.KIND, "to_fno", "created")
    else:
        ctx.report.count(claims.KIND, "to_exchange", "updated")
    await ctx.store.append_audit(
        AuditEntry(
            at=ctx.now(),
            kind=claims.KIND,
            mailbox=mailbox.address,
            fno_key=key,
            graph_id=str(item["id"]),
            action="imported-to-fno" if created else "import-category-set",
            detail={"parentLinks": parties, "bodyTruncated": truncated},
        )
    )


async def _event_activity(ctx: SyncContext, company: str, key: str) -> dict[str, Any] | None:
    try:
        area, number = split_fno_key(key)
    except ValueError:
        return None
    if area.lower() != company.lower():
        return None
    row = await entities.get_activity(ctx.fno, area, number)
    return row if row is not None and row.get("Category") == ACTIVITY_CATEGORY else None


async def _stamped_activity(ctx: SyncContext, company: str, stamp: str | None) -> str | None:
    """The activity the message's stamp names, if it still exists as an imported e-mail of this company."""
    if not stamp:
        return None
    return stamp if await _event_activity(ctx, company, stamp) is not None else None


async def _activity_by_entry(ctx: SyncContext, company: str, entry: str) -> str | None:
    """An imported e-mail activity that already carries this message identity (lowest number wins)."""
    rows = await entities.find_activities_by_outlook_entry_id(ctx.fno, entry)
    numbers = sorted(
        str(row["ActivityNumber"])
        for row in rows
        if row.get("Category") == ACTIVITY_CATEGORY
        and str(row.get("dataAreaId", "")).lower() == company.lower()
        and row.get("ActivityNumber")
    )
    return fno_key(company, numbers[0]) if numbers else None
