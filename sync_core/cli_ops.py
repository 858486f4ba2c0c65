"""`pause`, `resume`, `resync`, `retry`: per-mailbox operations.

Each writes only to the state store (and, in Azure, reads the poison queues), so it works the same against
the local SQLite store and against the deployed app's storage account: the Functions or the local runner
pick the change up with their next cycle. Every action is audited with the operator who took it."""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sync_core.app import open_store
from sync_core.kinds import all_feeds, all_kinds
from sync_core.pipeline import reconcile
from sync_core.pipeline.retry import adopt_into, make_due
from sync_core.runtime.keys import exchange_cursor_name
from sync_core.runtime.messages import MessageError, decode
from sync_core.settings import Settings
from sync_core.state.base import AuditEntry, ConcurrencyError, Cursor, MailboxRecord, StateStore

EXIT_OK, EXIT_CONFIG = 0, 2
COMMANDS = frozenset({"pause", "resume", "resync", "retry"})
# A reconciliation time this old makes the mailbox's reconciliation due at its next scan.
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
Say = Callable[[str], None]  # where a command's lines go: print, or the console's message list
POISONED = "the Functions host gave up on it after its attempts (poison queue); sent again by `retry`"


def actor(given: str | None) -> str:
    """Who acts: `--actor`, else the signed-in user of this machine."""
    if given and given.strip():
        return given.strip()
    try:
        return os.getlogin()
    except OSError:  # no controlling terminal (a scheduled job, a container)
        return os.environ.get("USER") or os.environ.get("USERNAME") or getpass.getuser()


async def audit_action(
    store: StateStore, action: str, mailbox: str, who: str, kind: str = "*", **detail: Any
) -> None:
    await store.append_audit(
        AuditEntry(
            at=datetime.now(UTC), kind=kind, mailbox=mailbox, action=action, detail={"actor": who, **detail}
        )
    )


def add_parsers(commands: Any) -> None:
    pause = commands.add_parser("pause", help="stop syncing one mailbox until `resume`")
    _mailbox_and_actor(pause)
    pause.add_argument("--reason", default="", help="why (kept with the pause and shown by status)")
    resume = commands.add_parser("resume", help="sync a paused mailbox again")
    _mailbox_and_actor(resume)
    resync = commands.add_parser("resync", help="forget one mailbox's delta tokens: a full round next cycle")
    _mailbox_and_actor(resync)
    resync.add_argument("--kind", help="only this kind (default: every kind)")
    retry = commands.add_parser("retry", help="send failed items (and poison-queue messages) again")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--mailbox", help="only this mailbox's failed items")
    which.add_argument("--all", action="store_true", help="every mailbox's failed items")
    retry.add_argument("--actor", help="who asks (default: the signed-in user)")


def _mailbox_and_actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mailbox", required=True, help="mailbox address")
    parser.add_argument("--actor", help="who acts, for the audit log (default: the signed-in user)")


async def run_ops(settings: Settings, args: argparse.Namespace) -> int:
    store = open_store(settings)
    try:
        who = actor(args.actor)
        if args.command == "retry":
            return await retry_failed(settings, store, None if args.all else address_of(args.mailbox), who)
        address = address_of(args.mailbox)
        record = await store.get_mailbox(address)
        if record is None and not configured(settings, address):
            print(
                f"mailbox {address} is not known: no sync cycle has seen it in scope and it is not in"
                " SYNC_MAILBOXES or SYNC_SHARED_LISTS. Check the address; `python -m sync_core status`"
                " lists the mailboxes the sync knows."
            )
            return EXIT_CONFIG
        if args.command == "pause":
            return await pause_mailbox(store, address, record, who, str(args.reason or "").strip())
        if args.command == "resume":
            return await resume_mailbox(store, address, record, who)
        return await resync_mailbox(settings, store, address, record, who, args.kind)
    finally:
        await store.close()


def address_of(text: str) -> str:
    return str(text).strip().lower()


def configured(settings: Settings, address: str) -> bool:
    return address in settings.mailboxes or any(s.mailbox.lower() == address for s in settings.shared_lists)


async def pause_mailbox(
    store: StateStore, address: str, record: MailboxRecord | None, who: str, reason: str, say: Say = print
) -> int:
    if record is not None and record.paused:
        since = record.paused_at.isoformat() if record.paused_at else "-"
        say(
            f"{address} is already paused (by {record.paused_by or 'unknown'} since {since}); nothing changed"
        )
        return EXIT_OK
    await store.set_mailbox_pause(address, True, by=who, at=datetime.now(UTC), reason=reason)
    await audit_action(store, "paused", address, who, reason=reason)
    say(
        f"paused {address}: from the next cycle on it is not scanned and nothing is written for it; item"
        " messages already queued wait on the failure list. Resume with"
        f" `python -m sync_core resume --mailbox {address}`."
    )
    return EXIT_OK


