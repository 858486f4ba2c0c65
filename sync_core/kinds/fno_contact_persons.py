"""The F&O side of contacts: `ContactPersons` (runtime/side.py FnoSide), for private and shared lists.

One implementation for both list kinds: the feed's page loop (watermark, per-page checkpoint, time
budget), the rows as the feed carries them to the pair job (the party's name, the list query's answer),
reads, creates, conditional updates, the mark and the deletion check. What differs per list kind (who is
on which list, what a page means for each list) is the `ListPages` its kind starts for each scan.

The mark of a contact person is its place on one mailbox's list (an explicit list entry, never a field of
the record), and nothing in a contact person names the Outlook contact: the Outlook contact holds a
creation token until its create is finished (contacts/creation.py). So `pointing_at`, `set_mark` and
`delete` take the mailbox (runtime/side.py), and `delete` never deletes a contact person (docs/spec.md §4)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sync_core.contacts.cache import lookups
from sync_core.contacts.creation import created_persons, parse_token
from sync_core.contacts.membership import (
    CONTACT_PERSONS,
    contacts_by_key,
    contacts_changed_since,
    record_entry,
    row_key,
)
from sync_core.kinds import activity_feed
from sync_core.kinds.activity_feed import MovedRows
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import (
    cursor_object,
    feed_watermark,
    fno_key,
    page_mark,
    parse_fno_time,
    row_version,
    split_fno_key,
)
from sync_core.runtime.kind import EmitFno, FnoChange, FnoItem
from sync_core.state.base import ConcurrencyError, ContactListEntry

log = logging.getLogger(__name__)

FEED_PAGE = 100
# What a feed adds to the row it carries to the pair job (never F&O columns: F&O's own annotations are
# `@odata.*`): the associated party's name and, for a shared list, whether its query selects the contact.
COMPANY_NAME_KEY = activity_feed.CARRIED_PREFIX + "companyName"
ON_LIST_KEY = activity_feed.CARRIED_PREFIX + "onList"


@dataclass(frozen=True)
class FeedWindow:
    """What one feed scan reads: from `since` (a margin behind the watermark; None: everything)."""

    since: datetime | None
    watermark: datetime | None

    def edited_after(self, row: Mapping[str, Any]) -> bool:
        """Whether the previous scan may not have read this row (the overlap margin reads some rows twice;
        those are mostly echoes the scan drops, so the feed does not look up their party names). A stamp
        equal to the watermark may be new: our own writes during the last cycle carry its start time."""
        if self.watermark is None:
            return False  # a first read: nothing is linked yet, the pair jobs create and read themselves
        edited = parse_fno_time(row.get("LastEditDateTime"))
        return edited is None or edited >= self.watermark


class ListPages(Protocol):
    """A list kind's part of one feed scan: what each page of changed rows means for its lists."""

    async def page(
        self, ctx: SyncContext, rows: list[dict[str, Any]], checkpoint: str | None, emit: EmitFno
    ) -> None:
        """Queue the page's changes; `checkpoint` (the cursor to resume from) goes with the last of them."""
        ...

    async def finish(self, ctx: SyncContext, emit: EmitFno) -> None:
        """After the feed (or its time budget): what does not depend on the cursor (entries, queries)."""
        ...


StartLists = Callable[[SyncContext, FeedWindow], Awaitable[ListPages]]


