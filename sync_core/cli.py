"""Command line: `python -m sync_core run --once [--json] [--dry-run]` and the command groups it registers.

Thin: parse arguments, load settings, call the pipeline, print."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Sequence

from sync_core.app import open_context
from sync_core.cli_approve import add_parser as add_approve_parser
from sync_core.cli_approve import approve_deletes
from sync_core.cli_console import add_parser as add_console_parser
from sync_core.cli_console import run as run_console
from sync_core.cli_contacts import add_parser as add_contacts_parser
from sync_core.cli_contacts import run_contacts
from sync_core.cli_doctor import add_parser as add_doctor_parser
from sync_core.cli_doctor import run as run_doctor
from sync_core.cli_errors import (
    EXIT_CONFIG,
    EXIT_ITEM_FAILED,
    EXIT_OK,
    EXIT_UNUSABLE,
    guarded,
    report_problem,
)
from sync_core.cli_forget import add_parser as add_forget_parser
from sync_core.cli_forget import run_forget
from sync_core.cli_migrate import add_parser as add_migrate_parser
from sync_core.cli_migrate import run_migrate
from sync_core.cli_ops import COMMANDS as OPS_COMMANDS
from sync_core.cli_ops import add_parsers as add_ops_parsers
from sync_core.cli_ops import run_ops
from sync_core.cli_progress import cycle_progress
from sync_core.cli_status import COMMANDS as STATE_COMMANDS
from sync_core.cli_status import add_parsers as add_status_parsers
from sync_core.cli_status import run_state_command
from sync_core.doctor.names import configured_names, unknown_names
from sync_core.limits import summary as limits_summary
from sync_core.log_setup import configure_logging
from sync_core.pipeline.local_queue import SqliteQueues
from sync_core.pipeline.runner import CycleProgress, run_cycle
from sync_core.runtime.queues import InProcessQueues, LocalQueues
from sync_core.runtime.report import ACTIONS, CycleReport
from sync_core.service_errors import host_of
from sync_core.settings import Settings, SettingsError, load_settings, storage_account_override

__all__ = ["EXIT_CONFIG", "EXIT_ITEM_FAILED", "EXIT_OK", "EXIT_UNUSABLE", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sync_core", description="Exchange Sync for Dynamics 365 F&O"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (ids and counts only)")
    parser.add_argument(
        "--storage-account",
        metavar="NAME",
        help="the deployed app's storage account, read and written with your own Entra sign-in",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the sync")
    run.add_argument("--once", action="store_true", required=True, help="one complete cycle, then exit")
    run.add_argument("--json", action="store_true", help="print one JSON document on standard output")
    run.add_argument("--dry-run", action="store_true", help="print the plan and write nothing")
    add_status_parsers(commands)
    commands.add_parser("check-config", help="validate the settings and exit")
    add_approve_parser(commands)
    add_contacts_parser(commands)
    add_ops_parsers(commands)
    add_doctor_parser(commands)
    add_migrate_parser(commands)
    add_forget_parser(commands)
    add_console_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes (cli_errors.py): 0 ok, 1 some items failed, 2 configuration, 3 F&O or Graph unusable."""
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose)
    as_json = bool(getattr(args, "json", False))
    if args.command in STATE_COMMANDS:
        return guarded(lambda: run_state_command(args), as_json=as_json)  # the state store's settings only
    try:
        settings = load_settings({**os.environ, **storage_account_override(args.storage_account)})
    except SettingsError as exc:
        if args.command == "check-config" and not as_json:
            _warn_unknown_names()  # a misspelt name is often why a value is missing or wrong
        return report_problem(exc, as_json=as_json)
    return guarded(
        lambda: _dispatch(settings, args),
        as_json=as_json,
        fno_host=host_of(settings.d365_url),
        graph_host=host_of(settings.graph_url),
    )


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    if args.command in ("approve-deletes", "reject-deletes"):
        return asyncio.run(approve_deletes(settings, args))
    if args.command == "contacts":
        return asyncio.run(run_contacts(settings, args))
    if args.command == "migrate":
        return asyncio.run(run_migrate(settings, args))
    if args.command in OPS_COMMANDS:
        return asyncio.run(run_ops(settings, args))
    if args.command == "forget":
        return asyncio.run(run_forget(settings, args))
    if args.command == "check-config":
        return check_config(settings)
    if args.command == "doctor":
        return run_doctor(settings, args)
    if args.command == "console":
        return run_console(settings, args)
    if args.command == "run":
        with cycle_progress() as progress:
            report = asyncio.run(run_once(settings, dry_run=args.dry_run, progress=progress))
        if args.json:
            print(json.dumps(report.to_json(dry_run=args.dry_run), indent=2))
        else:
            print(format_report(report, dry_run=args.dry_run))
        return EXIT_ITEM_FAILED if report.failed else EXIT_OK  # an item or a planning step failed
    raise AssertionError(f"unknown command {args.command}")  # argparse admits only the registered ones


