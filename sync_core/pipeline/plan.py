"""Plan a cycle: resolve the mailboxes in scope, refresh the registry, queue one scan per mailbox and
kind plus one F&O feed scan per kind (one query for all mailboxes, not one per mailbox)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sync_core.contacts.registry import refresh_shared_mailboxes, serves
from sync_core.d365 import entities
from sync_core.exchange.errors import GraphError
from sync_core.model.timezones import resolve_time_zone_checked
from sync_core.notifications.subscriptions import ensure_subscriptions
from sync_core.pipeline.context import SyncContext
from sync_core.pipeline.messages import ScanFnoFeed, ScanMailbox
from sync_core.state.base import MailboxRecord
from sync_core.telemetry import traced_plan

log = logging.getLogger(__name__)
CATEGORY_COLOR = "preset7"  # blue in Outlook's preset list
# Users, time zones, categories and the F&O worker change rarely: read them at most once a day per mailbox.
REFRESH_MAILBOX_AFTER = timedelta(hours=24)


async def mailboxes_in_scope(ctx: SyncContext) -> list[str]:
    scope = {m.lower() for m in ctx.settings.mailboxes}
    if ctx.settings.mailbox_group:
        scope.update(m.lower() for m in await ctx.graph.list_group_member_mails(ctx.settings.mailbox_group))
    return sorted(scope)


async def refresh_registry(ctx: SyncContext) -> list[MailboxRecord]:
    """Match each mailbox to its worker and read its time zone; skipped mailboxes are recorded, not fatal."""
    addresses = await mailboxes_in_scope(ctx)
    previous_records = {a: await ctx.store.get_mailbox(a) for a in addresses}
    # Workers are looked up only for mailboxes not checked within a day, so an idle cycle's F&O calls do not
    # grow with the number of mailboxes (a changed worker is noticed within a day, as Graph details are).
    stale = [a for a in addresses if not _fresh(ctx, previous_records[a])]
    workers = await entities.workers_by_email(ctx.fno, stale) if stale else {}
    records: list[MailboxRecord] = []
    for address in addresses:
        previous = previous_records[address]
        worker = workers.get(address)
        if previous is not None and address not in stale:
            worker = {"PersonnelNumber": previous.personnel_number}
        record = await _resolve_mailbox(ctx, address, worker, previous)
        if record.status != "ok":
            ctx.report.skip_mailbox(address, record.reason)
            log.info("mailbox skipped", extra={"reason": record.reason})
        if not ctx.dry_run and (previous is None or _differs(record, previous)):
            record = await ctx.store.upsert_mailbox(record)
        ctx.registry[address] = record
        records.append(record)
    return records


def _fresh(ctx: SyncContext, previous: MailboxRecord | None) -> bool:
    return (
        previous is not None
        and previous.status == "ok"
        and previous.company == ctx.settings.company.lower()
        and previous.checked_at is not None
        and ctx.now() - previous.checked_at < REFRESH_MAILBOX_AFTER
    )


def _differs(record: MailboxRecord, previous: MailboxRecord) -> bool:
    return record.model_dump(exclude={"etag"}) != previous.model_dump(exclude={"etag"})


async def _resolve_mailbox(
    ctx: SyncContext, address: str, worker: dict[str, object] | None, previous: MailboxRecord | None
) -> MailboxRecord:
    company = ctx.settings.company.lower()
    base = MailboxRecord(mailbox=address, company=company)
    if previous is not None:
        base = previous.model_copy(update={"company": company})
    if worker is None:
        return base.model_copy(
            update={"status": "skipped", "reason": "no F&O worker has this address as PrimaryContactEmail"}
        )
    personnel_number = str(worker.get("PersonnelNumber") or "")
    now = ctx.now()
    if (
        previous is not None
        and previous.status == "ok"
        and previous.personnel_number == personnel_number
        and previous.company == company
        and previous.checked_at is not None
        and now - previous.checked_at < REFRESH_MAILBOX_AFTER
    ):
        return previous  # Graph was asked recently: an idle cycle costs no user or settings reads
    try:
        user = await ctx.graph.get_user(address)
        if user is None:
            return base.model_copy(
                update={"status": "skipped", "reason": "mailbox not found in Microsoft Graph"}
            )
        time_zone = await ctx.graph.get_mailbox_time_zone(address) or "UTC"
        _zone, known = resolve_time_zone_checked(time_zone)
        if not known:
            # All-day appointments would land on the wrong day: better to skip and say why.
            return base.model_copy(
                update={"status": "skipped", "reason": f"mailbox time zone {time_zone!r} is not recognised"}
            )
        if not ctx.dry_run:
            # Make sure the user can see and use the category (it may have been deleted or renamed).
            await ctx.graph.ensure_category(address, ctx.settings.category, CATEGORY_COLOR)
    except GraphError as exc:
        return base.model_copy(
            update={"status": "skipped", "reason": f"Graph refused access ({exc.status} {exc.code})"}
        )
    return base.model_copy(
        update={
            "user_id": user.id,
            "personnel_number": personnel_number,
            "time_zone": time_zone,
            "status": "ok",
            "reason": "",
            "checked_at": now,
        }
    )


@traced_plan
async def plan_cycle(ctx: SyncContext) -> list[ScanMailbox | ScanFnoFeed]:
    cycle_id = uuid.uuid4().hex
    records = await refresh_registry(ctx)
    # Shared contact lists live in shared mailboxes that no worker owns (contacts issue).
    records = await refresh_shared_mailboxes(ctx, records)
    messages: list[ScanMailbox | ScanFnoFeed] = []
    for kind in ctx.kinds:
        ctx.report.touch(kind)
        messages.extend(
            ScanMailbox(kind=kind, mailbox=r.mailbox, cycle_id=cycle_id)
            for r in records
            if r.status == "ok" and serves(kind, r, ctx.settings)
        )
        messages.append(ScanFnoFeed(kind=kind, cycle_id=cycle_id))
    await ensure_subscriptions(ctx, records)  # change notifications; off unless SYNC_NOTIFICATION_URL
    return messages
