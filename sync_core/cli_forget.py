"""`forget --mailbox ADDRESS | --all [--clean-mailbox] [--dry-run]`: remove what the product keeps about a
mailbox. Documented in docs/forget.md; the uninstall (docs/uninstall.md) runs `--all`.

A forgotten mailbox that is still in scope would be synced afresh by the next cycle, so forget leaves such a
mailbox paused: a bare registry record (the address, who forgot it and when) that keeps the planner away
until an operator resumes it or takes it out of scope and runs forget again, which then removes that record
too. The act itself is audited at tenant level (mailbox "*", without the address): the mailbox's own audit
entries are part of what is forgotten."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from sync_core.app import open_services, open_store
from sync_core.cli_ops import actor, audit_action
from sync_core.exchange.client import GraphClient
from sync_core.exchange.errors import GraphError
from sync_core.forget import state
from sync_core.forget.mailbox import MailboxCleaner, subscription_ids
from sync_core.settings import Settings
from sync_core.state.base import ConcurrencyError, StateStore

EXIT_OK, EXIT_FAILED = 0, 1
FORGOTTEN = "forgotten while still in scope; take it out of scope and run `forget` again, or `resume` it"
TENANT = "*"


def add_parser(commands: Any) -> None:
    forget = commands.add_parser(
        "forget", help="remove what the sync keeps about a mailbox (and, asked, what it left in it)"
    )
    which = forget.add_mutually_exclusive_group(required=True)
    which.add_argument("--mailbox", help="mailbox address")
    which.add_argument("--all", action="store_true", help="every mailbox the sync knows (uninstall)")
    forget.add_argument(
        "--clean-mailbox",
        action="store_true",
        help="also take the product's categories, stamps, empty contact folders and subscriptions out of it",
    )
    forget.add_argument("--dry-run", action="store_true", help="print what would go and change nothing")
    forget.add_argument("--actor", help="who acts, for the audit log (default: the signed-in user)")


async def run_forget(settings: Settings, args: argparse.Namespace) -> int:
    services = open_services(settings) if args.clean_mailbox or settings.mailbox_group else None
    store = services.store if services is not None else open_store(settings)
    graph = services.graph if services is not None else None
    try:
        who = actor(args.actor)
        addresses = await _all_known(settings, store) if args.all else [str(args.mailbox).strip().lower()]
        failed = 0
        for address in addresses:
            try:
                await _forget_one(settings, store, graph, address, who, args)
            except ConcurrencyError:
                failed += 1
                print(f"{address}: a sync cycle changed its records meanwhile; run the same command again")
        if args.all and not addresses:
            print("the state store knows no mailbox: nothing to forget")
        return EXIT_FAILED if failed else EXIT_OK
    finally:
        if services is not None:
            await services.close()
        else:
            await store.close()


async def _all_known(settings: Settings, store: StateStore) -> list[str]:
    known = {r.mailbox for r in await store.list_mailboxes()}
    known |= {m.lower() for m in settings.mailboxes}
    known |= {s.mailbox.lower() for s in settings.shared_lists}
    return sorted(known)


async def _in_scope(settings: Settings, graph: GraphClient | None, address: str) -> str:
    """Why the next cycle would sync `address` again ("" when it would not)."""
    if address in {m.lower() for m in settings.mailboxes}:
        return "SYNC_MAILBOXES"
    if any(s.mailbox.lower() == address for s in settings.shared_lists):
        return "SYNC_SHARED_LISTS"
    if settings.mailbox_group and graph is not None:
        try:
            members = await graph.list_group_member_mails(settings.mailbox_group)
        except GraphError:
            return "SYNC_MAILBOX_GROUP (its members could not be read, so it counts as in scope)"
        if address in {m.lower() for m in members}:
            return "SYNC_MAILBOX_GROUP"
    return ""


async def _forget_one(
    settings: Settings,
    store: StateStore,
    graph: GraphClient | None,
    address: str,
    who: str,
    args: argparse.Namespace,
) -> None:
    found = await state.find(store, address)
    # Uninstalling (--all): the app is stopped and goes next, so nothing is left paused.
    scope = "" if args.all else await _in_scope(settings, graph, address)
    if args.dry_run:
        _print_plan(found, scope, clean=args.clean_mailbox)
        return
    if found.empty and not args.clean_mailbox and not scope:
        print(f"{address}: the state store keeps nothing about it; nothing changed")
        return
    # Paused first: a cycle running meanwhile stops writing for it.
    await store.set_mailbox_pause(address, True, by=who, at=datetime.now(UTC), reason=FORGOTTEN)
    cleaned_lines: list[str] = []
    if args.clean_mailbox and graph is not None:
        subscriptions = subscription_ids([c.value for c in found.subscription_cursors()])
        cleaned = await MailboxCleaner(graph, settings, address).clean(found.links, subscriptions)
        cleaned_lines = cleaned.lines()
    audit_removed = await state.remove(store, address, keep_record=False)
    if scope:
        await store.set_mailbox_pause(address, True, by=who, at=datetime.now(UTC), reason=FORGOTTEN)
    counts = {**found.counts(), "audit entries": max(found.audit, audit_removed)}
    await audit_action(
        store,
        "mailbox-forgotten",
        TENANT,
        who,
        removed={k.replace(" ", "_"): v for k, v in counts.items()},
        clean_mailbox=bool(args.clean_mailbox),
        left_paused=bool(scope),
    )
    print(f"forgot {address}: removed from the state store:")
    print("\n".join(f"  {name}: {n}" for name, n in counts.items()))
    if cleaned_lines:
        print("cleaned in the mailbox:")
        print("\n".join(f"  {line}" for line in cleaned_lines))
    if scope:
        print(
            f"{address} is still in scope ({scope}): it is left paused (a bare record: the address, who and"
            " when), so the next cycle does not sync it again. Take it out of scope and run forget again to"
            " remove that record, or `resume` it to sync it from scratch."
        )


def _print_plan(found: state.MailboxState, scope: str, *, clean: bool) -> None:
    print(f"Dry run: nothing was changed. forget {found.mailbox} would remove from the state store:")
    print("\n".join(f"  {name}: {n}" for name, n in found.counts().items()))
    if clean:
        linked = sum(1 for link in found.links if not link.is_claim)
        print(
            "and in the mailbox: the product's categories and stamp on "
            f"{linked} linked item(s), the import marks on e-mails, "
            f"{len(found.subscription_cursors())} subscription record(s) (their Graph subscriptions), the "
            "product's contact folders when empty"
        )
    if scope:
        print(f"{found.mailbox} is still in scope ({scope}): it would be left paused (a bare record)")
