"""The canonical appointment record, its JSON-able snapshot form and its content hash.

The model normalises on construction (see `sync_core.model.text`), so two appointments built from
equivalent F&O and Graph payloads compare equal and hash equal.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sync_core.model.datetimes import format_z, utc_minute
from sync_core.model.hashing import hash_fields
from sync_core.model.text import normalise_addresses, normalise_body, normalise_categories, normalise_line

ShowAs = Literal["free", "tentative", "busy", "oof"]
Sensitivity = Literal["normal", "personal", "private", "confidential"]
Importance = Literal["low", "normal", "high"]
# Where the appointment sits in a recurring series (docs/spec.md §3.1). Exchange owns the series shape:
# F&O exposes no recurrence pattern, so these are read from Graph and only written to F&O.
Series = Literal["single", "master", "occurrence", "exception"]

MAX_REMINDER_MINUTES = 525_600  # one year; larger values are clamped by the field maps
DEFAULT_REMINDER_MINUTES = 15


class Appointment(BaseModel):
    """One appointment as both systems should hold it.

    `start`/`end` are aware UTC instants truncated to the minute; for all-day appointments they
    are the UTC instants of local midnights in the mailbox time zone (end exclusive).
    `categories` excludes the sync category; `attendees` excludes the mailbox owner.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = ""
    body: str = ""
    start: datetime
    end: datetime
    is_all_day: bool = False
    location: str = ""
    show_as: ShowAs = "busy"
    sensitivity: Sensitivity = "normal"
    importance: Importance = "normal"
    reminder_on: bool = False
    reminder_minutes: int = Field(default=DEFAULT_REMINDER_MINUTES, ge=0, le=MAX_REMINDER_MINUTES)
    categories: tuple[str, ...] = ()
    attendees: tuple[str, ...] = ()
    series: Series = "single"
    # Occurrences and exceptions: the start the pattern gave them (F&O OriginalStartDate), as UTC.
    original_start: datetime | None = None

    @field_validator("subject", "location")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return normalise_line(value)

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        return normalise_body(value)

    @field_validator("start", "end")
    @classmethod
    def _instant(cls, value: datetime) -> datetime:
        # Naive values are taken as UTC: every producer in this package sends aware ones.
        return utc_minute(value)

    @field_validator("original_start")
    @classmethod
    def _original(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc_minute(value)

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return normalise_categories(value)

    @field_validator("attendees")
    @classmethod
    def _attendees(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return normalise_addresses(value)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError("end lies before start")
        return self


FIELDS: tuple[str, ...] = tuple(Appointment.model_fields)
"""Canonical field names, in declaration order; also the fields the content hash covers."""

TIME_FIELDS: tuple[str, ...] = ("start", "end", "is_all_day")
"""Fields that only make sense together: merged and written as one unit."""

SERIES_FIELDS: tuple[str, ...] = ("series", "original_start")
"""The place in a series: read-only in Graph, merged as one unit."""


def select_fields(fields: Collection[str] | None) -> frozenset[str]:
    """The canonical fields a writer should include (all when None); unknown names raise ValueError."""
    wanted = frozenset(FIELDS if fields is None else fields)
    unknown = wanted.difference(FIELDS)
    if unknown:
        raise ValueError(f"unknown appointment fields: {sorted(unknown)}")
    return wanted


def to_record(appointment: Appointment) -> dict[str, Any]:
    """JSON-able dict (instants as ISO text with Z, lists for tuples): the link snapshot form."""
    record = appointment.model_dump()
    record["start"] = format_z(appointment.start)
    record["end"] = format_z(appointment.end)
    record["categories"] = list(appointment.categories)
    record["attendees"] = list(appointment.attendees)
    record["original_start"] = format_z(appointment.original_start) if appointment.original_start else None
    return record


def from_record(record: Mapping[str, Any]) -> Appointment:
    """Appointment from a snapshot record; unknown keys (from a newer version) are ignored."""
    return Appointment.model_validate({key: record[key] for key in FIELDS if key in record})


def content_hash(record: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of the canonical fields (missing fields hash as null)."""
    return hash_fields(record, FIELDS)
