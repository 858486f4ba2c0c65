"""`python -m sync_core doctor [--mailbox ADDRESS] [--json]`: check the installation online (docs/admin-guide.md,
"Check the installation with doctor")."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from sync_core.doctor.model import EXIT_CONFIG
from sync_core.doctor.names import configured_names, unknown_names
from sync_core.doctor.render import print_human, print_json
from sync_core.doctor.run import run_doctor
from sync_core.settings import Settings


def add_parser(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor", help="check F&O, Graph, every mailbox and shared list online; each finding says what to do"
    )
    doctor.add_argument("--mailbox", help="check only this mailbox (employee or shared-list mailbox)")
    doctor.add_argument("--json", action="store_true", help="print one JSON document")


def run(settings: Settings, args: argparse.Namespace) -> int:
    mailbox = str(args.mailbox).strip().lower() if args.mailbox else None
    if mailbox is not None and "@" not in mailbox:
        print(f"--mailbox {args.mailbox!r} is not a mailbox address (name@domain)")
        return EXIT_CONFIG
    report = asyncio.run(run_doctor(settings, unknown_names(configured_names()), mailbox=mailbox))
    if args.json:
        print_json(report)
    else:
        print_human(report)
    return report.exit_code
