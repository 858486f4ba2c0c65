"""Stored mailbox data of the Graph stand-in (internal form: times in UTC, enums lower-case)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass
class User:
    id: str
    mail: str
    display_name: str
    time_zone: str


@dataclass
class StoredEvent:
    key: bytes
    fields: dict[str, Any]
    """Graph-shaped simple properties (subject, body, location, attendees, categories, importance, ...)."""
    start: datetime
    end: datetime
    start_zone: str
    end_zone: str
    is_all_day: bool
    created: datetime
    modified: datetime
    recurrence: dict[str, Any] | None = None
    ext: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Normalised extended-property id -> (id as first written, value)."""
    version: int = 1
    seq: int = 0
    """Mailbox change sequence number of the last change (feeds delta)."""
    exceptions: dict[date, StoredEvent] = field(default_factory=dict)
    cancelled: set[date] = field(default_factory=set)
    # A meeting this mailbox was invited to: (address, name) of the organizer; None when it organises it.
    invited_by: tuple[str, str] | None = None


@dataclass
class Instance:
    """One row of a calendar view: a single event, or one occurrence/exception of a series."""

    master: StoredEvent
    record: StoredEvent
    occurrence: date | None
    start: datetime
    end: datetime

    @property
    def kind(self) -> str:
        if self.occurrence is None:
            return "seriesMaster" if self.master.recurrence else "singleInstance"
        return "exception" if self.occurrence in self.master.exceptions else "occurrence"


@dataclass
class Category:
    id: str
    display_name: str
    color: str


@dataclass
class Mailbox:
    user: User
    events: dict[bytes, StoredEvent] = field(default_factory=dict)
    categories: list[Category] = field(default_factory=list)
    transactions: dict[str, bytes] = field(default_factory=dict)
    tombstones: dict[bytes, int] = field(default_factory=dict)
    """Deleted event key -> change sequence of the delete."""
    seq: int = 0
    sync_generation: int = 0
    """Bumped by expire_delta_tokens: tokens of older generations answer 410."""
