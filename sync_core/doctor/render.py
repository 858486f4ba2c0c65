"""The doctor's report for a person (a table per area, with rich) or as one JSON document."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sync_core.doctor.model import Verdict
from sync_core.doctor.run import DoctorReport

_STYLE = {Verdict.OK: "green", Verdict.WARNING: "yellow", Verdict.ERROR: "bold red"}
SUMMARY = {
    0: "All checks passed.",
    1: "Warnings: the sync runs, but something above needs attention.",
    2: "Configuration errors: fix the settings or grants named above, then run the doctor again.",
    3: "A service is unusable: nothing can sync until the error above is fixed.",
}


def to_json(report: DoctorReport) -> dict[str, Any]:
    return {
        "exitCode": report.exit_code,
        "summary": SUMMARY[report.exit_code],
        "settings": report.settings,
        "checks": [f.to_json() for f in report.findings],
    }


def print_json(report: DoctorReport) -> None:
    print(json.dumps(to_json(report), indent=2))


def print_human(report: DoctorReport, console: Console | None = None) -> None:
    """The settings as a table, then the checks as a list per place: one line each, and for a warning or
    an error the next step on the line below."""
    console = console or Console(highlight=False)
    settings = Table(title="Effective settings (secrets masked)")
    settings.add_column("setting")
    settings.add_column("value", overflow="fold")
    for name, value in report.settings.items():
        settings.add_row(name, escape(value) or "-")
    console.print(settings)
    area = None
    for f in report.findings:
        if f.area != area:
            area = f.area
            console.print(f"\n[bold]{escape(area)}[/]")
        mark = f"[{_STYLE[f.verdict]}]{f.verdict.value.upper():7}[/]"
        console.print(f"  {mark} {escape(f.check)}: {escape(f.detail)}")
        if f.next_step:
            console.print(f"          next: {escape(f.next_step)}")
    console.print(f"\n{SUMMARY[report.exit_code]}")
