"""Hypothesis strategies and a Graph read-back stand-in shared by the model tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st
from tzlocal.windows_tz import win_tz

from sync_core.model.appointment import Appointment

# (Windows name as a mailbox gives it, IANA zone)
ZONES: list[tuple[str, ZoneInfo]] = [
    ("UTC", ZoneInfo("UTC")),
    ("W. Europe Standard Time", ZoneInfo("Europe/Berlin")),
    ("Tonga Standard Time", ZoneInfo("Pacific/Tongatapu")),
    ("Hawaiian Standard Time", ZoneInfo("Pacific/Honolulu")),
    ("Pacific/Chatham", ZoneInfo("Pacific/Chatham")),  # +12:45/+13:45, an IANA name
]

text = st.text(st.characters(codec="utf-8"), max_size=40)
names = st.text(st.characters(codec="utf-8", exclude_characters=";"), min_size=1, max_size=12)
addresses = st.from_regex(r"[a-z0-9]{1,8}@[a-z0-9]{1,8}\.(com|org)", fullmatch=True)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)


@st.composite
def appointments(draw: st.DrawFn, zone: ZoneInfo) -> Appointment:
    all_day = draw(st.booleans())
    if all_day:
        first = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 1, 1)))
        last = first + timedelta(days=draw(st.integers(1, 10)))
        start = datetime.combine(first, time(0), tzinfo=zone)
        end = datetime.combine(last, time(0), tzinfo=zone)
    else:
        start = draw(instants)
        end = start + timedelta(minutes=draw(st.integers(0, 60 * 24 * 3)))
    return Appointment(
        subject=draw(text),
        body=draw(st.text(st.characters(codec="utf-8"), max_size=200)),
        start=start,
        end=end,
        is_all_day=all_day,
        location=draw(text),
        show_as=draw(st.sampled_from(["free", "tentative", "busy", "oof"])),
        sensitivity=draw(st.sampled_from(["normal", "personal", "private", "confidential"])),
        importance=draw(st.sampled_from(["low", "normal", "high"])),
        reminder_on=draw(st.booleans()),
        reminder_minutes=draw(st.integers(0, 20_160)),
        categories=tuple(draw(st.lists(names, max_size=4))),
        attendees=tuple(draw(st.lists(addresses, max_size=4))),
    )


def graph_read_back(written: dict[str, Any], *, quirk: bool) -> dict[str, Any]:
    """What Graph returns, read with Prefer outlook.timezone="UTC", for an event written as `written`.

    Timed and (normally) all-day boundaries come back as UTC wall-clock with 7 fraction digits;
    with `quirk` an all-day event comes back as midnight of its date labelled UTC.
    """
    event = dict(written)
    for key in ("start", "end"):
        value = written[key]
        wall = datetime.fromisoformat(value["dateTime"][:19])
        zone_name = value["timeZone"]
        zone = ZoneInfo(win_tz.get(zone_name, zone_name))
        if written.get("isAllDay") and quirk:
            shown = wall
        else:
            shown = wall.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
        event[key] = {"dateTime": shown.strftime("%Y-%m-%dT%H:%M:%S") + ".0000000", "timeZone": "UTC"}
    event.setdefault("showAs", "busy")
    event["id"] = "AAMkAD="
    return event
