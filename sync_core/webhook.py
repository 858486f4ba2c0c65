"""The two HTTP functions Graph calls (function_app.py only wires them): change notifications and lifecycle
notifications. Both answer the validation handshake; both answer 202 once the scans are queued.

Anonymous by necessity (Graph sends no key): a notification counts only with a genuine clientState. Any
body may arrive, so what is parsed is bounded (receiver.parse_batch: size, nesting, shape) and garbage is
answered 4xx, never 500."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func

from sync_core.instance import Kept, kept_services
from sync_core.kinds import SCHEDULE, all_feeds, all_kinds
from sync_core.notifications.receiver import (
    BadBatch,
    Outcome,
    parse_batch,
    receive_changes,
    receive_lifecycle,
)
from sync_core.runtime.context import SyncContext
from sync_core.settings import Settings

log = logging.getLogger(__name__)
MAX_TOKEN = 4096

Receiver = Callable[[SyncContext, list[dict[str, Any]]], Awaitable[Outcome]]


def validation_token(req: func.HttpRequest) -> str | None:
    """The decoded `validationToken`: the host hands query parameters over decoded; a request built
    without them (tests, other hosts) is parsed from its URL, decoding once."""
    for name, value in req.params.items():
        if name.lower() == "validationtoken":
            return str(value)
    try:
        query = parse_qs(urlsplit(req.url).query, keep_blank_values=True)
    except ValueError:
        return None  # an unparsable URL carries no token; the body decides the answer
    for name, values in query.items():
        if name.lower() == "validationtoken" and values:
            return str(values[0])
    return None


async def on_notifications(req: func.HttpRequest, config: Settings | None = None) -> func.HttpResponse:
    return await _handle(req, receive_changes, config)


async def on_lifecycle(req: func.HttpRequest, config: Settings | None = None) -> func.HttpResponse:
    return await _handle(req, receive_lifecycle, config)


async def _handle(req: func.HttpRequest, receiver: Receiver, config: Settings | None) -> func.HttpResponse:
    from sync_core import functions

    config = config or functions.settings()
    if not config.notification_url:
        return func.HttpResponse(status_code=404)  # notifications are off: subscribe to nothing here
    token = validation_token(req)
    if token is not None:
        if len(token) > MAX_TOKEN:
            return func.HttpResponse(status_code=400)
        # Graph wants the decoded token back as plain text within 10 seconds.
        return func.HttpResponse(token, status_code=200, mimetype="text/plain")
    try:
        items = parse_batch(req.get_body())
    except BadBatch as exc:
        log.info("notification batch refused", extra={"reason": str(exc)})
        return func.HttpResponse(status_code=exc.status)
    async with kept_services(config) as kept:
        await receiver(_context(config, kept), items)
    return func.HttpResponse(status_code=202)


def _context(config: Settings, kept: Kept) -> SyncContext:
    """On the instance's services (no store opened per call), without app.start_context's F&O service check:
    nothing here calls F&O, and a cold instance reading F&O's $metadata (tens of MB) first could miss Graph's
    3 seconds (concepts/change-notifications-delivery-webhooks.md)."""
    services = kept.services
    return SyncContext(
        settings=config,
        store=services.store,
        graph=services.graph,
        fno=services.fno,
        queues=kept.queues,
        kinds=all_kinds(),
        feeds=all_feeds(),
        schedule=SCHEDULE,
    )
