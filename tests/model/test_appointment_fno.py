from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sync_core.model.appointment import (
    Appointment,
    MappingError,
    MissingField,
    activity_fields,
    appointment_from_activity,
)

BERLIN = ZoneInfo("Europe/Berlin")
SYNC = "D365 Sync"


def _activity(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "dataAreaId": "usmf",
        "ActivityNumber": "ACT-000123",
        "Category": "Appointment",
        "Purpose": "Quarterly review",
        "OutlookText": "Agenda:\r\n- numbers  \r\n",
        "StartDateTime": "2024-03-05T09:00:00Z",
        "EndDateTime": "2024-03-05T10:30:00Z",
        "AllDay": "No",
        "Location": "Room 1",
        "ShowTimeAs": "OutOfOffice",
        "Sensitivity": "Privat",
        "Priority": "High",
        "Reminder": "Yes",
        "ReminderMinutes": 30,
        "OutlookCategories": "Red;D365 Sync;blue",
        "KeepSynchronized": "Yes",
    }
    base.update(overrides)
    return base


def _read(activity: dict[str, Any], zone: ZoneInfo = BERLIN, attendees: tuple[str, ...] = ()) -> Appointment:
    return appointment_from_activity(
        activity,
        attendee_emails=attendees,
        sync_category=SYNC,
        time_zone=zone,
        owner_addresses=["me@contoso.com"],
    )


def test_reads_all_fields() -> None:
    appointment = _read(_activity(), attendees=("Bob@Contoso.com", "me@contoso.com", "bob@contoso.com"))
    assert appointment == Appointment(
        subject="Quarterly review",
        body="Agenda:\n- numbers",
        start=datetime(2024, 3, 5, 9, 0, tzinfo=UTC),
        end=datetime(2024, 3, 5, 10, 30, tzinfo=UTC),
        location="Room 1",
        show_as="oof",
        sensitivity="private",
        importance="high",
        reminder_on=True,
        reminder_minutes=30,
        categories=("blue", "Red"),
        attendees=("bob@contoso.com",),
    )


def test_privat_is_written_back_as_privat() -> None:
    fields = activity_fields(_read(_activity()))
    assert fields["Sensitivity"] == "Privat"
    assert fields == {
        "Purpose": "Quarterly review",
        "OutlookText": "Agenda:\n- numbers",
        "StartDateTime": "2024-03-05T09:00:00Z",
        "EndDateTime": "2024-03-05T10:30:00Z",
        "AllDay": "No",
        "Location": "Room 1",
        "ShowTimeAs": "OutOfOffice",
        "Sensitivity": "Privat",
        "Priority": "High",
        "Reminder": "Yes",
        "ReminderMinutes": 30,
        "OutlookCategories": "blue;Red",
    }


def test_field_selection_writes_time_fields_together_and_skips_attendees() -> None:
    appointment = _read(_activity())
    assert activity_fields(appointment, ["end"]) == {
        "StartDateTime": "2024-03-05T09:00:00Z",
        "EndDateTime": "2024-03-05T10:30:00Z",
        "AllDay": "No",
    }
    assert activity_fields(appointment, ["attendees"]) == {}
    assert activity_fields(appointment, []) == {}
    with pytest.raises(ValueError, match="unknown appointment fields"):
        activity_fields(appointment, ["Purpose"])


def test_seconds_are_truncated() -> None:
    appointment = _read(
        _activity(StartDateTime="2024-03-05T09:00:59.999Z", EndDateTime="2024-03-05T09:30:01Z")
    )
    assert appointment.start == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
    assert appointment.end == datetime(2024, 3, 5, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("start", [None, "", "1900-01-01T00:00:00Z", "garbage", 7])
def test_missing_start_is_a_mapping_error(start: object) -> None:
    with pytest.raises(MappingError):
        _read(_activity(StartDateTime=start))


@pytest.mark.parametrize("end", ["1900-01-01T00:00:00Z", "2024-03-05T08:00:00Z"])
def test_empty_or_early_end_becomes_start(end: object) -> None:
    appointment = _read(_activity(EndDateTime=end))
    assert appointment.end == appointment.start


@pytest.mark.parametrize("end", [None, "", "garbage", 7])
def test_missing_or_unreadable_end_is_a_missing_field(end: object) -> None:
    with pytest.raises(MissingField, match="'EndDateTime'"):
        _read(_activity(EndDateTime=end))


def test_hostile_values_map_to_defaults(caplog: pytest.LogCaptureFixture) -> None:
    activity = {
        "Purpose": None,
        "OutlookText": {"not": "text"},
        "StartDateTime": "2024-03-05T09:00:00+13:00",
        "EndDateTime": "1900-01-01T00:00:00Z",  # F&O's "no date": zero-length
        "AllDay": "Maybe",
        "Location": 12,
        "ShowTimeAs": "WorkingElsewhere",
        "Sensitivity": "Secret",
        "Priority": None,
        "Reminder": 2,
        "ReminderMinutes": "-5",
        "OutlookCategories": None,
    }
    appointment = _read(activity)
    assert appointment == Appointment(
        start=datetime(2024, 3, 4, 20, 0, tzinfo=UTC),
        end=datetime(2024, 3, 4, 20, 0, tzinfo=UTC),
        reminder_minutes=0,
    )
    # Said so in the log, by field name only.
    for field in ("AllDay", "ShowTimeAs", "Sensitivity", "Reminder"):
        assert field in caplog.text
    assert "Secret" not in caplog.text and "WorkingElsewhere" not in caplog.text


def test_enum_numbers_are_understood() -> None:
    appointment = _read(_activity(ShowTimeAs=0, Sensitivity=2, Priority=1, ReminderMinutes=10**12))
    assert (appointment.show_as, appointment.sensitivity, appointment.importance) == (
        "free",
        "private",
        "low",
    )
    assert appointment.reminder_minutes == 525_600


@pytest.mark.parametrize(
    ("zone", "start", "end", "local_start", "local_end"),
    [
        # Berlin winter (UTC+1): local midnights as UTC instants.
        ("Europe/Berlin", "2024-01-09T23:00:00Z", "2024-01-10T23:00:00Z", "2024-01-10", "2024-01-11"),
        # Tonga (UTC+13): the local day starts the previous UTC day.
        ("Pacific/Tongatapu", "2024-01-09T11:00:00Z", "2024-01-10T11:00:00Z", "2024-01-10", "2024-01-11"),
        # Honolulu (UTC-10).
        ("Pacific/Honolulu", "2024-01-10T10:00:00Z", "2024-01-12T10:00:00Z", "2024-01-10", "2024-01-12"),
        # F&O UI style: start of day and an inclusive 23:59 end.
        ("Europe/Berlin", "2024-01-09T23:00:00Z", "2024-01-10T22:59:00Z", "2024-01-10", "2024-01-11"),
        # A timed activity flagged all-day keeps its day.
        ("Europe/Berlin", "2024-01-10T08:00:00Z", "2024-01-10T09:00:00Z", "2024-01-10", "2024-01-11"),
    ],
)
def test_all_day_is_local_midnight_to_midnight(
    zone: str, start: str, end: str, local_start: str, local_end: str
) -> None:
    tz = ZoneInfo(zone)
    appointment = _read(_activity(AllDay="Yes", StartDateTime=start, EndDateTime=end), zone=tz)
    assert appointment.is_all_day
    for instant, expected in ((appointment.start, local_start), (appointment.end, local_end)):
        local = instant.astimezone(tz)
        assert (local.date().isoformat(), local.hour, local.minute) == (expected, 0, 0)
