"""Outlook-style item ids.

An item has one internal key; Graph shows it as an immutable id (with `Prefer: IdType="ImmutableId"`) or as a
different "regular" id. Both decode back to the key, so reads accept either, but a client that forgets the
header stores ids that differ from the ones it gets with the header. Ids use standard base64 so that some
contain '/' and '+', which clients must percent-encode in URLs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import date

_PREFIX = "AAMkA"
_MAGIC = b"\x47\x53"
_IMMUTABLE = 1
_REGULAR = 2


@dataclass(frozen=True)
class ItemRef:
    key: bytes
    """Internal 16-byte key of the stored item (the series master for an occurrence)."""
    occurrence: date | None = None
    """Original start date (mailbox-local) of an occurrence of a series."""


def new_key(seed: str) -> bytes:
    return hashlib.sha256(seed.encode()).digest()[:16]


def encode(ref: ItemRef, *, immutable: bool) -> str:
    form = _IMMUTABLE if immutable else _REGULAR
    key = ref.key if immutable else bytes(b ^ 0x5A for b in ref.key)
    payload = _MAGIC + bytes([form]) + key
    if ref.occurrence is not None:
        payload += ref.occurrence.toordinal().to_bytes(4, "big")
    return _PREFIX + base64.b64encode(payload).decode()


def decode(item_id: str) -> ItemRef | None:
    """Either id form -> reference; None for anything that is not one of our ids."""
    if not item_id.startswith(_PREFIX) or len(item_id) > 200:
        return None
    try:
        payload = base64.b64decode(item_id[len(_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(payload) not in (19, 23) or payload[:2] != _MAGIC or payload[2] not in (_IMMUTABLE, _REGULAR):
        return None
    key = payload[3:19]
    if payload[2] == _REGULAR:
        key = bytes(b ^ 0x5A for b in key)
    occurrence = None
    if len(payload) == 23:
        try:
            occurrence = date.fromordinal(int.from_bytes(payload[19:23], "big"))
        except (ValueError, OverflowError):
            return None
    return ItemRef(key, occurrence)


def change_key(key: bytes, version: int) -> str:
    """Short base64 ending in '==' like real event change keys."""
    return base64.b64encode(hashlib.sha256(key + version.to_bytes(4, "big")).digest()[:16]).decode()


def ical_uid(key: bytes) -> str:
    return "040000008200E00074C5B7101A82E00800000000" + key.hex().upper() + "0" * 16
