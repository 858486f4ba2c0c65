"""What a notification batch does: route each item to (mailbox, kind) (routing.py), queue one scan per pair.

Framework-neutral (http.py adapts the Functions request). An item that names no mailbox and kind we sync is
logged and counted, never answered with an error: Graph would only retry it. Nothing here logs a
clientState, a resource or an address."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sync_core.exchange.errors import GraphError
from sync_core.model import hostile_json
from sync_core.notifications.client_state import notification_key
from sync_core.notifications.echo import Notified, already_synced
from sync_core.notifications.resources import parse_resource
from sync_core.notifications.routing import Router
from sync_core.notifications.subscriptions import (
    KIND_COLLECTIONS,
    ensure_one,
    forget,
    mark_due,
    mark_missed,
)
from sync_core.runtime.context import SyncContext
from sync_core.runtime.messages import ScanMailbox
from sync_core.state.base import ConcurrencyError, MailboxRecord
from sync_core.telemetry import names
from sync_core.telemetry.core import current

# Graph's subscription ids are GUIDs (resources/changenotification.md): only such a value reaches a log line.
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_ITEMS = 1000
# Graph's notifications nest four or five levels (value, item, resourceData, ...): anything much deeper is
# garbage, refused before the decoder recurses into it.
MAX_DEPTH = 16
# Graph wants an answer within 3 seconds: inline renewals get what is left of this, the planner does the rest.
LIFECYCLE_BUDGET_SECONDS = 2.0
LIFECYCLE_EVENTS = ("missed", "subscriptionRemoved", "reauthorizationRequired")
# `sync.messages` type of the counts (mailbox "*": telemetry never names a mailbox here).
CHANGE, LIFECYCLE = "change-notification", "lifecycle-notification"


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
    unread: int = 0  # scanned though the resource was not understood (or named another mailbox or kind)
    echoes: int = 0  # pairs not scanned: every item notified was already synced (echo.py)


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


async def _router(ctx: SyncContext) -> Router:
    # None when we never subscribed (no key yet): only our record of subscriptions could then route an item.
    return Router(ctx, await notification_key(ctx.settings, ctx.store, create=False))


def _subscription_id(item: dict[str, Any]) -> str:
    value = item.get("subscriptionId")
    return value.lower() if isinstance(value, str) and GUID.fullmatch(value) else "?"


def _dropped(what: str, items: list[dict[str, Any]]) -> None:
    """Notifications that name nothing we know: logged (subscription ids only) and counted, never silent."""
    if not items:
        return
    ids = sorted({_subscription_id(item) for item in items})
    log.warning(
        "%d %s dropped: neither the clientState nor the subscriptionId names a mailbox and kind this "
        "installation syncs (subscriptions %s). Usually the subscription of a mailbox now skipped or out of "
        "scope: Graph stops when it expires (within 3 days). If it goes on, check that no other installation "
        "uses this SYNC_NOTIFICATION_URL.",
        len(items),
        what.replace("-", " ") + "s",
        ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else ""),
        extra={"dropped": len(items)},
    )
    _count(what, "?", "dropped", len(items))


def _count(what: str, kind: str, outcome: str, n: int) -> None:
    if n <= 0:
        return
    try:
        current().messages.add(
            n, {names.MESSAGE_TYPE: what, names.KIND: kind, names.MAILBOX: "*", names.OUTCOME: outcome}
        )
    except Exception as exc:  # telemetry never changes what the webhook does
        log.warning("telemetry notification count failed: %s", type(exc).__name__)


async def _queue(ctx: SyncContext, pairs: set[tuple[str, str]]) -> int:
    cycle_id = f"notification-{uuid.uuid4().hex}"
    now = ctx.now()
    messages = [
        ScanMailbox(kind=kind, mailbox=mailbox, cycle_id=cycle_id, queued_at=now)
        for mailbox, kind in sorted(pairs)
    ]
    if messages:
        await ctx.queues.send(ctx.settings.scan_queue, messages)
    return len(messages)


async def receive_changes(ctx: SyncContext, items: list[dict[str, Any]]) -> Outcome:
    """One scan per (mailbox, kind) the items name by clientState or subscription, however many items name
    it, unless every item it names is already synced (the echo of our own write, echo.py). The resource is
    only checked: one we cannot read (or that disagrees) is counted, and scanned all the same."""
    router = await _router(ctx)
    pairs: set[tuple[str, str]] = set()
    notified = Notified()
    dropped: list[dict[str, Any]] = []
    unread: dict[str, int] = {}
    for item in items:
        target = await router.target(item)
        if target is None:
            dropped.append(item)
            continue
        pair = (target.record.mailbox, target.kind)
        pairs.add(pair)
        ref = parse_resource(item.get("resource"))
        names_it = ref is not None and ref.user in (target.record.user_id.lower(), target.record.mailbox)
        if not names_it or ref is None or ref.collection != KIND_COLLECTIONS[target.kind]:
            unread[target.kind] = unread.get(target.kind, 0) + 1
            notified.add(pair, {})  # not understood: never taken for an echo
        else:
            notified.add(pair, item)
    echoes = await already_synced(ctx, notified)
    queued = await _queue(ctx, pairs - echoes)
    _dropped(CHANGE, dropped)
    for kind, n in sorted(unread.items()):
        _count(CHANGE, kind, "resource-unread", n)
    for _mailbox, kind in sorted(echoes):
        _count(CHANGE, kind, "echo", 1)
    outcome = Outcome(queued=queued, ignored=len(dropped), unread=sum(unread.values()), echoes=len(echoes))
    log.info(
        "change notifications",
        extra={
            "items": len(items),
            "queued": queued,
            "ignored": outcome.ignored,
            "unread": outcome.unread,
            "echoes": outcome.echoes,
        },
    )
    return outcome


async def receive_lifecycle(ctx: SyncContext, items: list[dict[str, Any]]) -> Outcome:
    """missed -> scan; subscriptionRemoved -> forget it, scan, make it again; reauthorizationRequired ->
    renew. Renewals run inline within a time budget; whatever does not finish is left to the next cycle."""
    started = time.monotonic()
    router = await _router(ctx)
    pairs: set[tuple[str, str]] = set()
    actions: dict[tuple[str, str], tuple[MailboxRecord, bool]] = {}
    outcome = Outcome()
    dropped: list[dict[str, Any]] = []
    for item in items:
        event, sub_id = item.get("lifecycleEvent"), item.get("subscriptionId")
        if event not in LIFECYCLE_EVENTS or not isinstance(sub_id, str) or not sub_id:
            outcome.ignored += 1  # an event we do not act on (or none at all)
            continue
        found = await router.target(item)
        if found is None:
            dropped.append(item)
            continue
        record, kind = found.record, found.kind
        target = (record.mailbox, kind)
        if event == "missed":
            await mark_missed(ctx, kind, record.mailbox, sub_id)  # scanned every cycle until read again
            pairs.add(target)
        elif event == "subscriptionRemoved":
            await forget(ctx, kind, record.mailbox, sub_id)
            pairs.add(target)
            actions[target] = (record, False)
        else:  # reauthorizationRequired
            await mark_due(ctx, kind, record.mailbox, sub_id)
            actions.setdefault(target, (record, True))
    outcome.queued = await _queue(ctx, pairs)
    outcome.ignored += len(dropped)
    _dropped(LIFECYCLE, dropped)
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