def check_config(settings: Settings) -> int:
    """Offline: the settings loaded (errors exit 2 before this); names that look like ours but are not are
    warnings (exit 1), since a misspelt setting is otherwise silently ignored; so is a Graph limit set above
    Microsoft's."""
    print(limits_summary.describe(settings))
    limit_warnings = limits_summary.warnings(settings)
    for warning in limit_warnings:
        print(f"WARNING: {warning}")
    if _warn_unknown_names() or limit_warnings:
        return EXIT_ITEM_FAILED
    print("configuration OK (offline; `python -m sync_core doctor` checks F&O, Graph and the mailboxes)")
    return EXIT_OK


def _warn_unknown_names() -> bool:
    unknown = unknown_names(configured_names())
    for name in unknown:
        print(f"WARNING: {name.message}")
    return bool(unknown)


async def run_once(
    settings: Settings, *, dry_run: bool = False, progress: CycleProgress | None = None
) -> CycleReport:
    """One cycle; raises ServiceUnusable (exit 3) when F&O or Graph cannot be used at all."""
    # A dry run must not take (and so consume) what a real run left queued: it plans on its own.
    queues: LocalQueues = InProcessQueues() if dry_run else SqliteQueues.open(settings.state_dir)
    try:
        async with open_context(settings, queues, dry_run=dry_run) as ctx:
            return await run_cycle(ctx, queues, progress=progress)
    finally:
        await queues.close()


def format_report(report: CycleReport, *, dry_run: bool) -> str:
    lines = ["Dry run: nothing was written." if dry_run else "Sync cycle finished."]
    width = max([len("kind"), *(len(kind) for kind in report.counts)])
    header = f"{'kind':{width}} {'direction':12} " + " ".join(f"{a:>9}" for a in ACTIONS)
    lines.append(header)
    for kind, per in sorted(report.counts.items()):
        for direction, counts in per.items():
            lines.append(f"{kind:{width}} {direction:12} " + " ".join(f"{counts[a]:>9}" for a in ACTIONS))
    if report.conflicts:
        lines.append(f"conflicts decided by policy: {report.conflicts} (see `python -m sync_core audit`)")
    for mailbox, reason in sorted(report.skipped_mailboxes.items()):
        lines.append(f"skipped mailbox {mailbox}: {reason}")
    for planned in report.planned:
        lines.append(f"would {planned.action} {planned.kind} in {planned.mailbox}: {planned.reason}")
    for failure in report.failures:
        item = failure.fno_key or failure.graph_id or "-"
        lines.append(f"FAILED {failure.kind} {item} ({failure.mailbox}): {failure.reason}")
    for warning in report.warnings:
        lines.append(f"WARNING: {warning.message}")
    for problem in report.planning_problems:
        where = f" ({problem.mailbox})" if problem.mailbox else ""
        lines.append(f"PLANNING FAILED {problem.step}{where}, {problem.service}: {problem.reason}")
    return "\n".join(lines)
