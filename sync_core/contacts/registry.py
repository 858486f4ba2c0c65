"""Shared-list mailboxes in the mailbox registry.

A shared mailbox (e.g. sales-north@contoso.com) belongs to no F&O worker, yet its list folder is scanned
like a worker's mailbox. It is registered with status "ok" and an owner value that no F&O personnel
number can take (`@shared:<address>`), so the F&O change feeds of other kinds never route anything to it,
and the planner scans it only for the shared-list kind.
"""

from __future__ import annotations

import logging

from sync_core.exchange.errors import GraphError
from sync_core.runtime.context import SyncContext
from sync_core.settings import Settings, SharedList
from sync_core.state.base import MailboxRecord

log = logging.getLogger(__name__)
SHARED_OWNER_PREFIX = "@shared:"
PRIVATE_KIND = "contact"
SHARED_KIND = "shared_contact"
_REFRESH_SECONDS = 24 * 3600


def shared_owner(address: str) -> str:
    return SHARED_OWNER_PREFIX + address.lower()


def is_shared_only(record: MailboxRecord) -> bool:
    return record.personnel_number.startswith(SHARED_OWNER_PREFIX)


def shared_list_for(settings: Settings, address: str) -> SharedList | None:
    wanted = address.lower()
    return next((s for s in settings.shared_lists if s.mailbox.lower() == wanted), None)


def serves(kind: str, record: MailboxRecord, settings: Settings) -> bool:
    """Whether the planner queues a scan of `record` for `kind`."""
    if kind == SHARED_KIND:
        return shared_list_for(settings, record.mailbox) is not None
    return not is_shared_only(record)


async def refresh_shared_mailboxes(ctx: SyncContext, records: list[MailboxRecord]) -> list[MailboxRecord]:
    """`records` plus the shared-list mailboxes (a worker's own mailbox named by a list stays as it is)."""
    out = {r.mailbox: r for r in records}
    for shared in ctx.settings.shared_lists:
        address = shared.mailbox.lower()
        known = out.get(address)
        if known is not None and known.status == "ok":
            continue
        previous = await ctx.store.get_mailbox(address)
        record = await _resolve(ctx, address, previous)
        if record.status == "ok":
            ctx.report.skipped_mailboxes.pop(address, None)
        else:
            ctx.report.skip_mailbox(address, record.reason)
            log.info("shared mailbox skipped", extra={"reason": record.reason})
        if not ctx.dry_run and (
            previous is None or record.model_dump(exclude={"etag"}) != previous.model_dump(exclude={"etag"})
        ):
            record = await ctx.store.upsert_mailbox(record)
        ctx.registry[address] = record
        out[address] = record
    return sorted(out.values(), key=lambda r: r.mailbox)


async def _resolve(ctx: SyncContext, address: str, previous: MailboxRecord | None) -> MailboxRecord:
    now = ctx.now()
    # No worker owns a shared mailbox: SYNC_MAILBOX_COMPANIES may name it, else SYNC_COMPANY.
    company = dict(ctx.settings.mailbox_companies).get(address.lower(), ctx.settings.company.lower())
    if (
        previous is not None
        and previous.status == "ok"
        and is_shared_only(previous)
        and previous.company == company
        and previous.checked_at is not None
        and (now - previous.checked_at).total_seconds() < _REFRESH_SECONDS
    ):
        return previous  # Graph was asked recently
    base = (previous or MailboxRecord(mailbox=address)).model_copy(
        update={"company": company, "personnel_number": shared_owner(address), "time_zone": "UTC"}
    )
    try:
        user = await ctx.graph.get_user(address)
    except GraphError as exc:
        return base.model_copy(
            update={"status": "skipped", "reason": f"Graph refused access ({exc.status} {exc.code})"}
        )
    if user is None:
        return base.model_copy(
            update={"status": "skipped", "reason": "shared mailbox not found in Microsoft Graph"}
        )
    return base.model_copy(update={"user_id": user.id, "status": "ok", "reason": "", "checked_at": now})
