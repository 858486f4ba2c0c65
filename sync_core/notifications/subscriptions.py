"""Keep one Graph subscription per mailbox and kind: create, renew (PATCH), recreate (404, new key or URL).

Kept in the state store as cursors `subscription:{kind}:{mailbox}` (JSON: id, resource, expires, url, key), so
an idle cycle reads one record per mailbox and kind and calls Graph only when a renewal is due. Each one Graph
made is also indexed by its id (`subscription-id:{id}` -> kind and mailbox): a notification names its
`subscriptionId` (resources/changenotification.md), so the webhook can route one whose clientState it cannot
verify (a key changed since) with a point read."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

from sync_core.contacts.registry import SHARED_KIND, serves
from sync_core.exchange.errors import GraphError, GraphNotFound
from sync_core.exchange.urls import seg, user_seg
from sync_core.model.datetimes import parse_instant
from sync_core.notifications.client_state import key_id, make_client_state, notification_key
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.phase import offset_seconds
from sync_core.runtime.report import FailureNote
from sync_core.state.base import ConcurrencyError, Cursor, MailboxRecord

log = logging.getLogger(__name__)

NOTIFICATIONS_ROUTE = "/api/graph/notifications"
LIFECYCLE_ROUTE = "/api/graph/lifecycle"
FAILURE_KEY = "subscription"
# Outlook subscriptions may last 10,080 minutes (older documentation: 4,230). Ask for the older, smaller
# maximum, valid under both, and renew when less than a day is left: a daily timer cycle renews in time.
LIFETIME = timedelta(minutes=4230)
RENEW_BEFORE = timedelta(days=1)
# Renewed up to this much earlier still, by a stable hash of mailbox and kind: subscriptions made
# in one cycle (go-live) are not all renewed in one cycle, and drift apart with every renewal. Never later:
# a subscription always has at least RENEW_BEFORE left when it is renewed.
RENEW_SPREAD = timedelta(days=1)
MAX_ID_LENGTH = 200  # Graph's subscription ids are GUIDs; anything much longer is not one of ours
# Kind -> Graph collection it listens to, and the change types that matter for it.
KIND_COLLECTIONS: dict[str, str] = {
    "appointment": "events",
    "email": "messages",
    "contact": "contacts",
    SHARED_KIND: "contacts",
}
CHANGE_TYPES = {
    "events": "created,updated,deleted",
    "messages": "created,updated",
    "contacts": "created,updated,deleted",
}


@dataclass(frozen=True)
class Stored:
    id: str
    resource: str
    expires: str
    url: str
    key: str
    # From when on its notifications are trusted to tell every change (pipeline/poll_schedule.py): set when
    # it is made (after Graph answered, so never before it exists), moved on by `missed`, blank ("") after a
    # failed renewal or reauthorizationRequired until the next renewal. None: a record from before this field,
    # trusted from when it was saved.
    since: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> Stored | None:
        try:
            data = json.loads(text or "")
            fields = {name: str(data[name]) for name in ("id", "resource", "expires", "url", "key")}
            since = data.get("since")
            return cls(**fields, since=since if isinstance(since, str) else None)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None  # unreadable: made again

    def expiry(self) -> datetime | None:
        return parse_instant(self.expires)


def renew_before(mailbox: str, kind: str) -> timedelta:
    """How long before its expiry the subscription of this mailbox and kind is renewed."""
    return RENEW_BEFORE + timedelta(seconds=offset_seconds(f"{kind}:{mailbox}", RENEW_SPREAD))


def record_name(kind: str, mailbox: str) -> str:
    return f"subscription:{kind}:{mailbox.lower()}"


def notification_urls(base_url: str) -> tuple[str, str]:
    base = base_url.rstrip("/")
    return base + NOTIFICATIONS_ROUTE, base + LIFECYCLE_ROUTE


def subscribed_kinds(ctx: SyncContext, record: MailboxRecord) -> list[str]:
    return [k for k in KIND_COLLECTIONS if k in ctx.scheduled() and serves(k, record, ctx.settings)]


async def ensure_subscriptions(
    ctx: SyncContext, records: list[MailboxRecord], known: Mapping[str, Cursor] | None = None
) -> None:
    """The planner's step (off unless SYNC_NOTIFICATION_URL is set): failures are recorded per mailbox and
    kind and never stop the cycle; the timer scans those mailboxes every cycle again until renewed.
    `known`: the subscription records the planner read already (by name; a name missing: no record)."""
    if not ctx.settings.notification_url or ctx.dry_run:
        return
    try:
        key = await notification_key(ctx.settings, ctx.store)
    except ValueError as exc:
        ctx.report.fail(FailureNote("notifications", "*", None, None, str(exc)))
        return
    assert key is not None
    for record in records:
        if record.status != "ok" or record.paused:
            continue  # a paused mailbox keeps what it has (forget --clean-mailbox removes it)
        for kind in subscribed_kinds(ctx, record):
            name = record_name(kind, record.mailbox)
            try:
                if known is not None and _kept(ctx, key, record, kind, known.get(name)):
                    continue  # the planner's read says it is good: no read of our own
                await ensure_one(ctx, key, record, kind)
            except (GraphError, ConcurrencyError, ValueError, RuntimeError) as exc:
                reason = f"change notifications: {exc}"
                log.warning("subscription failed", extra={"kind": kind, "error": type(exc).__name__})
                await ctx.store.record_failure(kind, record.mailbox, FAILURE_KEY, reason, ctx.now())
                ctx.report.fail(FailureNote(kind, record.mailbox, None, None, reason))
                with contextlib.suppress(ConcurrencyError):  # another worker saved it: theirs stands
                    await _mark(ctx, name, None, since="")  # untrusted until renewed: every cycle


def _kept(ctx: SyncContext, key: bytes, record: MailboxRecord, kind: str, cursor: Cursor | None) -> bool:
    """What ensure_one would keep without asking Graph."""
    saved = Stored.parse(cursor.value if cursor else None)
    if saved is None or saved.url != notification_urls(ctx.settings.notification_url)[0]:
        return False
    expiry = saved.expiry()
    return (
        saved.key == key_id(key)
        and expiry is not None
        and expiry - ctx.now() > renew_before(record.mailbox, kind)
    )


async def ensure_one(
    ctx: SyncContext, key: bytes, record: MailboxRecord, kind: str, *, force_renew: bool = False
) -> str:
    """Create, renew or keep the subscription; returns what was done ("kept", "renewed", "created")."""
    url, _ = notification_urls(ctx.settings.notification_url)
    name = record_name(kind, record.mailbox)
    cursor = await ctx.store.get_cursor(name)
    saved = Stored.parse(cursor.value if cursor else None)
    now = ctx.now()
    if saved is not None and saved.url == url and saved.key == key_id(key):
        expiry = saved.expiry()
        if not force_renew and expiry is not None and expiry - now > renew_before(record.mailbox, kind):
            return "kept"
        resource = await resource_for(ctx, record, kind)
        if resource == saved.resource and await _renew(ctx, saved, now):
            # Still alive: trusted as before, unless it had expired or was marked untrusted meanwhile.
            trusted = saved.since if saved.since and expiry is not None and expiry > now else _stamp(now)
            saved = replace(saved, since=trusted)
            await _save(ctx, name, cursor, saved, expires=now + LIFETIME)
            await ctx.store.clear_failure(kind, record.mailbox, FAILURE_KEY)
            return "renewed"
    if saved is not None:
        await _delete_quietly(ctx, saved.id)  # made with another key, URL or folder, or gone
    resource = await resource_for(ctx, record, kind)
    created = await _create(ctx, key, record, kind, resource, now)
    try:
        await _save(ctx, name, cursor, created)
    except ConcurrencyError:
        await _delete_quietly(ctx, created.id)  # another worker saved its own at the same time: keep that
        raise
    await ctx.store.clear_failure(kind, record.mailbox, FAILURE_KEY)
    log.info("subscription created", extra={"kind": kind})
    return "created"


async def forget(ctx: SyncContext, kind: str, mailbox: str, subscription_id: str) -> None:
    """Graph removed the subscription: drop our record of it (if it is that one) so it is made again."""
    name = record_name(kind, mailbox)
    cursor = await ctx.store.get_cursor(name)
    saved = Stored.parse(cursor.value if cursor else None)
    if cursor is not None and (saved is None or saved.id == subscription_id):
        await ctx.store.delete_cursor(name)


async def mark_due(ctx: SyncContext, kind: str, mailbox: str, subscription_id: str) -> None:
    """Graph asks for a renewal: make the next cycle renew it even if the inline renewal does not finish,
    and scan every cycle until then (Graph may hold notifications back meanwhile)."""
    await _mark(ctx, record_name(kind, mailbox), subscription_id, since="", expires=ctx.now())


async def mark_missed(ctx: SyncContext, kind: str, mailbox: str, subscription_id: str) -> None:
    """Graph dropped notifications: trusted again only after a feed read that starts from now."""
    await _mark(ctx, record_name(kind, mailbox), subscription_id, since=_stamp(ctx.now()))


async def _mark(
    ctx: SyncContext, name: str, subscription_id: str | None, *, since: str, expires: datetime | None = None
) -> None:
    """Set `since` (and the expiry) of the record of that subscription (None: whichever is kept)."""
    cursor = await ctx.store.get_cursor(name)
    saved = Stored.parse(cursor.value if cursor else None)
    if cursor is None or saved is None or subscription_id not in (None, saved.id):
        return
    if saved.since == since and expires is None:
        return  # no write when nothing changes (a failure recorded again)
    await _save(ctx, name, cursor, replace(saved, since=since), expires=expires)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


async def resource_for(ctx: SyncContext, record: MailboxRecord, kind: str) -> str:
    user = user_seg(record.user_id or record.mailbox)
    collection = KIND_COLLECTIONS[kind]
    if collection != "contacts":
        return f"/users/{user}/{collection}"
    folder_id = await ctx.kinds[kind].existing_folder_id(ctx, Mailbox.from_record(record))
    if not folder_id:
        raise RuntimeError("the contact folder does not exist yet")
    return f"/users/{user}/contactFolders/{seg(folder_id)}/contacts"


def _expiration(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


async def _renew(ctx: SyncContext, saved: Stored, now: datetime) -> bool:
    """PATCH the expiry; False when Graph no longer knows the subscription (it is then made again)."""
    try:
        await ctx.graph.request_json(
            "PATCH",
            None,
            f"subscriptions/{seg(saved.id)}",
            body={"expirationDateTime": _expiration(now + LIFETIME)},
            idempotent=True,
        )
    except GraphNotFound:
        return False
    return True


async def _create(
    ctx: SyncContext, key: bytes, record: MailboxRecord, kind: str, resource: str, now: datetime
) -> Stored:
    if not record.user_id:
        raise ValueError("the mailbox's Entra object id is not known yet")
    url, lifecycle = notification_urls(ctx.settings.notification_url)
    body = {
        "changeType": CHANGE_TYPES[KIND_COLLECTIONS[kind]],
        "notificationUrl": url,
        "lifecycleNotificationUrl": lifecycle,
        "resource": resource,
        "expirationDateTime": _expiration(now + LIFETIME),
        "clientState": make_client_state(key, kind, record.user_id),
        "latestSupportedTlsVersion": "v1_2",
    }
    answer = await ctx.graph.request_json("POST", None, "subscriptions", body=body)
    sub_id = answer.get("id") if answer else None
    if not isinstance(sub_id, str) or not sub_id or len(sub_id) > MAX_ID_LENGTH:
        raise ValueError("Graph answered the subscription create without an id")
    expires = answer.get("expirationDateTime") if answer else None
    return Stored(
        id=sub_id,
        resource=resource,
        expires=str(expires) if isinstance(expires, str) else _expiration(now + LIFETIME),
        url=url,
        key=key_id(key),
        since=_stamp(now),  # Graph made it before `now`: every change from then on is notified
    )


async def _save(
    ctx: SyncContext, name: str, cursor: Cursor | None, stored: Stored, expires: datetime | None = None
) -> None:
    """ETag-guarded: of two workers saving at once, one gets ConcurrencyError."""
    if expires is not None:
        stored = Stored(**{**asdict(stored), "expires": _expiration(expires)})
    value = json.dumps(asdict(stored), sort_keys=True)
    etag = cursor.etag if cursor else None
    await ctx.store.save_cursor(Cursor(name=name, value=value, updated_at=ctx.now(), etag=etag))


async def _delete_quietly(ctx: SyncContext, subscription_id: str) -> None:
    try:
        await ctx.graph.request_json("DELETE", None, f"subscriptions/{seg(subscription_id)}", idempotent=True)
    except GraphError as exc:
        log.info("old subscription not deleted", extra={"status": exc.status})
