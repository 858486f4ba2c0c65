"""Telemetry: OpenTelemetry traces and metrics to Application Insights (no personal data).

`configure_from_environment()` once at start-up; the pipeline calls the hooks. Names: `names.py`."""

from sync_core.telemetry.core import Telemetry, current, use
from sync_core.telemetry.hooks import (
    deletions_held,
    mailboxes_planned,
    pair_applied,
    traced_cycle,
    traced_message,
    traced_plan,
)
from sync_core.telemetry.ids import cycle_context, mailbox_ref
from sync_core.telemetry.queue_depth import record_queue_depths
from sync_core.telemetry.setup import configure_from_environment

__all__ = [
    "Telemetry",
    "configure_from_environment",
    "current",
    "cycle_context",
    "deletions_held",
    "mailbox_ref",
    "mailboxes_planned",
    "pair_applied",
    "record_queue_depths",
    "traced_cycle",
    "traced_message",
    "traced_plan",
    "use",
]
