"""Time zone names as Exchange gives them (Windows or IANA) resolved to `ZoneInfo`.

`mailboxSettings.timeZone` and event `timeZone` fields usually carry Windows names
("W. Europe Standard Time"), sometimes IANA names, and occasionally garbage. Unknown names
resolve to UTC so a single odd mailbox never stops a cycle; callers that care can ask
`resolve_time_zone_checked` whether the fallback was used.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

_log = logging.getLogger(__name__)

UTC_ZONE = ZoneInfo("UTC")

# Names Exchange uses for UTC that are not in the Windows table or are spelled differently.
_UTC_ALIASES = frozenset(
    {"utc", "gmt", "z", "etc/utc", "etc/gmt", "coordinated universal time", "tzone://microsoft/utc"}
)

_WIN_TZ_FOLDED = {name.casefold(): iana for name, iana in win_tz.items()}


@lru_cache(maxsize=256)
def resolve_time_zone_checked(name: str | None) -> tuple[ZoneInfo, bool]:
    """Return (zone, known). `known` is False when the name was empty or unknown and UTC was used."""
    cleaned = (name or "").strip()
    if not cleaned:
        return UTC_ZONE, False
    folded = cleaned.casefold()
    if folded in _UTC_ALIASES:
        return UTC_ZONE, True
    iana = _WIN_TZ_FOLDED.get(folded)
    if iana is not None:
        return ZoneInfo(iana), True
    if _looks_like_iana(cleaned):
        try:
            return ZoneInfo(cleaned), True
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    # Only the length goes to the log: a zone name is not personal, but it is hostile input.
    _log.warning("unknown time zone name (length %d); using UTC", len(cleaned))
    return UTC_ZONE, False


def resolve_time_zone(name: str | None) -> ZoneInfo:
    """Windows or IANA zone name to ZoneInfo; empty or unknown names give UTC (logged)."""
    return resolve_time_zone_checked(name)[0]


def _looks_like_iana(name: str) -> bool:
    # ZoneInfo would read any relative path under the tz database; keep names to the IANA alphabet.
    return (
        len(name) <= 64
        and not name.startswith(("/", "."))
        and ".." not in name
        and all(ch.isascii() and (ch.isalnum() or ch in "/_-+") for ch in name)
    )