async def resume_mailbox(
    store: StateStore, address: str, record: MailboxRecord | None, who: str, say: Say = print
) -> int:
    if record is None or not record.paused:
        say(f"{address} is not paused; nothing changed")
        return EXIT_OK
    await store.set_mailbox_pause(address, False)
    waiting = await make_due(store, address, parked=True)
    await audit_action(store, "resumed", address, who, items=waiting)
    say(
        f"resumed {address}: the next cycle scans it (its delta tokens were kept, so what changed meanwhile"
        f" is synced) and sends the {waiting} item(s) that waited during the pause."
    )
    return EXIT_OK


async def resync_mailbox(
    settings: Settings,
    store: StateStore,
    address: str,
    record: MailboxRecord | None,
    who: str,
    kind: str | None,
    say: Say = print,
) -> int:
    known = sorted([*all_kinds(), *all_feeds()])
    if kind is not None and kind not in known:
        say(f"unknown kind {kind!r}; kinds: {', '.join(known)}")
        return EXIT_CONFIG
    kinds = [kind] if kind else known
    for name in kinds:
        await store.delete_cursor(exchange_cursor_name(name, address))
        if settings.reconcile_hours > 0:
            await reconcile_at_next_scan(store, reconcile.cursor_name(name, address))
    await audit_action(store, "resync-requested", address, who, kind=kind or "*", kinds=kinds)
    checked = (
        " and compares the F&O side with the links (reconciliation)" if settings.reconcile_hours > 0 else ""
    )
    say(
        f"resync of {address} ({', '.join(kinds)}) requested: the next cycle reads the whole mailbox{checked};"
        " linked items are matched by their links and stamps, so nothing is created twice."
    )
    if record is not None and record.paused:
        say(f"{address} is paused: the full round runs once it is resumed")
    return EXIT_OK


async def reconcile_at_next_scan(store: StateStore, name: str) -> None:
    for _ in range(3):
        current = await store.get_cursor(name)
        cursor = Cursor(
            name=name,
            value=LONG_AGO.isoformat(),
            updated_at=datetime.now(UTC),
            etag=current.etag if current else None,
        )
        try:
            await store.save_cursor(cursor)
            return
        except ConcurrencyError:
            continue  # a scan saved its time meanwhile: set it again


async def retry_failed(
    settings: Settings, store: StateStore, mailbox: str | None, who: str, say: Say = print
) -> int:
    now = datetime.now(UTC)
    poisoned = await _poison_to_work_list(settings, store, mailbox, now) if settings.uses_azure_storage else 0
    due = await make_due(store, mailbox)
    failures = [f for f in await store.list_failures() if mailbox is None or f.mailbox == mailbox]
    stuck = sum(1 for f in failures if not f.message)
    await audit_action(store, "retry-requested", mailbox or "*", who, items=due, poisoned=poisoned)
    where = mailbox or "every mailbox"
    say(f"{due} failed item(s) of {where} are sent again by the next cycle")
    if settings.uses_azure_storage:
        say(f"{poisoned} message(s) taken from the poison queues onto the failure list")
    else:
        say("local queue: it has no poison queue; a message that used up its attempts is on the failure list")
    if stuck:
        say(
            f"{stuck} other open failure(s) keep no message to send again (the item cannot sync as it is, or"
            " a scan or the safety valve): fix the cause, then `resync` the mailbox; see"
            " `python -m sync_core failures`"
        )
    paused = [r.mailbox for r in await store.list_mailboxes() if r.paused and mailbox in (None, r.mailbox)]
    if paused:
        say(f"paused, so their items wait for `resume`: {', '.join(paused)}")
    return EXIT_OK


async def _poison_to_work_list(
    settings: Settings, store: StateStore, mailbox: str | None, now: datetime
) -> int:
    """Every poison-queue message onto the failure list (as the timer does), due now when it is one of
    the mailboxes asked for; a scan message is dropped (every cycle scans again)."""
    from sync_core.functions import storage_queues

    later = now + timedelta(minutes=settings.retry_minutes)
    moved = 0

    async def adopt(text: str) -> None:
        nonlocal moved
        try:
            wanted = mailbox in (None, getattr(decode(text), "mailbox", None))
        except MessageError:
            wanted = False
        taken = await adopt_into(store, text, POISONED, now, now if wanted else later)
        moved += taken is not None and wanted

    queues = storage_queues(settings)
    try:
        for queue in (settings.item_queue, settings.scan_queue):
            await queues.drain_poison(queue, adopt)
    finally:
        await queues.close()
    return moved
