"""`python -m sync_core contacts add|remove|list`: explicit contact list entries (docs/spec.md §3.4).

An entry puts a contact person on one mailbox's list (private or shared) although the rule or query does
not, or keeps it off although they do. It is kept in the state store and picked up by the next cycle.

`add` and `remove` check first, so an entry cannot wait forever: the mailbox must be in scope and synced
(exit 2 otherwise) and the contact person must exist in F&O (exit 2 when F&O does not list it, exit 3 when
F&O cannot be asked; `--no-check` skips this one)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sync_core.app import open_store
from sync_core.auth import token_source_from_settings
from sync_core.contacts.membership import contacts_by_key, record_entry
from sync_core.contacts.registry import PRIVATE_KIND, SHARED_KIND
from sync_core.d365.client import FnoClient
from sync_core.d365.errors import FnoError
from sync_core.runtime.keys import fno_key
from sync_core.settings import Settings
from sync_core.state.base import NOT_CHECKED, StateStore

EXIT_OK, EXIT_USAGE, EXIT_SERVICE = 0, 2, 3


def add_parser(commands: Any) -> None:
    contacts = commands.add_parser("contacts", help="explicit additions to and removals from contact lists")
    actions = contacts.add_subparsers(dest="contacts_action", required=True)
    for action, text in (
        ("add", "put a contact person on a mailbox's list"),
        ("remove", "keep a contact person off a mailbox's list (its contact leaves the folder)"),
    ):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("--mailbox", required=True, help="employee or shared-list mailbox address")
        sub.add_argument("--contact", required=True, help="ContactPersonId, e.g. CP-000123")
        sub.add_argument("--company", help="dataAreaId of the contact person (default SYNC_COMPANY)")
        sub.add_argument("--no-check", action="store_true", help="do not ask F&O whether the contact exists")
    listing = actions.add_parser("list", help="a mailbox's explicit entries and synced contacts")
    listing.add_argument("--mailbox", required=True)
    listing.add_argument("--json", action="store_true")


async def run_contacts(settings: Settings, args: argparse.Namespace) -> int:
    mailbox = str(args.mailbox).strip().lower()
    if "@" not in mailbox:
        print("--mailbox must be a mailbox address")
        return EXIT_USAGE
    if args.contacts_action == "list":
        return await _list(settings, mailbox, as_json=bool(args.json))
    try:
        key = fno_key(args.company or settings.company, str(args.contact).strip())
    except ValueError as exc:
        print(f"invalid contact: {exc}")
        return EXIT_USAGE
    member = args.contacts_action == "add"
    store = open_store(settings)
    try:
        problem = await _out_of_scope(settings, store, mailbox)
        if problem:
            print(problem)
            return EXIT_USAGE
        if not args.no_check:
            try:
                found = await _exists(settings, key)
            except FnoError as exc:
                host = urlsplit(settings.d365_url).hostname or settings.d365_url
                print(f"could not ask F&O at {host} whether contact person {key} exists ({exc});")
                print("check F&O with `python -m sync_core doctor`, or record it anyway with --no-check")
                return EXIT_SERVICE
            if not found:
                print(f"no contact person {key} in F&O (use --no-check to record it anyway)")
                return EXIT_USAGE
        await record_entry(store, mailbox, key, member, origin="cli", at=datetime.now(UTC), pending=True)
    finally:
        await store.close()
    verb = "added to" if member else "removed from"
    print(f"{key} {verb} the list of {mailbox}; the next sync cycle applies it")
    return EXIT_OK


async def _out_of_scope(settings: Settings, store: StateStore, mailbox: str) -> str:
    """Why an entry for `mailbox` would never be applied ("" when it will be)."""
    record = await store.get_mailbox(mailbox)
    configured = mailbox in settings.mailboxes or any(
        s.mailbox.lower() == mailbox for s in settings.shared_lists
    )
    if record is None and not configured:
        return (
            f"mailbox {mailbox} is not in scope: no sync cycle has seen it and it is not in SYNC_MAILBOXES or"
            " SYNC_SHARED_LISTS. Check the address; `python -m sync_core status` lists the mailboxes in scope."
        )
    if record is not None and record.status != "ok" and record.reason != NOT_CHECKED:
        return f"mailbox {mailbox} is skipped by the sync ({record.reason}); fix that first"
    return ""


async def _exists(settings: Settings, key: str) -> bool:
    tokens = token_source_from_settings(
        settings.auth.value, settings.static_token or None, settings.managed_identity_client_id or None
    )
    client = FnoClient(settings.d365_url, tokens)
    try:
        return key in await contacts_by_key(client, [key])
    finally:
        await client.close()
        closer = getattr(tokens, "close", None)
        if closer is not None:
            await closer()


async def _list(settings: Settings, mailbox: str, *, as_json: bool) -> int:
    store = open_store(settings)
    try:
        entries = {e.contact_key: e for e in await store.list_contact_entries(mailbox)}
        synced: dict[str, str] = {}
        for kind in (PRIVATE_KIND, SHARED_KIND):
            for link in await store.list_links(kind, mailbox):
                if not link.fno_key.startswith("pending:"):
                    synced[link.fno_key] = kind
    finally:
        await store.close()
    rows = []
    for key in sorted(set(entries) | set(synced)):
        entry = entries.get(key)
        rows.append(
            {
                "contact": key,
                "explicit": ("added" if entry.member else "removed") + f" ({entry.origin})" if entry else "-",
                "synced": synced.get(key, "no"),
                "pending": bool(entry and entry.pending),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no explicit entries and no synced contacts for {mailbox}")
    else:
        for row in rows:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    return EXIT_OK