@dataclass(frozen=True)
class FnoContactPersons:
    kind: str  # for the log
    lists: StartLists  # the kind's lists, prepared once per feed scan

    async def read_changes(self, ctx: SyncContext, cursor: str | None, emit: EmitFno) -> str | None:
        """Changed contact persons (one query for all mailboxes and lists), handed to the lists per page.
        The cursor is saved per page once its work is queued, and the read stops at the feed's time budget
        (as the activity feed's): a scan cut short resumes at its last page."""
        started = ctx.now()  # before reading (see feed_watermark)
        deadline = time.monotonic() + activity_feed.FEED_BUDGET_SECONDS
        window = _window(ctx, cursor)
        newest = window.watermark
        moved = MovedRows()
        lists = await self.lists(ctx, window)
        page: list[dict[str, Any]] = []
        stopped_at: str | None = None
        async for row in contacts_changed_since(ctx.fno, window.since):
            edited = parse_fno_time(row.get("LastEditDateTime"))
            if edited is not None and (newest is None or edited > newest):
                newest = edited
            key = row_key(row)
            if key is None:
                continue
            moved.see(key, edited)
            page.append(row)
            if len(page) >= FEED_PAGE:
                checkpoint = _page_checkpoint(ctx, newest, started, window.watermark, moved.held)
                await lists.page(ctx, page, checkpoint, emit)
                page = []
                if checkpoint is not None and time.monotonic() > deadline:
                    # Far behind (a first sync of a large tenant): stop at this page; the next cycle's
                    # scan goes on from here. What `finish` does is still done.
                    log.info("F&O contact feed stopped at its time budget", extra={"kind": self.kind})
                    stopped_at = checkpoint
                    break
        await lists.page(ctx, page, None, emit)
        await lists.finish(ctx, emit)
        if stopped_at is not None:
            return stopped_at
        edited_to = feed_watermark(newest, started, ctx.settings.fno_overlap_seconds, held=moved.held)
        return cursor if edited_to is None else json.dumps({"edited": edited_to.isoformat()})

    async def get(self, ctx: SyncContext, key: str) -> dict[str, Any] | None:
        company, number = split_fno_key(key)
        return await ctx.fno.get(CONTACT_PERSONS, _entity_key(company, number))

    async def load(self, ctx: SyncContext, key: str) -> FnoItem | None:
        """The pair job's view: the row and its associated party's name (the mapping's company)."""
        row = await self.get(ctx, key)
        if row is None:
            return None
        party = str(row.get("AssociatedPartyNumber") or "")
        name = await lookups(ctx.fno).party_name(ctx.fno, split_fno_key(key)[0], party)
        return FnoItem(
            key=key, row=row, version=row_version(row, "LastEditDateTime"), extra={"company": name}
        )

    async def item_from_row(self, ctx: SyncContext, key: str, row: Mapping[str, Any]) -> FnoItem:
        """What `load` would return, from the row a feed carried: the party's name and the list query's
        answer come with it when the feed knew them, else are looked up."""
        clean = activity_feed.without_carried_keys(row)
        if row_key(clean) != key:
            raise ValueError("the carried contact person row does not belong to the pair")
        name = row.get(COMPANY_NAME_KEY)
        if not isinstance(name, str):
            party = str(clean.get("AssociatedPartyNumber") or "")
            name = await lookups(ctx.fno).party_name(ctx.fno, split_fno_key(key)[0], party)
        extra: dict[str, Any] = {"company": name}
        if isinstance(row.get(ON_LIST_KEY), bool):
            extra["by_rule"] = row[ON_LIST_KEY]
        return FnoItem(key=key, row=clean, version=row_version(row, "LastEditDateTime"), extra=extra)

    async def pointing_at(
        self, ctx: SyncContext, reference: str, *, mailbox: Mailbox | None = None
    ) -> list[dict[str, Any]]:
        """The contact persons of the mailbox's company the create whose creation token is `reference` may
        have made (contacts/creation.py); none for anything but a token."""
        token = parse_token(reference)
        if token is None:
            return []
        company = _required(mailbox).record.company
        return await created_persons(ctx.fno, company, token, ctx.settings.fno_overlap_seconds)

    async def create(
        self, ctx: SyncContext, mailbox: Mailbox, body: Mapping[str, Any], *, reference: str
    ) -> tuple[str, dict[str, Any]]:
        """`reference`: the creation token the Outlook contact holds; F&O has no column for it, the token
        matches the record by what was sent (contacts/creation.py), so it is not written here."""
        company = mailbox.record.company
        row = await ctx.fno.create(CONTACT_PERSONS, {**body, "dataAreaId": company})
        return fno_key(company, str(row["ContactPersonId"])), row

    async def update(
        self, ctx: SyncContext, key: str, fields: Mapping[str, Any], *, if_match: str | None = None
    ) -> None:
        company, number = split_fno_key(key)
        await ctx.fno.update(CONTACT_PERSONS, _entity_key(company, number), dict(fields), if_match=if_match)

    async def set_mark(
        self, ctx: SyncContext, key: str, marked: bool, *, mailbox: Mailbox | None = None
    ) -> None:
        """On or off the mailbox's list: an explicit entry, which wins over the list's rule or query."""
        address = _required(mailbox).address
        await record_entry(ctx.store, address, key, marked, origin="outlook", at=ctx.now(), pending=False)

    async def delete(self, ctx: SyncContext, key: str, *, mailbox: Mailbox | None = None) -> None:
        # Never deletes a contact person (docs/spec.md §4): it only leaves this mailbox's list.
        await self.set_mark(ctx, key, False, mailbox=mailbox)

    async def existing(self, ctx: SyncContext, keys: list[str]) -> set[str]:
        return set(await contacts_by_key(ctx.fno, keys))


