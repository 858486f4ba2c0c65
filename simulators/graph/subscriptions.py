"""Change-notification subscriptions of the Graph stand-in, and delivery of notifications to them.

Real behaviour, as documented by Microsoft (simulators/reference/graph-examples/changenotification-* and
subscription-create*): creating a subscription first POSTs `?validationToken=...` to the notificationUrl (and
the lifecycleNotificationUrl) and fails with 400 unless each answers 200 with the decoded token as text/plain
within 10 seconds; expirationDateTime must lie in the future and within the resource's maximum (Outlook:
10,080 minutes; under 45 minutes is raised to 45); the clientState (at most 128 characters) is echoed in every
notification. Each notified item's `resourceData` has `@odata.type`, `@odata.id`, `@odata.etag` and `id`
(api-reference/v1.0/resources/resourcedata.md; the etag is W/"<changeKey>", as on every Outlook item), the
id immutable when the subscription was created with `Prefer: IdType="ImmutableId"`
(concepts/outlook-immutable-id.md). Nothing is delivered unless a test asks (`notify`, `notify_many`,
`notify_lifecycle`) and a subscription matches: the stand-in stays silent for everyone else."""

from __future__ import annotations

import threading
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from simulators.graph.errors import GraphError, bad_request

if TYPE_CHECKING:
    from simulators.graph.state import GraphState

MAX_LIFETIME = timedelta(minutes=10080)  # Outlook message, event, personal contact
MIN_LIFETIME = timedelta(minutes=45)
MAX_CLIENT_STATE = 128
VALIDATION_TIMEOUT = 10.0
CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
APPLICATION_ID = "24d3b144-21ae-4080-943f-7067b395b913"
_ODATA_TYPES = {"events": "#Microsoft.Graph.Event", "messages": "#Microsoft.Graph.Message",
                "contacts": "#Microsoft.Graph.Contact"}  # fmt: skip


@dataclass
class Subscription:
    id: str
    resource: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    user_id: str
    collection: str  # events, messages, contacts
    folder_key: (
        bytes | None
    )  # a folder's items only (mailFolders/{id}/messages, contactFolders/{id}/contacts)
    tls: str = "v1_2"
    # Created with `Prefer: IdType="ImmutableId"`: its notifications name items by immutable id
    # (outlook-immutable-id.md, "Immutable ID with change notifications").
    immutable_ids: bool = False


@dataclass(frozen=True)
class _Held:
    """An item a notification names, as the stand-in holds it."""

    immutable: str
    regular: str
    change_key: str
    folder: bytes | None


@dataclass(frozen=True)
class Delivery:
    url: str
    status: int
    body: dict[str, Any]


def graph_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # 7 fractional digits, as Graph


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise bad_request("Invalid expirationDateTime.", "InvalidRequest")
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python takes at most 6 fractional digits; Graph writes 7
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise bad_request("Invalid expirationDateTime.", "InvalidRequest") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def check_url(value: Any, name: str) -> str:
    """Graph accepts only https endpoints; the stand-in also accepts http on loopback (tests)."""
    if not isinstance(value, str) or len(value) > 2048:
        raise bad_request(f"Invalid {name}.", "InvalidRequest")
    parts = urlsplit(value)
    loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
    if not (parts.scheme == "https" or loopback) or not parts.netloc:
        raise bad_request(f"The {name} must be an https URL.", "InvalidRequest")
    return value


