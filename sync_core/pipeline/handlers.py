"""Dispatch one queue message to its job, and turn errors into recorded per-item failures.

Permanent errors (the item can never succeed as it is) are recorded and the message is consumed;
transient ones are recorded and re-raised so the queue retries, until the last attempt: then the message
is consumed and its failure waits on the work list for a later cycle (pipeline/retry.py)."""

from __future__ import annotations

import logging
from typing import Any

from sync_core.d365.errors import FnoError
from sync_core.email_import.job import import_message
from sync_core.exchange.errors import GraphError
from sync_core.pipeline.fanout import plan_chunk
from sync_core.pipeline.pair import sync_pair
from sync_core.pipeline.pause import is_paused, park
from sync_core.pipeline.retry import backoff, retry_text
from sync_core.pipeline.scan import scan_fno_feed, scan_mailbox
from sync_core.runtime.context import SyncContext
from sync_core.runtime.failures import is_permanent
from sync_core.runtime.messages import (
    AnyMessage,
    ImportMessage,
    MessageError,
    PlanMailboxes,
    ScanFnoFeed,
    ScanMailbox,
    SyncPair,
    decode,
)
from sync_core.runtime.report import FailureNote
from sync_core.service_errors import ServiceUnusable
from sync_core.state.base import ConcurrencyError
from sync_core.telemetry import traced_message

log = logging.getLogger(__name__)


# The failure record of a planner chunk that failed (kind "plan", mailbox "*"): the next cycle plans again.
PLAN_KIND = "plan"


class TransientError(Exception):
    """Wraps an error worth retrying, after it was recorded."""


def describe(exc: Exception) -> str:
    """A reason a person can act on, without personal data (error classes and statuses carry none).
    "refused"/"denied" only for 401/403; a request that got no answer says so."""
    if isinstance(exc, ServiceUnusable):
        return f"{exc.summary}; {exc.fix}"
    if isinstance(exc, GraphError):
        if exc.status == 0:
            return f"Microsoft Graph gave no answer: {exc.message}"
        if exc.status == 403:
            return f"Microsoft Graph denied access (403 {exc.code}); see docs/admin-guide.md, 'Scope the mailboxes'"
        return f"Microsoft Graph answered {exc.status} {exc.code}".strip()
    if isinstance(exc, FnoError):
        if exc.status == 0:
            return f"F&O gave no answer: {exc.message[:300]}"
        if exc.status == 403:
            return f"F&O denied access (403): {exc.message[:300]}; see docs/admin-guide.md, 'Register the identity in F&O'"
        return f"F&O answered {exc.status}: {exc.message[:300]}"
    if isinstance(exc, ConcurrencyError):
        return "another worker changed this pair at the same time; retried"
    return f"{type(exc).__name__}: {str(exc)[:300]}"


@traced_message
async def handle_message(ctx: SyncContext, text: str | bytes, dequeue_count: int = 1) -> None:
    try:
        message = decode(text)
    except MessageError as exc:
        log.error("unreadable queue message dropped: %s", exc)
        ctx.report.fail(FailureNote("?", "?", None, None, str(exc)))
        return
    if isinstance(message, SyncPair | ImportMessage) and await is_paused(ctx, message.mailbox):
        await park(ctx, message)  # on the work list until `resume`; no queue attempt used up
        return
    if isinstance(message, ScanMailbox):
        await _guard(
            ctx, message.kind, message.mailbox, f"scan:{message.mailbox}", None, None, dequeue_count, message
        )
    elif isinstance(message, ScanFnoFeed):
        await _guard(ctx, message.kind, "*", f"scan:fno:{message.kind}", None, None, dequeue_count, message)
    elif isinstance(message, PlanMailboxes):
        first = message.mailboxes[0] if message.mailboxes else ""
        await _guard(ctx, PLAN_KIND, "*", f"plan:{first}", None, None, dequeue_count, message)
    elif isinstance(message, ImportMessage):
        graph_id = message.graph_id
        await _guard(ctx, message.kind, message.mailbox, graph_id, None, graph_id, dequeue_count, message)
    else:
        item_key = message.fno_key or message.graph_id or "?"
        await _guard(
            ctx,
            message.kind,
            message.mailbox,
            item_key,
            message.fno_key,
            message.graph_id,
            dequeue_count,
            message,
        )


async def _guard(
    ctx: SyncContext,
    kind: str,
    mailbox: str,
    item_key: str,
    fno_key: str | None,
    graph_id: str | None,
    dequeue_count: int,
    message: AnyMessage,
) -> None:
    try:
        if isinstance(message, ScanMailbox):
            await scan_mailbox(ctx, message)
        elif isinstance(message, ScanFnoFeed):
            await scan_fno_feed(ctx, message)
        elif isinstance(message, ImportMessage):
            await import_message(ctx, message)
        elif isinstance(message, PlanMailboxes):
            await plan_chunk(ctx, message)
        elif message.kind in ctx.feeds:
            # A one-way feed has no pairs (the e-mail import was once planned as a kind): nothing to sync.
            log.info("pair message of a one-way feed dropped", extra={"kind": message.kind})
        else:
            await sync_pair(ctx, message)
    except Exception as exc:
        reason = describe(exc)
        permanent = is_permanent(exc)
        final = permanent or dequeue_count >= ctx.settings.max_attempts
        log.warning(
            "item failed",
            extra={
                "kind": kind,
                "permanent": permanent,
                "attempt": dequeue_count,
                "error": type(exc).__name__,
            },
        )
        if not ctx.dry_run:
            await ctx.store.record_failure(
                kind, mailbox, item_key, reason, ctx.now(), **_work_list(ctx, message, permanent, final)
            )
        if final:
            ctx.report.fail(FailureNote(kind, mailbox, fno_key, graph_id, reason))
        if not final:
            raise TransientError(reason) from exc
        return  # consumed: a transient failure waits on the work list (pipeline/retry.py)
    if not ctx.dry_run:
        # A scan that failed before and works again is no open failure any more (one delete a scan).
        await ctx.store.clear_failure(kind, mailbox, item_key)


def _work_list(
    ctx: SyncContext,
    message: AnyMessage,
    permanent: bool,
    final: bool,
) -> dict[str, Any]:
    """What the failure record keeps for a later retry: nothing new before the last attempt; after it, the
    message and when to try again; for a permanent failure, no retry (the item's next change brings it)."""
    if not final or isinstance(message, ScanMailbox | ScanFnoFeed | PlanMailboxes):
        return {}
    if permanent:
        return {"message": "", "retry_at": None}
    return {"message": retry_text(message), "retry_at": ctx.now() + backoff(ctx, 0)}
