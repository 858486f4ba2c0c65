"""`python -m sync_core status | failures | audit`: read the state store, nothing else.

They start with the store's settings alone (settings.load_state_settings: no D365_URL, SYNC_COMPANY or
mailboxes needed) and, with `--storage-account NAME`, read the deployed app's storage account as whoever
runs them (their own Entra sign-in; docs/admin-guide.md "Deployed app: operate it from your own machine")."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sync_core.contacts.registry import SHARED_OWNER_PREFIX
from sync_core.settings import SettingsError, StateSettings, load_state_settings
from sync_core.state.base import StateError, StateStore
from sync_core.state.factory import SQLITE_FILE, open_state_only
from sync_core.state.sqlite import SqliteStateStore
from sync_core.status_report import StatusReport, collect_status

EXIT_OK, EXIT_ITEM_FAILED, EXIT_CONFIG, EXIT_UNUSABLE = 0, 1, 2, 3
COMMANDS = ("status", "failures", "audit")


def add_parsers(commands: Any) -> None:
    status = commands.add_parser("status", help="per mailbox and kind: last sync, errors, retries, holds")
    status.add_argument("--json", action="store_true", help="one JSON document")
    failures = commands.add_parser("failures", help="items that failed, with the reason")
    failures.add_argument("--mailbox", help="only this mailbox")
    failures.add_argument("--kind", help="only this kind (appointment, task, email, contact, ...)")
    failures.add_argument("--json", action="store_true")
    audit = commands.add_parser("audit", help="recent sync decisions, newest first")
    audit.add_argument("--mailbox", help="only this mailbox")
    audit.add_argument("--kind", help="only this kind")
    audit.add_argument("--action", help="only this action, e.g. conflict, deletions_held")
    audit.add_argument(
        "--since", type=_since, help="from this time: 2026-03-20, 2026-03-20T09:30, or 3d / 12h"
    )
    audit.add_argument("--limit", type=int, default=50, help="at most this many entries (default 50)")
    audit.add_argument("--json", action="store_true")


def _since(text: str) -> datetime:
    """An ISO date or time (UTC unless it names an offset), or an age: `90m`, `12h`, `3d`."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    value = text.strip()
    if value[:-1].isdigit() and value[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a date (2026-03-20), a time or an age (3d, 12h)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_state_command(args: argparse.Namespace) -> int:
    """Run one of COMMANDS; every expected failure is a message and an exit code, never a traceback."""
    try:
        settings = load_state_settings(storage_account=getattr(args, "storage_account", None))
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    command: Callable[[StateStore, StateSettings, argparse.Namespace], Awaitable[int]] = {
        "status": _status,
        "failures": _failures,
        "audit": _audit,
    }[args.command]
    return asyncio.run(_with_store(settings, args, command))


async def _with_store(
    settings: StateSettings,
    args: argparse.Namespace,
    command: Callable[[StateStore, StateSettings, argparse.Namespace], Awaitable[int]],
) -> int:
    where = _where(settings)
    store: StateStore
    if not settings.uses_azure_storage and not (settings.state_dir / SQLITE_FILE).is_file():
        # Nothing ran here yet (or the folder is mistyped): read an empty store, create nothing, and say so.
        print(
            f"note: no state in {settings.state_dir.resolve()} yet: no cycle has run with this SYNC_STATE_DIR "
            "(the folder `run --once` used; in Azure: --storage-account NAME)",
            file=sys.stderr,
        )
        store = SqliteStateStore(Path(":memory:"))
    else:
        store = open_state_only(settings)
    try:
        return await command(store, settings, args)
    except ClientAuthenticationError:
        print(
            f"could not sign in to {where}: sign in with `az login` (or `azd auth login`) as a person who "
            "holds Storage Table Data Contributor on the account (docs/admin-guide.md, Deployed app)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except HttpResponseError as exc:
        if exc.status_code == 403:
            print(
                f"{where} refused access (403): your sign-in needs Storage Table Data Contributor and "
                "Storage Queue Data Contributor on the account (infra parameter operatorsGroupId)",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        print(f"{where} answered {exc.status_code}: {exc.reason}", file=sys.stderr)
        return EXIT_UNUSABLE
    except (ServiceRequestError, OSError, StateError) as exc:
        print(f"{where} is not reachable ({type(exc).__name__}); check the name and network", file=sys.stderr)
        return EXIT_UNUSABLE
    finally:
        await store.close()


def _where(settings: StateSettings) -> str:
    if settings.storage_account:
        return f"storage account {settings.storage_account}"
    if settings.storage_connection:
        return "the storage account of AzureWebJobsStorage"
    return f"the state folder {settings.state_dir}"


def _console() -> Console:
    # Wide enough off a terminal (a pipe, a file) that rows are not folded into unreadable columns.
    console = Console()
    return console if console.is_terminal else Console(width=200)


# -- status -------------------------------------------------------------------------------------------


async def _status(store: StateStore, settings: StateSettings, args: argparse.Namespace) -> int:
    report = await collect_status(store, settings.mailboxes)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_status(report, _console())
    return EXIT_ITEM_FAILED if report.items_failed() else EXIT_OK


def print_status(report: StatusReport, console: Console) -> None:
    for warning in report.service_warnings:
        console.print(f"WARNING ({report.service_check}): {warning}", markup=False)
    if not report.service_warnings:
        console.print(f"F&O entities: {report.service_check}", markup=False)
    for problem in report.feed_problems:
        console.print(f"F&O change feed failing, {problem}", markup=False)
    console.print(
        f"{report.open_failures} open failure(s), {report.waiting_for_retry} waiting for an automatic retry;"
        " see `python -m sync_core failures`",
        markup=False,
    )
    if not report.mailboxes:
        console.print("No mailbox in scope yet: set SYNC_MAILBOXES or run a cycle (SYNC_MAILBOX_GROUP).")
        return
    table = Table("mailbox", "kind", "state", "last sync", "retry", "held", "last error / next step")
    for mailbox in report.mailboxes:
        note = mailbox.reason or ""
        if mailbox.paused_by:
            note = f"paused by {mailbox.paused_by} {mailbox.paused_at or ''} {mailbox.pause_reason or ''}"
        table.add_row(
            *map(
                Text,
                (
                    mailbox.mailbox,
                    _worker(mailbox.worker),
                    mailbox.state,
                    _short(mailbox.last_sync) or "never",
                    "",
                    "",
                    note.strip(),
                ),
            )
        )
        for kind in mailbox.kinds:
            if kind.state == mailbox.state and not (kind.last_error or kind.held_deletions):
                continue  # says no more than the mailbox's row
            detail = "; ".join(x for x in (kind.held_reason or kind.last_error, kind.next_step) if x)
            cells = (
                "",
                kind.kind,
                kind.state,
                _short(kind.last_sync) or "-",
                str(kind.waiting_for_retry or ""),
                str(kind.held_deletions or ""),
                detail,
            )
            table.add_row(*map(Text, cells))
    console.print(table)


def _worker(personnel_number: str) -> str:
    if personnel_number.startswith(SHARED_OWNER_PREFIX):
        return "shared list"
    return f"worker {personnel_number or '-'}"


def _short(iso: str | None) -> str | None:
    """A table's time: to the second, UTC (the JSON keeps the full value)."""
    if iso is None:
        return None
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- failures and audit ---------------------------------------------------------------------------------


async def _failures(store: StateStore, settings: StateSettings, args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = [
        {
            "kind": f.kind,
            "mailbox": f.mailbox,
            "item": f.item_key,
            "reason": f.reason,
            "attempts": f.attempts,
            "lastAt": f.last_at.isoformat(),
            # When the work list tries it again; none: retried when the item changes.
            "retryAt": f.retry_at.isoformat() if f.waiting_for_retry and f.retry_at else None,
        }
        for f in await store.list_failures()
        if (args.mailbox is None or f.mailbox == args.mailbox.lower())
        and (args.kind is None or f.kind == args.kind)
    ]
    _print_rows(rows, args.json, "No open failure.")
    return EXIT_ITEM_FAILED if rows else EXIT_OK


async def _audit(store: StateStore, settings: StateSettings, args: argparse.Namespace) -> int:
    entries = await store.list_audit(
        args.limit,
        mailbox=args.mailbox.lower() if args.mailbox else None,
        kind=args.kind,
        action=args.action,
        since=args.since,
    )
    rows: list[dict[str, Any]] = [
        {
            "at": e.at.isoformat(),
            "kind": e.kind,
            "mailbox": e.mailbox,
            "action": e.action,
            "fnoKey": e.fno_key,
            "graphId": e.graph_id,
            "detail": e.detail,
        }
        for e in entries
    ]
    _print_rows(rows, args.json, "Nothing recorded that matches.")
    return EXIT_OK


def _print_rows(rows: list[dict[str, Any]], as_json: bool, empty: str) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    console = _console()
    if not rows:
        console.print(empty)
        return
    table = Table(*rows[0])
    for row in rows:
        table.add_row(*(Text(_cell(value)) for value in row.values()))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, dict):
        # key: value pairs, one a line (a conflict's values, the fields a decision changed)
        return "\n".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)
