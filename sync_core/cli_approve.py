"""`python -m sync_core approve-deletes|reject-deletes --mailbox M --kind K [--dry-run] [--json] [--actor NAME]`:
answer a safety-valve hold (held_deletions.py: approve applies it, reject keeps both sides).

Shows what the hold would delete or unlink (each linked pair whose F&O or Exchange side is gone now) with
the subject and date the pair had when last synced (the link's snapshot in the state store, so nothing more
is read), then, unless `--dry-run`, approves: the next cycle's deletion check for that mailbox and kind
applies them. The answer is audited (`deletions-approved`, `deletions-rejected`) with who gave it. Subjects are printed for the
administrator who asked, never logged.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sync_core.app import open_context
from sync_core.cli_ops import actor
from sync_core.held_deletions import HeldError, approve, find_held, reject
from sync_core.runtime.queues import InProcessQueues
from sync_core.settings import Settings

EXIT_OK, EXIT_USAGE = 0, 2


def add_parser(commands: Any) -> None:
    approve = commands.add_parser(
        "approve-deletes", help="release deletions the safety valve holds for one mailbox and kind"
    )
    approve.add_argument("--mailbox", required=True, help="mailbox address")
    approve.add_argument("--kind", required=True, help="kind of item, e.g. appointment")
    approve.add_argument("--dry-run", action="store_true", help="only show what would be deleted")
    approve.add_argument("--json", action="store_true")
    approve.add_argument("--actor", help="who approves, for the audit log (default: the signed-in user)")
    reject_ = commands.add_parser(
        "reject-deletes",
        help="keep both sides instead: forget the held pairs' links and recreate what vanished",
    )
    reject_.add_argument("--mailbox", required=True, help="mailbox address")
    reject_.add_argument("--kind", required=True, help="kind of item, e.g. appointment")
    reject_.add_argument("--dry-run", action="store_true", help="only show what would be kept")
    reject_.add_argument("--json", action="store_true")
    reject_.add_argument("--actor", help="who rejects, for the audit log (default: the signed-in user)")


async def approve_deletes(settings: Settings, args: argparse.Namespace) -> int:
    """`approve-deletes` and `reject-deletes` (the same listing; held_deletions.py says what each does)."""
    address = str(args.mailbox).strip().lower()
    rejecting = args.command == "reject-deletes"
    async with open_context(settings, InProcessQueues(), dry_run=True) as ctx:
        try:
            held = await find_held(ctx, args.kind, address)
        except HeldError as exc:
            print(exc)
            return EXIT_USAGE
        answered, who, restored = False, "", 0
        if held.state.held and not args.dry_run:
            who = actor(args.actor)
            if rejecting:
                restored = await reject(ctx, held, who)
            else:
                await approve(ctx, held, who)
            answered = True
    result = {
        "mailbox": address,
        "kind": args.kind,
        "held": held.state.held,
        "reason": held.state.reason,
        "approved": answered and not rejecting,
        "rejected": answered and rejecting,
        "approvedBy": who if not rejecting else "",
        "rejectedBy": who if rejecting else "",
        "restored": restored,
        "dryRun": bool(args.dry_run),
        "items": held.rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_text(result))
    return EXIT_OK


def _text(result: dict[str, Any]) -> str:
    lines = [f"{result['kind']} in {result['mailbox']}:"]
    if result["held"]:
        lines.append(f"held by the safety valve: {result['reason']}")
    else:
        lines.append("nothing is held for this mailbox and kind")
    for row in result["items"]:
        lines.append(
            f"  {DOES.get(row['action'], row['action'])} (vanished in {row['vanishedIn']}):"
            f" {row['date'] or '-'}  {row['subject'] or '(no subject)'}  [{row['fnoKey']}]"
        )
    if not result["items"]:
        lines.append("  no linked item has vanished right now")
    if result["approved"]:
        lines.append(f"approved by {result['approvedBy']}: the next cycle applies these deletions")
    elif result["rejected"]:
        lines.append(
            f"rejected by {result['rejectedBy']}: nothing is deleted; the links of these items are forgotten"
            f" and the next cycles recreate {result['restored']} of them on the side they vanished from"
        )
    elif result["held"] and result["dryRun"]:
        lines.append("dry run: nothing approved or rejected")
    return "\n".join(lines)


# What each action does, in the words of the side it touches.
DOES = {
    "delete_in_graph": "would delete the Outlook item",
    "delete_in_fno": "would delete the F&O activity",
    "unlink": "would unlink (both sides kept)",
    "forget": "would forget the link (gone on both sides)",
}
