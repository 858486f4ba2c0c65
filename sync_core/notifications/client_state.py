"""The `clientState` of a subscription: proof that a notification comes from a subscription we made.

clientState = `v1.{kind}.{user id}.{mac}` with mac = HMAC-SHA256(key, "v1|kind|user id") (base64url). It
names the mailbox and kind it was made for, so a lifecycle notification (which has no resource) can be routed
without a lookup, and one subscription's clientState cannot vouch for another mailbox or kind.

The key is SYNC_NOTIFICATION_SECRET, or, when that is blank, a random secret made once and kept in the state
store (cursor `notifications:secret`). Neither the key nor a clientState is ever logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sync_core.settings import Settings
from sync_core.state.base import ConcurrencyError, Cursor, StateStore

SECRET_CURSOR = "notifications:secret"
MAX_CLIENT_STATE = 128  # Graph's limit
MIN_SECRET = 32
_KIND = re.compile(r"^[a-z_]{1,20}$")
_USER = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Origin:
    """Who a verified clientState was made for."""

    kind: str
    user_id: str


async def notification_key(settings: Settings, store: StateStore, *, create: bool = True) -> bytes | None:
    """The HMAC key; None when there is none yet and `create` is False (nothing was ever subscribed)."""
    if settings.notification_secret:
        if len(settings.notification_secret) < MIN_SECRET:
            raise ValueError(f"SYNC_NOTIFICATION_SECRET must have at least {MIN_SECRET} characters")
        return settings.notification_secret.encode()
    cursor = await store.get_cursor(SECRET_CURSOR)
    if cursor is None and create:
        try:
            cursor = await store.save_cursor(Cursor(name=SECRET_CURSOR, value=secrets.token_urlsafe(48)))
        except ConcurrencyError:
            cursor = await store.get_cursor(SECRET_CURSOR)  # another worker made it first: use theirs
    return cursor.value.encode() if cursor is not None and cursor.value else None


def key_id(key: bytes) -> str:
    """A short fingerprint of the key: a stored subscription made with another key must be remade."""
    return hashlib.sha256(b"sync-notifications|" + key).hexdigest()[:16]


def _mac(key: bytes, kind: str, user_id: str) -> str:
    digest = hmac.new(key, f"v1|{kind}|{user_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_client_state(key: bytes, kind: str, user_id: str) -> str:
    user_id = user_id.lower()
    if not _KIND.fullmatch(kind) or not _USER.fullmatch(user_id):
        raise ValueError("a subscription needs a kind name and the mailbox's Entra object id")
    value = f"v1.{kind}.{user_id}.{_mac(key, kind, user_id)}"
    assert len(value) <= MAX_CLIENT_STATE
    return value


def verify_client_state(key: bytes, value: object) -> Origin | None:
    """The origin of a genuine clientState; None for anything else (compared in constant time)."""
    if not isinstance(value, str) or len(value) > MAX_CLIENT_STATE:
        return None
    parts = value.split(".")
    if len(parts) != 4 or parts[0] != "v1":
        return None
    _, kind, user_id, mac = parts
    if not _KIND.fullmatch(kind) or not _USER.fullmatch(user_id):
        return None
    if not hmac.compare_digest(mac.encode(), _mac(key, kind, user_id).encode()):
        return None
    return Origin(kind=kind, user_id=user_id)
