import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sync_core.model.appointment import MappingError, MissingField, appointment_from_event, event_fields

BERLIN = ZoneInfo("Europe/Berlin")
SYNC = "D365 Sync"


def _event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "AAMkAGI2=",
        "subject": "Quarterly review",
        "body": {"contentType": "text", "content": "Agenda:\r\n- numbers  "},
        "start": {"dateTime": "2024-03-05T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2024-03-05T10:30:00.0000000", "timeZone": "UTC"},
        "isAllDay": False,
        "location": {"displayName": "Room 1", "locationType": "default"},
        "showAs": "oof",
        "sensitivity": "private",
        "importance": "high",
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 30,
        "categories": ["Red", "D365 Sync", "blue"],
        "attendees": [
            {"type": "required", "emailAddress": {"name": "Bob", "address": "Bob@Contoso.com"}},
            {"type": "optional", "emailAddress": {"address": "me@contoso.com"}},
            {"type": "resource", "emailAddress": None},
            "junk",
        ],
    }
    base.update(overrides)
    return base


def _read(event: dict[str, Any], zone: ZoneInfo = BERLIN) -> Any:
    return appointment_from_event(
        event, sync_category=SYNC, time_zone=zone, owner_addresses=["ME@contoso.com"]
    )


def test_reads_all_fields() -> None:
    appointment = _read(_event())
    assert appointment.subject == "Quarterly review"
    assert appointment.body == "Agenda:\n- numbers"
    assert (appointment.start, appointment.end) == (
        datetime(2024, 3, 5, 9, 0, tzinfo=UTC),
        datetime(2024, 3, 5, 10, 30, tzinfo=UTC),
    )
    assert (appointment.location, appointment.show_as, appointment.sensitivity, appointment.importance) == (
        "Room 1",
        "oof",
        "private",
        "high",
    )
    assert (appointment.reminder_on, appointment.reminder_minutes) == (True, 30)
    assert appointment.categories == ("blue", "Red")
    assert appointment.attendees == ("bob@contoso.com",)


def test_reads_microsofts_published_example(graph_example: dict[str, Any]) -> None:
    appointment = appointment_from_event(
        graph_example["response"],
        sync_category=SYNC,
        time_zone=ZoneInfo("America/Los_Angeles"),
        owner_addresses=["engineering@m365x214355.onmicrosoft.com"],
    )
    assert appointment.start == datetime(2014, 11, 3, 17, 0, tzinfo=UTC)
    assert appointment.end == datetime(2014, 11, 3, 17, 30, tzinfo=UTC)
    assert appointment.body.startswith("New Product Regulations Strategy Online Touchpoint Meeting\n")
    assert appointment.attendees == ("irvins@m365x214355.onmicrosoft.com",)
    assert appointment.location == "Conf Room Rainier"


@pytest.mark.parametrize(
    ("show_as", "expected"), [("workingElsewhere", "busy"), ("unknown", "busy"), ("FREE", "free")]
)
def test_show_as_mapping(show_as: str, expected: str) -> None:
    assert _read(_event(showAs=show_as)).show_as == expected


def test_hostile_event(caplog: pytest.LogCaptureFixture) -> None:
    event = {
        "start": {"dateTime": "2024-03-05T09:00:00.1234567", "timeZone": "Hawaiian Standard Time"},
        "end": {"dateTime": "2024-03-05T08:00:00", "timeZone": "Hawaiian Standard Time"},  # before start
        "subject": None,
        "body": {"contentType": "html", "content": None},
        "location": "not an object",
        "showAs": "vacation",
        "sensitivity": 3,
        "importance": ["high"],
        "isReminderOn": "true",
        "reminderMinutesBeforeStart": 1.5,
        "categories": "Red",
        "attendees": {"a": 1},
    }
    appointment = _read(event)
    assert appointment.start == appointment.end == datetime(2024, 3, 5, 19, 0, tzinfo=UTC)
    assert (appointment.subject, appointment.body, appointment.location) == ("", "", "")
    assert (appointment.show_as, appointment.sensitivity, appointment.importance) == (
        "busy",
        "normal",
        "normal",
    )
    assert (appointment.reminder_on, appointment.reminder_minutes) == (True, 15)
    assert appointment.categories == () and appointment.attendees == ()
    assert "showAs" in caplog.text and "vacation" not in caplog.text


@pytest.mark.parametrize("start", [None, {}, {"dateTime": "soon", "timeZone": "UTC"}, "2024-01-01T00:00:00Z"])
def test_missing_start_is_a_mapping_error(start: object) -> None:
    with pytest.raises(MappingError):
        _read(_event(start=start))


@pytest.mark.parametrize("end", [None, {}, {"dateTime": "soon", "timeZone": "UTC"}])
def test_missing_end_is_a_missing_field_not_a_zero_length_event(end: object) -> None:
    event = _event(end=end)
    if end is None:
        del event["end"]
    with pytest.raises(MissingField, match="'end'") as raised:
        _read(event)
    assert "Quarterly" not in str(raised.value)  # names the field, never the content


def test_html_body_becomes_text() -> None:
    body = {"contentType": "html", "content": "<html><body><p>Hi&nbsp;there</p><p>Bye</p></body></html>"}
    assert _read(_event(body=body)).body == "Hi there\n\nBye"


