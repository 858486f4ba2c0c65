"""SYNC_MAILBOX_COMPANIES parsed: which mailbox or Entra group goes to which F&O company.

Its own module, below the settings, so that reading the settings imports nothing of F&O (mailbox_company.py
applies the map)."""

from __future__ import annotations

import re

_GROUP_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ADDRESS = re.compile(r"[^@\s,;=]+@[^@\s,;=]+\.[^@\s,;=]+")
_COMPANY = re.compile(r"[A-Za-z0-9]{1,4}")  # a dataAreaId: up to four letters or digits


def parse_company_map(text: str) -> tuple[tuple[str, str], ...]:
    """`key=COMPANY` pairs, comma-separated; a key is a mailbox address or an Entra group object id.
    Returns (key lower-cased, company lower-cased) in the order given; ValueError names the bad pair."""
    pairs: list[tuple[str, str]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, company = (s.strip() for s in part.partition("="))
        if not sep or not key or not company:
            raise ValueError(f"{part!r} is not key=COMPANY")
        if not (_ADDRESS.fullmatch(key) or _GROUP_ID.fullmatch(key)):
            raise ValueError(f"{key!r} is neither a mailbox address nor an Entra group object id")
        if not _COMPANY.fullmatch(company):
            raise ValueError(f"{company!r} is not a company id (dataAreaId: up to 4 letters or digits)")
        if any(k == key.lower() for k, _ in pairs):
            raise ValueError(f"{key!r} is named twice")
        pairs.append((key.lower(), company.lower()))
    return tuple(pairs)
