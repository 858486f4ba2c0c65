"""The planner's choice of feeds with notifications on (sync_core/pipeline/poll_schedule.py), on records made
here: healthy subscriptions wait for notifications or their safety-poll slot; To Do backs off and resets."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from sync_core.notifications.subscriptions import notification_urls
from sync_core.pipeline.poll_schedule import Marker, Schedule, marker_name
from sync_core.pipeline.reconcile import last_slot
from sync_core.settings import Settings, SettingsError, load_settings
from sync_core.state.base import Cursor

URL = "https://sync.example.com"
ENV = {
    "D365_URL": "https://fno.example.com",
    "GRAPH_URL": "https://graph.example.com/v1.0",
    "SYNC_COMPANY": "usmf",
    "SYNC_MAILBOXES": "alice@contoso.com",
    "SYNC_NOTIFICATION_URL": URL,
    "SYNC_RECONCILE_HOURS": "0",
    "SYNC_SAFETY_POLL_MINUTES": "120",
}
T0 = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
CYCLE = timedelta(minutes=5)
ALICE = "alice@contoso.com"


def _settings(**overrides: str) -> Settings:
    return load_settings({**ENV, **overrides}, local_settings=None)


def _subscription(
    kind: str, mailbox: str, *, since: str | None, expires: datetime, url: str = URL, saved: datetime = T0
) -> Cursor:
    body: dict[str, object] = {
        "id": "0f6b2a34-9a8e-4c43-b1f6-3b1b3b9d7c11",
        "resource": f"/users/{mailbox}/events",
        "expires": expires.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
        "url": notification_urls(url)[0],
        "key": "k1",
    }
    if since is not None:
        body["since"] = since
    return Cursor(name=f"subscription:{kind}:{mailbox}", value=json.dumps(body), updated_at=saved)


def _marker(kind: str, mailbox: str, read: datetime | None, changed: datetime | None = None) -> Cursor:
    return Cursor(name=marker_name(kind, mailbox), value=Marker(read, changed).dump(), updated_at=T0)


def _schedule(now: datetime, *cursors: Cursor, settings: Settings | None = None) -> Schedule:
    schedule = Schedule(settings or _settings(), now, is_active=True)
    for cursor in cursors:
        target = schedule.subscriptions if cursor.name.startswith("subscription:") else schedule.markers
        target[cursor.name] = cursor
    return schedule


def _no_slot_between(kind: str, mailbox: str, start: datetime, end: datetime, minutes: int = 120) -> bool:
    interval = timedelta(minutes=minutes)
    return last_slot(end, f"{kind}:{mailbox}", interval) <= start


def _quiet_moment(kind: str, mailbox: str, read: datetime) -> datetime:
    """A cycle after `read` in which this pair's safety slot has not come yet."""
    now = read + CYCLE
    while not _no_slot_between(kind, mailbox, read, now):
        read, now = now, now + CYCLE
    return now


def test_inactive_schedule_wants_every_feed() -> None:
    schedule = Schedule(_settings(), T0)  # as load() leaves it without notifications
    assert all(schedule.wants(kind, ALICE) for kind in ("appointment", "task", "contact", "email"))


def test_a_healthy_pair_read_since_it_became_healthy_waits_for_notifications() -> None:
    since = T0
    read = T0 + CYCLE
    now = _quiet_moment("appointment", ALICE, read)
    sub = _subscription("appointment", ALICE, since=since.isoformat(), expires=T0 + timedelta(days=2))
    assert not _schedule(now, sub, _marker("appointment", ALICE, read)).wants("appointment", ALICE)


@pytest.mark.parametrize(
    "case",
    ["no subscription", "never read", "read at since", "read before since", "expired", "renewal failed",
     "other url"],
)  # fmt: skip
def test_every_cycle_while_the_subscription_is_not_healthy_or_not_read_since(case: str) -> None:
    read = T0 + CYCLE
    now = _quiet_moment("appointment", ALICE, read)
    since, expires, url = T0, T0 + timedelta(days=2), URL
    if case == "read at since":
        since = read
    elif case == "read before since":  # a `missed` moved it on
        since = read + timedelta(seconds=1)
    elif case == "expired":
        expires = now - timedelta(seconds=1)
    elif case == "other url":
        url = "https://old.example.com"
    stamp = "" if case == "renewal failed" else since.isoformat()
    cursors = [_marker("appointment", ALICE, None if case == "never read" else read)]
    if case != "no subscription":
        cursors.append(_subscription("appointment", ALICE, since=stamp, expires=expires, url=url))
    assert _schedule(now, *cursors).wants("appointment", ALICE), case


