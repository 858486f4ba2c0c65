import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_core.model.appointment import (
    FIELDS,
    Appointment,
    activity_fields,
    appointment_from_activity,
    appointment_from_event,
    content_hash,
    event_fields,
    from_record,
    to_record,
)
from tests.model.strategies import ZONES, appointments, graph_read_back

SYNC = "D365 Sync"
OWNER = "owner@contoso.com"


def _via_fno(appointment: Appointment, zone: ZoneInfo) -> Appointment:
    activity: dict[str, Any] = {"Category": "Appointment", **activity_fields(appointment)}
    return appointment_from_activity(
        json.loads(json.dumps(activity)),
        attendee_emails=appointment.attendees,
        sync_category=SYNC,
        time_zone=zone,
        owner_addresses=[OWNER],
    )


def _via_graph(appointment: Appointment, zone_name: str, zone: ZoneInfo, *, quirk: bool) -> Appointment:
    written = event_fields(appointment, time_zone=zone, time_zone_name=zone_name, sync_category=SYNC)
    event = graph_read_back(json.loads(json.dumps(written)), quirk=quirk)
    return appointment_from_event(event, sync_category=SYNC, time_zone=zone, owner_addresses=[OWNER])


@st.composite
def zoned_appointments(draw: st.DrawFn) -> tuple[str, ZoneInfo, Appointment]:
    zone_name, zone = draw(st.sampled_from(ZONES))
    return zone_name, zone, draw(appointments(zone))


@given(zoned_appointments())
def test_record_round_trip(case: tuple[str, ZoneInfo, Appointment]) -> None:
    _, _, appointment = case
    record = to_record(appointment)
    assert list(record) == list(FIELDS)
    assert json.loads(json.dumps(record)) == record
    assert from_record(record) == appointment
    assert content_hash(record) == content_hash(to_record(from_record(record)))


@settings(max_examples=200)
@given(zoned_appointments(), st.booleans())
def test_fno_to_canonical_to_graph_to_canonical(case: tuple[str, ZoneInfo, Appointment], quirk: bool) -> None:
    zone_name, zone, appointment = case
    from_fno = _via_fno(appointment, zone)
    assert from_fno == appointment
    from_graph = _via_graph(from_fno, zone_name, zone, quirk=quirk)
    assert from_graph == from_fno
    assert _via_fno(from_graph, zone) == appointment
    assert content_hash(to_record(from_graph)) == content_hash(to_record(appointment))


@pytest.mark.parametrize(("zone_name", "zone"), ZONES)
def test_all_day_over_the_berlin_dst_change(zone_name: str, zone: ZoneInfo) -> None:
    appointment = Appointment(
        start=datetime(2024, 3, 30, tzinfo=zone),
        end=datetime(2024, 4, 1, tzinfo=zone),
        is_all_day=True,
    )
    for quirk in (False, True):
        assert _via_graph(appointment, zone_name, zone, quirk=quirk) == appointment
    assert _via_fno(appointment, zone) == appointment


def test_sync_category_is_not_a_user_category() -> None:
    appointment = Appointment(start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 1, tzinfo=UTC))
    written = event_fields(appointment, time_zone=ZoneInfo("UTC"), time_zone_name="UTC", sync_category=SYNC)
    assert written["categories"] == [SYNC]
    assert _via_graph(appointment, "UTC", ZoneInfo("UTC"), quirk=False).categories == ()


def test_model_normalises_and_validates() -> None:
    appointment = Appointment(
        subject=" a\nb ",
        start=datetime(2024, 1, 1, 10, 0, 30),  # naive: taken as UTC
        end=datetime(2024, 1, 1, 11, 0, 59, tzinfo=UTC),
        categories=("b", "A", "a"),
        attendees=("X@Y.com", "x@y.com"),
    )
    assert appointment.subject == "a b"
    assert appointment.start == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert appointment.end == datetime(2024, 1, 1, 11, 0, tzinfo=UTC)
    assert appointment.categories == ("A", "b")
    assert appointment.attendees == ("x@y.com",)
    with pytest.raises(ValueError, match="end lies before start"):
        Appointment(start=datetime(2024, 1, 2, tzinfo=UTC), end=datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        Appointment(start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 1, tzinfo=UTC), extra=1)  # type: ignore[call-arg]


def test_content_hash_covers_every_field_and_ignores_others() -> None:
    record = to_record(
        Appointment(start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 1, tzinfo=UTC))
    )
    base = content_hash(record)
    assert content_hash({**record, "etag": "W/x"}) == base
    assert content_hash({**record, "categories": ()}) == base  # tuples hash as lists
    changed = {
        "subject": "x",
        "body": "x",
        "start": "2024-01-01T00:01:00Z",
        "end": "2024-01-02T00:00:00Z",
        "is_all_day": True,
        "location": "x",
        "show_as": "free",
        "sensitivity": "private",
        "importance": "high",
        "reminder_on": True,
        "reminder_minutes": 16,
        "categories": ["x"],
        "attendees": ["a@b.c"],
        # Recurrence: the place in a series is content too.
        "series": "occurrence",
        "original_start": "2024-01-01T00:00:00Z",
    }
    assert set(changed) == set(FIELDS)
    hashes = {content_hash({**record, key: value}) for key, value in changed.items()}
    assert len(hashes) == len(FIELDS) and base not in hashes


def test_from_record_ignores_unknown_keys() -> None:
    record = to_record(
        Appointment(start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 1, tzinfo=UTC))
    )
    assert from_record({**record, "future_field": 1}) == from_record(record)


def test_many_round_trips_stay_cheap() -> None:
    # Performance sanity (not timed): 2,000 full round trips with 64k bodies must simply finish.
    zone = ZoneInfo("Europe/Berlin")
    appointment = Appointment(
        subject="s",
        body="x" * 70_000,
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 1, 1, tzinfo=UTC),
    )
    for _ in range(2_000):
        assert _via_graph(appointment, "W. Europe Standard Time", zone, quirk=False) == appointment