@pytest.mark.parametrize(
    ("zone", "start", "end", "dates"),
    [
        # UTC instants of local midnights (what Prefer outlook.timezone="UTC" normally gives).
        (
            "Europe/Berlin",
            ("2024-01-09T23:00:00", "UTC"),
            ("2024-01-10T23:00:00", "UTC"),
            ("2024-01-10", "2024-01-11"),
        ),
        (
            "Pacific/Tongatapu",
            ("2024-01-09T11:00:00", "UTC"),
            ("2024-01-11T11:00:00", "UTC"),
            ("2024-01-10", "2024-01-12"),
        ),
        (
            "Pacific/Honolulu",
            ("2024-01-10T10:00:00", "UTC"),
            ("2024-01-11T10:00:00", "UTC"),
            ("2024-01-10", "2024-01-11"),
        ),
        # Exchange quirk: midnight of the date labelled UTC.
        (
            "Pacific/Tongatapu",
            ("2024-01-10T00:00:00", "UTC"),
            ("2024-01-11T00:00:00", "UTC"),
            ("2024-01-10", "2024-01-11"),
        ),
        (
            "Pacific/Honolulu",
            ("2024-01-10T00:00:00", "UTC"),
            ("2024-01-11T00:00:00", "UTC"),
            ("2024-01-10", "2024-01-11"),
        ),
        # Midnight in its own (Windows-named) zone.
        (
            "Pacific/Tongatapu",
            ("2024-01-10T00:00:00", "Tonga Standard Time"),
            ("2024-01-11T00:00:00", "Tonga Standard Time"),
            ("2024-01-10", "2024-01-11"),
        ),
        # The DST day in Berlin is 23 hours long.
        (
            "Europe/Berlin",
            ("2024-03-30T23:00:00", "UTC"),
            ("2024-03-31T22:00:00", "UTC"),
            ("2024-03-31", "2024-04-01"),
        ),
        (
            "Europe/Berlin",
            ("2024-03-31T00:00:00", "UTC"),
            ("2024-04-01T00:00:00", "UTC"),
            ("2024-03-31", "2024-04-01"),
        ),
    ],
)
def test_all_day_reads_as_local_dates(
    zone: str, start: tuple[str, str], end: tuple[str, str], dates: tuple[str, str]
) -> None:
    tz = ZoneInfo(zone)
    event = _event(
        isAllDay=True,
        start={"dateTime": start[0] + ".0000000", "timeZone": start[1]},
        end={"dateTime": end[0] + ".0000000", "timeZone": end[1]},
    )
    appointment = _read(event, zone=tz)
    local_start, local_end = appointment.start.astimezone(tz), appointment.end.astimezone(tz)
    assert (local_start.date().isoformat(), local_end.date().isoformat()) == dates
    assert (local_start.hour, local_start.minute, local_end.hour, local_end.minute) == (0, 0, 0, 0)


def test_event_fields_timed() -> None:
    fields = event_fields(
        _read(_event()), time_zone=BERLIN, time_zone_name="W. Europe Standard Time", sync_category=SYNC
    )
    assert fields == {
        "subject": "Quarterly review",
        "body": {"contentType": "text", "content": "Agenda:\n- numbers"},
        "start": {"dateTime": "2024-03-05T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2024-03-05T10:30:00.0000000", "timeZone": "UTC"},
        "isAllDay": False,
        "location": {"displayName": "Room 1"},
        "showAs": "oof",
        "sensitivity": "private",
        "importance": "high",
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 30,
        "categories": ["blue", "Red", "D365 Sync"],
        "attendees": [{"emailAddress": {"address": "bob@contoso.com"}, "type": "required"}],
    }
    json.dumps(fields)  # the body must be plain JSON


def test_event_fields_all_day_uses_the_mailbox_zone_name() -> None:
    tz = ZoneInfo("Pacific/Tongatapu")
    event = _event(
        isAllDay=True,
        start={"dateTime": "2024-01-09T11:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2024-01-10T11:00:00.0000000", "timeZone": "UTC"},
    )
    appointment = _read(event, zone=tz)
    fields = event_fields(
        appointment,
        time_zone=tz,
        time_zone_name="Tonga Standard Time",
        sync_category=SYNC,
        fields=["is_all_day"],
    )
    assert fields == {
        "start": {"dateTime": "2024-01-10T00:00:00.0000000", "timeZone": "Tonga Standard Time"},
        "end": {"dateTime": "2024-01-11T00:00:00.0000000", "timeZone": "Tonga Standard Time"},
        "isAllDay": True,
    }
    # A zone name that does not match the zone falls back to the zone's IANA key.
    other = event_fields(
        appointment, time_zone=tz, time_zone_name="Nowhere", sync_category=SYNC, fields=["start"]
    )
    assert other["start"]["timeZone"] == "Pacific/Tongatapu"


def test_categories_always_carry_the_sync_category() -> None:
    appointment = _read(_event(categories=[]))
    fields = event_fields(
        appointment, time_zone=BERLIN, time_zone_name="UTC", sync_category=SYNC, fields=["categories"]
    )
    assert fields == {"categories": ["D365 Sync"]}
    with pytest.raises(ValueError, match="unknown appointment fields"):
        event_fields(
            appointment, time_zone=BERLIN, time_zone_name="UTC", sync_category=SYNC, fields=["subjet"]
        )
