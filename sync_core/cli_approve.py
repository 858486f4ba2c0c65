"""`python -m sync_core approve-deletes --mailbox M --kind K [--dry-run] [--json] [--actor NAME]`: release a
safety-valve hold.

Shows what the hold would delete or unlink (each linked pair whose F&O or Exchange side is gone now) with
the subject and date the pair had when last synced (the link's snapshot in the state store, so nothing more
is read), then, unless `--dry-run`, approves: the next cycle's deletion check for that mailbox and kind
applies them. The approval is audited (`deletions-approved`) with who gave it. Subjects are printed for the
administrator who asked, never logged.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sync_core.app import open_context
from sync_core.cli_ops import actor, audit_action
from sync_core.pipeline.valve import load_state, missing_fno_keys, save_state, settled_links, would_do
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


async def approve_deletes(settings: Settings, args: argparse.Namespace) -> int:
    address = str(args.mailbox).strip().lower()
    async with open_context(settings, InProcessQueues(), dry_run=True) as ctx:
        kind = ctx.kinds.get(args.kind)
        if kind is None:
            print(f"unknown kind {args.kind!r}; kinds: {', '.join(sorted(ctx.kinds))}")
            return EXIT_USAGE
        mailbox = await ctx.mailbox(address)
        if mailbox is None:
            print("mailbox is not in the registry or is skipped; see `python -m sync_core status`")
            return EXIT_USAGE
        state, cursor = await load_state(ctx, kind.name, address)
        links = settled_links(await ctx.store.list_links(kind.name, address))
        fno_gone = await missing_fno_keys(ctx, kind, [link.fno_key for link in links]) if links else set()
        rows: list[dict[str, Any]] = []
        for link in links:
            graph_gone = await kind.load_graph(ctx, mailbox, link.graph_id) is None
            if link.fno_key not in fno_gone and not graph_gone:
                continue
            in_fno = link.fno_key in fno_gone
            action = (
                "forget"
                if in_fno and graph_gone
                else would_do(kind, link, deleted_in_fno=in_fno, now=ctx.now())
            )
            rows.append(
                {
                    "action": action,
                    "vanishedIn": "both" if in_fno and graph_gone else ("F&O" if in_fno else "Exchange"),
                    "fnoKey": link.fno_key,
                    "graphId": link.graph_id,
                    **_summary(link.snapshot),
                }
            )
        approved, who = False, ""
        if state.held and not args.dry_run:
            # The store is written directly: the context is a dry run only so that nothing else is.
            ctx.dry_run = False
            await save_state(ctx, kind.name, address, state.model_copy(update={"approved": True}), cursor)
            approved = True
            who = actor(args.actor)
            await audit_action(ctx.store, "deletions-approved", address, who, kind=kind.name, items=len(rows))
    result = {
        "mailbox": address,
        "kind": args.kind,
        "held": state.held,
        "reason": state.reason,
        "approved": approved,
        "approvedBy": who,
        "dryRun": bool(args.dry_run),
        "items": rows,
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
            f"  {_DOES.get(row['action'], row['action'])} (vanished in {row['vanishedIn']}):"
            f" {row['date'] or '-'}  {row['subject'] or '(no subject)'}  [{row['fnoKey']}]"
        )
    if not result["items"]:
        lines.append("  no linked item has vanished right now")
    if result["approved"]:
        lines.append(f"approved by {result['approvedBy']}: the next cycle applies these deletions")
    elif result["held"] and result["dryRun"]:
        lines.append("dry run: nothing approved")
    return "\n".join(lines)


# What each action does, in the words of the side it touches.
_DOES = {
    "delete_in_graph": "would delete the Outlook item",
    "delete_in_fno": "would delete the F&O activity",
    "unlink": "would unlink (both sides kept)",
    "forget": "would forget the link (gone on both sides)",
}


def _summary(snapshot: dict[str, Any]) -> dict[str, str]:
    """Subject (or name) and date of a pair as last synced: appointments and tasks keep `subject`/`title`
    and `start`/`due`, contacts their name parts (model/*_base.py)."""
    name = " ".join(str(snapshot.get(part) or "") for part in ("given_name", "surname")).strip()
    subject = (
        str(snapshot.get("subject") or snapshot.get("title") or "") if "surname" not in snapshot else name
    )
    when = snapshot.get("start") or snapshot.get("due") or ""
    return {"subject": subject, "date": str(when)}