def test_a_record_from_before_since_is_trusted_from_when_it_was_saved() -> None:
    read = T0 + CYCLE
    now = _quiet_moment("contact", ALICE, read)
    legacy = _subscription("contact", ALICE, since=None, expires=T0 + timedelta(days=2), saved=T0)
    assert not _schedule(now, legacy, _marker("contact", ALICE, read)).wants("contact", ALICE)
    later = _subscription("contact", ALICE, since=None, expires=T0 + timedelta(days=2), saved=read)
    assert _schedule(now, later, _marker("contact", ALICE, read)).wants("contact", ALICE)


def test_off_switches_scan_every_cycle() -> None:
    read = T0 + CYCLE
    now = _quiet_moment("appointment", ALICE, read)
    cursors = (
        _subscription("appointment", ALICE, since=T0.isoformat(), expires=T0 + timedelta(days=2)),
        _marker("appointment", ALICE, read),
        _marker("task", ALICE, read, read),
    )
    off = _settings(SYNC_SAFETY_POLL_MINUTES="0", SYNC_TODO_POLL_MAX_MINUTES="0")
    assert _schedule(now, *cursors, settings=off).wants("appointment", ALICE)
    assert _schedule(now, *cursors, settings=off).wants("task", ALICE)
    # Kinds without subscriptions or back-off (none today besides these) are always scanned.
    assert _schedule(now, *cursors).wants("some-other-kind", ALICE)


def test_the_safety_poll_reads_each_pair_once_per_interval_spread_over_the_cycles() -> None:
    """24 cycles of 5 minutes = SYNC_SAFETY_POLL_MINUTES 120: each pair once, and no cycle takes a crowd."""
    mailboxes = [f"user{i:04d}@contoso.com" for i in range(400)]
    kinds = ("appointment", "contact", "email")
    read = {(k, m): T0 for k in kinds for m in mailboxes}
    subs = [
        _subscription(k, m, since=(T0 - timedelta(hours=1)).isoformat(), expires=T0 + timedelta(days=2))
        for k in kinds
        for m in mailboxes
    ]
    per_cycle: Counter[int] = Counter()
    polled: Counter[tuple[str, str]] = Counter()
    for n in range(1, 25):
        now = T0 + n * CYCLE
        schedule = _schedule(now, *subs, *(_marker(k, m, r) for (k, m), r in read.items()))
        for pair in read:
            if schedule.wants(*pair):
                per_cycle[n] += 1
                polled[pair] += 1
                read[pair] = now
    assert set(polled.values()) == {1} and len(polled) == len(read)
    average = len(read) / 24
    assert max(per_cycle.values()) < 2 * average  # spread by the hash of mailbox and kind


def _todo_reads(changed_at: datetime, cycles: int, settings: Settings) -> list[int]:
    """The cycles (after `changed_at`'s) in which the tasks are read, nothing changing after `changed_at`."""
    read, reads = changed_at, []
    for n in range(1, cycles + 1):
        now = changed_at + n * CYCLE
        if _schedule(now, _marker("task", ALICE, read, changed_at), settings=settings).wants("task", ALICE):
            reads.append(n)
            read = now
    return reads


def test_to_do_is_read_every_cycle_after_a_change_then_less_often_up_to_the_bound() -> None:
    reads = _todo_reads(T0, 36, _settings(SYNC_TODO_POLL_MAX_MINUTES="60"))
    assert reads[:2] == [1, 2]  # changed lately: every cycle
    gaps = [b - a for a, b in itertools.pairwise(reads)]
    assert gaps[:4] == [1, 2, 4, 8]  # then the wait doubles ...
    assert max(gaps) <= 12 + 1  # ... up to 60 minutes (one slot per hour, spread by the hash)
    assert len(reads) <= 8


def test_a_change_seen_in_to_do_resets_to_every_cycle() -> None:
    settings = _settings(SYNC_TODO_POLL_MAX_MINUTES="60")
    read = T0 + timedelta(hours=5)
    now = read + CYCLE
    quiet = _marker("task", ALICE, read, T0)  # idle for hours: backed off to the bound
    assert not _schedule(read + timedelta(seconds=1), quiet, settings=settings).wants("task", ALICE)
    # A pair job of an F&O change found the To Do task changed by a person after the last read
    # (note_todo_side_read); an F&O change alone notes nothing (tests/notifications/test_notification_first.py).
    found_by_fno_job = _marker("task", ALICE, read, read + timedelta(minutes=2))
    assert _schedule(now, found_by_fno_job, settings=settings).wants("task", ALICE)
    # The last read itself saw a change (note_scan): the next cycle reads again.
    seen = _marker("task", ALICE, read, read)
    assert _schedule(now, seen, settings=settings).wants("task", ALICE)


@pytest.mark.parametrize("name", ["SYNC_SAFETY_POLL_MINUTES", "SYNC_TODO_POLL_MAX_MINUTES"])
@pytest.mark.parametrize("value", ["-1", "1441", "hourly"])
def test_bad_values_are_refused_with_the_setting_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        _settings(**{name: value})