def _entity_key(company: str, number: str) -> dict[str, str]:
    return {"dataAreaId": company, "ContactPersonId": number}


def _required(mailbox: Mailbox | None) -> Mailbox:
    if mailbox is None:
        raise ValueError("a contact person's mark is per mailbox: name the mailbox")
    return mailbox


# ---- what the list kinds' pages use -------------------------------------------------------------
def chunked(batch: list[FnoChange]) -> list[list[FnoChange]]:
    return [batch[start : start + FEED_PAGE] for start in range(0, len(batch), FEED_PAGE)]


def change(row: Mapping[str, Any], owner: str, marked: bool, *, versioned: bool = True) -> FnoChange | None:
    """The change of one row for one list. `versioned`: the row's edit stamp decides whether anything
    changed for this list (not so when an explicit entry or the list's query changed meanwhile)."""
    key = row_key(row)
    if key is None:
        return None
    version = row_version(row, "LastEditDateTime") if versioned else ""
    return FnoChange(
        fno_key=key,
        owner=owner,
        marked=marked,
        edited_at=parse_fno_time(row.get("LastEditDateTime")),
        version=version or None,
        row=row,
    )


async def carried_rows(
    ctx: SyncContext, rows: Sequence[Mapping[str, Any]], named: set[str]
) -> dict[str, dict[str, Any]]:
    """key -> the row as the feed carries it: own annotations dropped, and for the keys in `named` the
    associated party's name added (looked up for all of them together, once per party and context)."""
    cache = lookups(ctx.fno)
    by_company: dict[str, list[str]] = {}
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row_key(row)
        if key is None:
            continue
        out[key] = activity_feed.without_carried_keys(row)
        party = row.get("AssociatedPartyNumber")
        if key in named and isinstance(party, str) and party:
            by_company.setdefault(split_fno_key(key)[0], []).append(party)
    for company, parties in by_company.items():
        await cache.prefetch_names(ctx.fno, company, parties)
    for key in named & set(out):
        party = out[key].get("AssociatedPartyNumber")
        company = split_fno_key(key)[0]
        name = await cache.party_name(ctx.fno, company, party) if isinstance(party, str) else ""
        out[key][COMPANY_NAME_KEY] = name
    return out


async def settle_entries(ctx: SyncContext, entries: list[ContactListEntry]) -> None:
    """The changes of these entries are queued: the next scan need not queue them again."""
    if ctx.dry_run:
        return
    for entry in entries:
        try:
            await ctx.store.save_contact_entry(entry.model_copy(update={"pending": False}))
        except ConcurrencyError:
            continue  # changed again meanwhile: stays pending for the next scan


def _window(ctx: SyncContext, cursor: str | None) -> FeedWindow:
    """The feed reads a margin behind the watermark its cursor holds."""
    watermark = parse_fno_time(cursor_object(cursor).get("edited")) if cursor else None
    if watermark is None:
        return FeedWindow(None, None)
    return FeedWindow(watermark - timedelta(seconds=ctx.settings.fno_overlap_seconds), watermark)


def _page_checkpoint(
    ctx: SyncContext,
    newest: datetime | None,
    started: datetime,
    watermark: datetime | None,
    held: datetime | None,
) -> str | None:
    """The cursor the feed may resume from once the rows read so far are queued (as the activity feed's,
    see page_mark), or None when that is not ahead of the cursor it started from."""
    mark = page_mark(newest, started, ctx.settings.fno_overlap_seconds, held=held)
    if mark is None or (watermark is not None and mark <= watermark):
        return None
    return json.dumps({"edited": mark.isoformat()})
