"""`python -m sync_core migrate [--dry-run] [--mailbox ADDRESS] [--json]`: take over the links an earlier
Outlook sync left in F&O (pipeline/migrate.py, docs/migration.md).

The dry run reads F&O, Graph and the state store and writes nothing: per mailbox, how many of the worker's
marked appointment activities would be linked by translated id, by subject and start, or not at all and
why. Without `--dry-run` the translated ones are adopted and linked now. Exit 0, or 1 when an activity's
adoption failed (named in the report; running the command again retries it).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sync_core.app import open_context
from sync_core.pipeline.migrate import (
    MailboxMigration,
    adopt_mailbox,
    format_text,
    in_scope_records,
    plan_mailbox,
)
from sync_core.pipeline.plan import refresh_registry
from sync_core.runtime.context import Mailbox, utc_now
from sync_core.runtime.queues import InProcessQueues
from sync_core.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate", help="adopt the links an earlier Outlook sync left in OutlookEntryId (appointments)"
    )
    migrate.add_argument("--dry-run", action="store_true", help="report what would be linked; write nothing")
    migrate.add_argument("--mailbox", help="only this mailbox (default: every mailbox in scope)")
    migrate.add_argument("--json", action="store_true", help="print one JSON document")


async def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    dry_run = bool(args.dry_run)
    only = str(args.mailbox).strip().lower() if args.mailbox else None
    started = utc_now()
    plans = await migrate(settings, dry_run=dry_run, mailbox=only)
    if plans is None:
        print("mailbox is not in scope, or is skipped or paused; see `python -m sync_core status`")
        return EXIT_USAGE
    if args.json:
        document = {"dryRun": dry_run, "mailboxes": [p.to_json() for p in plans]}
        print(json.dumps(document, indent=2))
    else:
        print(format_text(plans, dry_run=dry_run, started=started))
    return EXIT_FAILED if any(p.failed for p in plans) else EXIT_OK


async def migrate(
    settings: Settings,
    *,
    dry_run: bool,
    mailbox: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> list[MailboxMigration] | None:
    """The report per mailbox (and, unless a dry run, the adoption); None when `mailbox` is not ready."""
    plans: list[MailboxMigration] = []
    async with open_context(settings, InProcessQueues(), dry_run=dry_run, clock=clock) as ctx:
        records = in_scope_records(await refresh_registry(ctx))
        if mailbox is not None:
            records = [r for r in records if r.mailbox == mailbox]
            if not records:
                return None
        for record in records:
            resolved = Mailbox.from_record(record)
            plan = await plan_mailbox(ctx, resolved)
            if not dry_run:
                await adopt_mailbox(ctx, plan, resolved)
            plans.append(plan)
    return plans
