"""What a notification batch does: verify each item, map it to (mailbox, kind), queue one scan per pair.

Framework-neutral (http.py adapts the Functions request). Items that fail any check are counted and
ignored, never answered with an error: Graph would only retry them. Nothing here logs a clientState."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sync_core.contacts.registry import serves
from sync_core.exchange.errors import GraphError
from sync_core.model import hostile_json
from sync_core.notifications.client_state import Origin, notification_key, verify_client_state
from sync_core.notifications.resources import parse_resource
from sync_core.notifications.subscriptions import KIND_COLLECTIONS, ensure_one, forget, mark_due
from sync_core.pipeline.context import SyncContext
from sync_core.pipeline.messages import ScanMailbox
from sync_core.state.base import ConcurrencyError, MailboxRecord

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_ITEMS = 1000
# Graph's notifications nest four or five levels (value, item, resourceData, ...): anything much deeper is
# garbage, refused before the decoder recurses into it.
MAX_DEPTH = 16
# Graph wants an answer within 3 seconds: inline renewals get what is left of this, the planner does the rest.
LIFECYCLE_BUDGET_SECONDS = 2.0


class BadBatch(ValueError):
    """The body is not a change notification collection; `status` is the 4xx to answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class Outcome:
    queued: int = 0
    ignored: int = 0
    renewed: int = 0


def parse_batch(body: bytes) -> list[dict[str, Any]]:
    """The batch's items. The endpoint is anonymous, so any body may come: size, nesting and shape are
    bounded before anything else looks at it. Single items of the wrong shape are left to the receivers,
    which ignore them (Graph would only retry a batch we refused)."""
    if len(body) > MAX_BODY_BYTES:
        raise BadBatch("body too large", 413)
    try:
        data = hostile_json.loads(body, max_depth=MAX_DEPTH)
    except hostile_json.UnreadableJson as exc:
        raise BadBatch(str(exc)) from None
    items = data.get("value") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise BadBatch("body has no 'value' list")
    objects = [item for item in items if isinstance(item, dict)]
    if items and not objects:
        raise BadBatch("no item of the batch is an object")
    return objects


class _Registry:
    """Mailboxes in scope by Entra object id, read once per batch."""

    def __init__(self, ctx: SyncContext) -> None:
        self._ctx = ctx
        self._by_user: dict[str, MailboxRecord] | None = None

    async def find(self, origin: Origin) -> MailboxRecord | None:
        if self._by_user is None:
            records = await self._ctx.store.list_mailboxes()
            self._by_user = {r.user_id.lower(): r for r in records if r.user_id and r.status == "ok"}
        record = self._by_user.get(origin.user_id)
        if record is None or not serves(origin.kind, record, self._ctx.settings):
            return None
        return record


async def _verified(ctx: SyncContext, items: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Origin]]:
    key = await notification_key(ctx.settings, ctx.store, create=False)
    if key is None:
        return []  # we never subscribed: nothing can be genuine
    found = []
    for item in items:
        origin = verify_client_state(key, item.get("clientState"))
        if origin is not None and origin.kind in KIND_COLLECTIONS and origin.kind in ctx.kinds:
            found.append((item, origin))
    return found


async def _queue(ctx: SyncContext, pairs: set[tuple[str, str]]) -> int:
    cycle_id = f"notification-{uuid.uuid4().hex}"
    messages = [ScanMailbox(kind=kind, mailbox=mailbox, cycle_id=cycle_id) for mailbox, kind in sorted(pairs)]
    if messages:
        await ctx.queues.send(ctx.settings.scan_queue, messages)
    return len(messages)


async def receive_changes(ctx: SyncContext, items: list[dict[str, Any]]) -> Outcome:
    """One scan per (mailbox, kind) named by genuine items of the batch, however many items name it."""
    registry = _Registry(ctx)
    pairs: set[tuple[str, str]] = set()
    verified = await _verified(ctx, items)
    for item, origin in verified:
        ref = parse_resource(item.get("resource"))
        if ref is None or ref.collection != KIND_COLLECTIONS[origin.kind]:
            continue
        record = await registry.find(origin)
        # The resource must name the mailbox the clientState was made for (by id or by address).
        if record is None or ref.user not in (origin.user_id, record.mailbox):
            continue
        pairs.add((record.mailbox, origin.kind))
    queued = await _queue(ctx, pairs)
    outcome = Outcome(queued=queued, ignored=len(items) - sum(1 for _ in verified))
    log.info(
        "change notifications", extra={"items": len(items), "queued": queued, "ignored": outcome.ignored}
    )
    return outcome


async def receive_lifecycle(ctx: SyncContext, items: list[dict[str, Any]]) -> Outcome:
    """missed -> scan; subscriptionRemoved -> forget it, scan, make it again; reauthorizationRequired ->
    renew. Renewals run inline within a time budget; whatever does not finish is left to the next cycle."""
    started = time.monotonic()
    registry = _Registry(ctx)
    pairs: set[tuple[str, str]] = set()
    actions: dict[tuple[str, str], tuple[MailboxRecord, bool]] = {}
    outcome = Outcome(ignored=len(items))
    for item, origin in await _verified(ctx, items):
        record = await registry.find(origin)
        event, sub_id = item.get("lifecycleEvent"), item.get("subscriptionId")
        if record is None or not isinstance(sub_id, str) or not sub_id:
            continue
        target = (record.mailbox, origin.kind)
        outcome.ignored -= event in ("missed", "subscriptionRemoved", "reauthorizationRequired")
        if event == "missed":
            pairs.add(target)
        elif event == "subscriptionRemoved":
            await forget(ctx, origin.kind, record.mailbox, sub_id)
            pairs.add(target)
            actions[target] = (record, False)
        elif event == "reauthorizationRequired":
            await mark_due(ctx, origin.kind, record.mailbox, sub_id)
            actions.setdefault(target, (record, True))
    outcome.queued = await _queue(ctx, pairs)
    key = await notification_key(ctx.settings, ctx.store, create=False) if actions else None
    for (_mailbox, kind), (record, renew) in sorted(actions.items()):
        left = LIFECYCLE_BUDGET_SECONDS - (time.monotonic() - started)
        if key is None or left <= 0:
            break
        try:
            async with asyncio.timeout(left):
                await ensure_one(ctx, key, record, kind, force_renew=renew)
            outcome.renewed += 1
        except (TimeoutError, GraphError, ConcurrencyError, ValueError, RuntimeError) as exc:
            log.info("lifecycle renewal left to the next cycle", extra={"error": type(exc).__name__})
    log.info("lifecycle notifications", extra={"items": len(items), "queued": outcome.queued})
    return outcome
