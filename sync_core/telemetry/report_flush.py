"""Turn what a cycle report gained since the last look into metrics, exactly once.

A report is shared by every message of a local cycle, which run side by side; each hook emits only what
the report gained since the previous flush, so no count is emitted twice and none is lost. (In Azure every
invocation has its own report.) The report stays the single source of the counts the CLI prints."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sync_core.telemetry import names
from sync_core.telemetry.core import Telemetry
from sync_core.telemetry.ids import mailbox_ref, reason_class

if TYPE_CHECKING:
    from sync_core.runtime.report import CycleReport


@dataclass
class ReportMarks:
    """What has been emitted from one report so far, and the cycle it belongs to."""

    report: weakref.ref[CycleReport]
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    failures: int = 0
    skipped: set[str] = field(default_factory=set)
    cycle_id: str = ""


_marks: dict[int, ReportMarks] = {}


def marks_for(report: CycleReport) -> ReportMarks:
    key = id(report)
    marks = _marks.get(key)
    if marks is None or marks.report() is not report:

        def forget(ref: weakref.ref[CycleReport], key: int = key) -> None:
            if key in _marks and _marks[key].report is ref:
                del _marks[key]

        marks = _marks[key] = ReportMarks(report=weakref.ref(report, forget))
    return marks


def flush(report: CycleReport, telemetry: Telemetry, key: str) -> None:
    """Emit the report's new counts, failures and skipped mailboxes. No await inside: atomic in asyncio."""
    marks = marks_for(report)
    for kind, per_direction in list(report.counts.items()):
        for direction, per_action in per_direction.items():
            for action, total in per_action.items():
                seen = marks.counts.get((kind, direction, action), 0)
                if total > seen:
                    telemetry.items.add(
                        total - seen,
                        {names.KIND: kind, names.DIRECTION: direction, names.ACTION: action},
                    )
                    marks.counts[(kind, direction, action)] = total
    for note in report.failures[marks.failures :]:
        telemetry.failures.add(
            1,
            {
                names.KIND: note.kind,
                names.MAILBOX: mailbox_ref(note.mailbox, key),
                names.REASON: reason_class(note.reason),
            },
        )
    marks.failures = len(report.failures)
    for mailbox, reason in list(report.skipped_mailboxes.items()):
        if mailbox not in marks.skipped:
            marks.skipped.add(mailbox)
            telemetry.skipped_mailboxes.add(
                1, {names.MAILBOX: mailbox_ref(mailbox, key), names.REASON: reason_class(reason)}
            )