class SubscriptionBook:
    def __init__(self, state: GraphState) -> None:
        self._state = state
        self._lock = threading.RLock()
        self._items: dict[str, Subscription] = {}
        self.deliveries: list[Delivery] = []
        self.validations: list[Delivery] = []

    # ---- the API side ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._state.clock().astimezone(UTC)

    def active(self) -> list[Subscription]:
        now = self.now()
        with self._lock:
            for sub_id in [k for k, s in self._items.items() if s.expiration <= now]:
                del self._items[sub_id]  # Graph drops expired subscriptions
            return list(self._items.values())

    def get(self, sub_id: str) -> Subscription | None:
        return next((s for s in self.active() if s.id == sub_id.lower()), None)

    def add(self, sub: Subscription) -> None:
        with self._lock:
            self._items[sub.id] = sub

    def remove(self, sub_id: str) -> bool:
        with self._lock:
            return self._items.pop(sub_id.lower(), None) is not None

    def check_expiration(self, value: Any) -> datetime:
        expiration, now = parse_time(value), self.now()
        if expiration <= now:
            raise bad_request("Subscription expiration must be in the future.", "InvalidRequest")
        if expiration > now + MAX_LIFETIME:
            minutes = int(MAX_LIFETIME.total_seconds() // 60)
            raise bad_request(
                f"Subscription expiration can only be {minutes} minutes in the future.", "InvalidRequest"
            )
        return max(expiration, now + MIN_LIFETIME)

    async def validate(self, url: str) -> None:
        """Graph's handshake: the endpoint must echo the decoded token, as text/plain, within 10 s."""
        token = (
            f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        )
        target = f"{url}{'&' if '?' in url else '?'}validationToken={quote(token, safe='')}"
        try:
            async with httpx.AsyncClient(timeout=VALIDATION_TIMEOUT) as client:
                answer = await client.post(target, headers={"Content-Type": "text/plain; charset=utf-8"})
        except httpx.HTTPError as exc:
            raise _validation_failed("the endpoint did not answer") from exc
        self.validations.append(Delivery(url, answer.status_code, {}))
        if answer.status_code != 200:
            raise _validation_failed(f"the endpoint answered {answer.status_code}")
        if not answer.headers.get("content-type", "").lower().startswith("text/plain"):
            raise _validation_failed("the answer is not text/plain")
        if answer.text != token:
            raise _validation_failed("the answer must exactly match the validationToken")

    # ---- the test side: deliver notifications ------------------------------------------------------

    def notify(
        self,
        mailbox: str,
        collection: str,
        item_id: str,
        change_type: str = "updated",
        *,
        folder: str | None = None,
        spelling: str = "path",
        tenant_id: str = "84bd8158-6d4d-4958-8b9f-9d6445542f95",
    ) -> int:
        """Deliver a change of one item to every matching subscription (one POST each, as Graph does);
        returns how many endpoints answered 2xx. `spelling` picks the resource form Graph uses:
        "path" (Users/{id}/Messages/{item}), "key" (Users('{id}')/messages('{item}')) or "tenant"
        (users/{id}@{tenant}/messages/{item})."""
        return self.notify_many(
            mailbox, collection, [item_id], change_type, folder=folder, spelling=spelling, tenant_id=tenant_id
        )

    def notify_many(
        self,
        mailbox: str,
        collection: str,
        item_ids: list[str],
        change_type: str = "updated",
        *,
        folder: str | None = None,
        spelling: str = "path",
        tenant_id: str = "84bd8158-6d4d-4958-8b9f-9d6445542f95",
    ) -> int:
        """As `notify`, for several items of one collection: one POST per subscription holding every item it
        covers (Graph batches the notifications of a burst in one `value` list). An item the mailbox holds is
        notified as Graph does (resource-data.md, outlook-change-notifications-overview.md): its id in the
        form the subscription was created with and `@odata.etag` W/"<its changeKey>" (the entity tag of the
        version notified); a contact or message without `folder` is matched by the folder it is in. An id
        the stand-in does not hold (or a deletion) is sent as given, without an etag."""
        delivered = 0
        for sub, items in self.notifications(
            mailbox, collection, item_ids, change_type, folder=folder, spelling=spelling, tenant_id=tenant_id
        ):
            delivered += self._post(sub.notification_url, {"value": items})
        return delivered

    def notifications(
        self,
        mailbox: str,
        collection: str,
        item_ids: list[str],
        change_type: str = "updated",
        *,
        folder: str | None = None,
        spelling: str = "path",
        tenant_id: str = "84bd8158-6d4d-4958-8b9f-9d6445542f95",
    ) -> list[tuple[Subscription, list[dict[str, Any]]]]:
        """What `notify_many` would POST, per subscription, without sending it."""
        mb = self._state.find_mailbox(mailbox)
        if mb is None:
            raise ValueError("unknown mailbox")
        given = self._folder_key(mb, collection, folder) if folder is not None else None
        found = {item_id: self._item(mb, collection, item_id) for item_id in item_ids}
        user_id = mb.user.id
        out: list[tuple[Subscription, list[dict[str, Any]]]] = []
        for sub in self.active():
            if sub.user_id != user_id.lower() or sub.collection != collection:
                continue
            if change_type not in sub.change_types:
                continue
            items: list[dict[str, Any]] = []
            for item_id in item_ids:
                held = found[item_id] if change_type != "deleted" else None
                folder_key = given if given is not None or held is None else held.folder
                if sub.folder_key is not None and sub.folder_key != folder_key:
                    continue
                ident = item_id if held is None else (held.immutable if sub.immutable_ids else held.regular)
                resource = _spell(spelling, user_id, collection, ident, tenant_id)
                data: dict[str, Any] = {"@odata.type": _ODATA_TYPES[collection], "@odata.id": resource}
                if held is not None:
                    data["@odata.etag"] = f'W/"{held.change_key}"'
                data["id"] = ident
                item: dict[str, Any] = {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": graph_time(sub.expiration),
                    "changeType": change_type,
                    "resource": resource,
                    "resourceData": data,
                    "tenantId": tenant_id,
                }
                if sub.client_state is not None:
                    item["clientState"] = sub.client_state
                items.append(item)
            if items:
                out.append((sub, items))
        return out

    def versions(self, mailbox: str, collection: str) -> dict[str, str]:
        """Immutable id -> changeKey of every item of a collection (events: series masters and single
        events): lets a test or the benchmark see what changed, to notify it as Graph would."""
        mb = self._state.find_mailbox(mailbox)
        if mb is None:
            raise ValueError("unknown mailbox")
        from simulators.graph import contacts, ids, messages_store

        with self._state.lock:
            if collection == "events":
                return {
                    ids.encode(ids.ItemRef(key), immutable=True): ids.change_key(key, ev.version)
                    for key, ev in mb.events.items()
                }
            if collection == "contacts":
                bk = contacts.book(self._state, mb)
                return {
                    contacts.contact_id(c, immutable=True): contacts.change_key(c)
                    for c in bk.contacts.values()
                }
            store = messages_store.store_for(self._state, mb)
            return {
                ids.encode(ids.ItemRef(m.key), immutable=True): messages_store.change_key(m)
                for m in store.messages.values()
            }

    def _item(self, mb: Any, collection: str, item_id: str) -> _Held | None:
        """The item an id names (either id form), or None."""
        from simulators.graph import contacts, events, ids, messages_store

        ref = ids.decode(item_id)
        if ref is None:
            return None
        with self._state.lock:
            if collection == "events":
                inst = events.find(mb, ref)
                if inst is None:
                    return None
                own = events.instance_ref(inst)
                return _Held(
                    immutable=ids.encode(own, immutable=True),
                    regular=ids.encode(own, immutable=False),
                    change_key=events.instance_change_key(inst),
                    folder=None,
                )
            if collection == "contacts":
                try:
                    contact = contacts.find_contact(contacts.book(self._state, mb), item_id)
                except GraphError:
                    return None
                return _Held(
                    immutable=contacts.contact_id(contact, immutable=True),
                    regular=contacts.contact_id(contact, immutable=False),
                    change_key=contacts.change_key(contact),
                    folder=contact.folder,
                )
            try:
                message = messages_store.find_message(messages_store.store_for(self._state, mb), item_id)
            except GraphError:
                return None
            return _Held(
                immutable=ids.encode(ids.ItemRef(message.key), immutable=True),
                regular=ids.encode(ids.ItemRef(message.key), immutable=False),
                change_key=messages_store.change_key(message),
                folder=message.folder,
            )

    def notify_lifecycle(self, subscription_id: str, event: str, tenant_id: str = "") -> int:
        """Send a lifecycle notification; `subscriptionRemoved` also removes the subscription."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError("unknown lifecycle event")
        sub = self.get(subscription_id)
        if sub is None:
            raise ValueError("no such subscription")
        if event == "subscriptionRemoved":
            self.remove(sub.id)
        if sub.lifecycle_url is None:
            return 0
        item: dict[str, Any] = {
            "lifecycleEvent": event,
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_time(sub.expiration),
            "tenantId": tenant_id or str(uuid.UUID(int=0)),
        }
        if sub.client_state is not None:
            item["clientState"] = sub.client_state
        return self._post(sub.lifecycle_url, {"value": [item]})

    def _post(self, url: str, body: dict[str, Any]) -> int:
        try:
            with httpx.Client(timeout=VALIDATION_TIMEOUT) as client:
                status = client.post(url, json=body).status_code
        except httpx.HTTPError:
            status = 0
        self.deliveries.append(Delivery(url, status, body))
        return 1 if 200 <= status < 300 else 0

    def _folder_key(self, mb: Any, collection: str, folder: str) -> bytes:
        from simulators.graph import contacts, messages_store

        with self._state.lock:
            if collection == "contacts":
                return contacts.find_folder(contacts.book(self._state, mb), folder).key
            if collection == "messages":
                return messages_store.find_folder(messages_store.store_for(self._state, mb), folder).key
        raise ValueError("events have no folder here")


def _spell(spelling: str, user_id: str, collection: str, item_id: str, tenant_id: str) -> str:
    if spelling == "path":
        return f"Users/{user_id}/{collection.capitalize()}/{item_id}"
    if spelling == "key":
        return f"Users('{user_id}')/{collection}('{item_id}')"
    if spelling == "tenant":
        return f"users/{user_id}@{tenant_id}/{collection}/{item_id}"
    raise ValueError("unknown spelling")


def _validation_failed(why: str) -> GraphError:
    return bad_request(f"Subscription validation request failed. {why}.", "InvalidRequest")


_BOOKS: weakref.WeakKeyDictionary[GraphState, SubscriptionBook] = weakref.WeakKeyDictionary()
_BOOKS_LOCK = threading.Lock()


def book(state: GraphState) -> SubscriptionBook:
    """The state's subscriptions (kept beside GraphState, which needs no field for them)."""
    with _BOOKS_LOCK:
        found = _BOOKS.get(state)
        if found is None:
            found = _BOOKS[state] = SubscriptionBook(state)
        return found
