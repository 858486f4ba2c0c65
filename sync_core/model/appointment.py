"""Appointments: the canonical record and its two field maps, in one import.

    from sync_core.model.appointment import Appointment, appointment_from_activity, event_fields, ...

The pieces live in small modules: `appointment_base` (model, snapshot record, hash),
`appointment_fno` (F&O Activities) and `appointment_graph` (Graph events).
"""

from __future__ import annotations

from sync_core.model.appointment_base import (
    FIELDS,
    SERIES_FIELDS,
    TIME_FIELDS,
    Appointment,
    Importance,
    Sensitivity,
    Series,
    ShowAs,
    content_hash,
    from_record,
    to_record,
)
from sync_core.model.appointment_fno import activity_fields, appointment_from_activity
from sync_core.model.appointment_graph import appointment_from_event, event_fields, is_whole
from sync_core.model.fields import MappingError, MissingField
from sync_core.model.text import BODY_LIMIT, TRUNCATION_MARKER

__all__ = [
    "BODY_LIMIT",
    "FIELDS",
    "SERIES_FIELDS",
    "TIME_FIELDS",
    "TRUNCATION_MARKER",
    "Appointment",
    "Importance",
    "MappingError",
    "MissingField",
    "Sensitivity",
    "Series",
    "ShowAs",
    "activity_fields",
    "appointment_from_activity",
    "appointment_from_event",
    "content_hash",
    "event_fields",
    "from_record",
    "is_whole",
    "to_record",
]
