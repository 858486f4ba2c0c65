"""An F&O side and a Graph side held in memory (runtime/side.py `FnoSide`, `GraphSide`), for the state machine
that runs the real pipeline with every kind's rules without HTTP (tests/property/test_every_kind_rules.py).

Each side is a dict of records and a change log; they keep what the protocols promise of the real sides:
- a version that changes on every write; `update` with `if_match` (or an `if_match` on a GraphItem taken from
  the link) refuses a stale version with 412, as F&O and Graph answer a failed `If-Match`, and a record that is
  gone with 404 (pipeline/reads.py `is_stale_write` reads both as "read the side and decide again");
- deletions: a deleted record reads as None and deleting it again is no error (as the clients do);
- the Graph stamp (`find_stamped` gives the oldest of two), the mark (F&O `KeepSynchronized`, the sync
  category in Graph), `pointing_at` by the reference an F&O record names (`OutlookEntryId`), `existing`;
- a change feed with a cursor (`read_changes`): F&O's lists the records written since the cursor, in pages
  with checkpoints, and never deletions (F&O shows none over OData: the deletion check asks `existing`);
  Graph's is a delta: the first round lists every item, later rounds what changed or was removed since, and
  an expired token raises `DeltaTokenExpired` (the scan then reads a full round).

Records hold canonical fields under their own names (the memory kind's mapping is the identity), plus the
side's own keys below. Every pipeline write is a crash point of the machine's `Faults` (before or after it
lands); what users do goes through `user_*` methods, which are no crash points.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync_core.d365.errors import FnoError, FnoNotFound
from sync_core.exchange.errors import DeltaTokenExpired, GraphError, GraphNotFound
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.keys import fno_key
from sync_core.runtime.kind import EmitExchange, EmitFno, ExchangeChange, FnoChange, GraphItem
from tests.property.pipeline_machine import Faults, WorkerCrash

# The F&O record's own keys (beside its canonical fields).
MARK = "KeepSynchronized"  # "Yes" / "No"
REFERENCE = "OutlookEntryId"  # the Exchange item it was made from
OWNER = "ResponsibleWorkerPersonnelNumber"
ETAG = "@odata.etag"
EDITED = "LastDateTimeEdited"
# The Graph item's own keys.
CATEGORIES = "categories"
ORGANIZER = "isOrganizer"
PAGE = 3  # small pages: checkpoints and repeated items
# An appointment record's place in a series (model/appointment_base.py Series) as Graph's event `type`.
EVENT_TYPES = {"single": "singleInstance", "occurrence": "occurrence", "exception": "exception"}


@dataclass
class Writes:
    """What the pipeline wrote (landed writes only): quiescence and the valve count them."""

    total: int = 0
    deleted: list[str] = field(default_factory=list)  # keys or ids, in order
    removed_by_unmark: list[str] = field(default_factory=list)


class _Memory:
    """A dict of records with versions, a change log, and the machine's crash points."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.records: dict[str, dict[str, Any]] = {}
        self.created: dict[str, int] = {}  # id -> creation order (the oldest stamp wins)
        self.log: list[tuple[int, str]] = []  # (sequence, id) of every change, deletions included
        self.sequence = 0
        self.faults: Faults | None = None
        self.writes = Writes()

    def _bump(self, ident: str) -> str:
        self.sequence += 1
        self.log.append((self.sequence, ident))
        return str(self.sequence)

    def _crash_point(self, apply: Callable[[], Any]) -> Any:
        """A pipeline write: the worker may die before it lands or just after (the machine's Faults)."""
        if self.faults is not None and self.faults.point():
            if self.faults.after:
                apply()
                self.writes.total += 1
            raise WorkerCrash("injected crash at a memory side's write")
        result = apply()
        self.writes.total += 1
        return result

    def changed_since(self, after: int) -> list[str]:
        """Ids changed after sequence `after`, each once, in the order of their last change."""
        last: dict[str, int] = {}
        for sequence, ident in self.log:
            if sequence > after:
                last[ident] = sequence
        return sorted(last, key=last.__getitem__)


class MemoryFnoSide(_Memory):
    """F&O records of the mailbox's worker, keyed `company|number` (runtime/keys.py)."""

    def __init__(self, clock: Callable[[], datetime], company: str, worker: str) -> None:
        super().__init__(clock)
        self.company, self.worker = company, worker
        self.numbers = 0

    # ---- what users do ------------------------------------------------------------------------------
    def user_add(self, fields: Mapping[str, Any], *, marked: bool) -> str:
        return self._add(fields, marked=marked, reference=None, worker=self.worker)

    def user_edit(self, key: str, fields: Mapping[str, Any]) -> None:
        self._write(key, fields)

    def user_delete(self, key: str) -> None:
        self._delete(key)

    # ---- the protocol (runtime/side.py FnoSide) --------------------------------------------------------
    async def read_changes(self, ctx: SyncContext, cursor: str | None, emit: EmitFno) -> str | None:
        after = int(cursor) if cursor else 0
        keys = [k for k in self.changed_since(after) if k in self.records]  # F&O lists no deletions
        upto = self.sequence
        for start in range(0, len(keys), PAGE):
            page = keys[start : start + PAGE]
            last = max(s for s, k in self.log if k in page)
            await emit([self._change(self.records[k], k) for k in page], checkpoint=str(last))
        return str(upto)

    def _change(self, row: Mapping[str, Any], key: str) -> FnoChange:
        return FnoChange(
            fno_key=key,
            owner=str(row[OWNER]),
            marked=row[MARK] == "Yes",
            edited_at=datetime.fromisoformat(row[EDITED]),
            version=str(row[ETAG]),
            row=dict(row),
        )

    async def get(self, ctx: SyncContext, key: str) -> dict[str, Any] | None:
        row = self.records.get(key)
        return None if row is None else dict(row)

    async def pointing_at(
        self, ctx: SyncContext, reference: str, *, mailbox: Mailbox | None = None
    ) -> list[dict[str, Any]]:
        return [dict(row) for row in self.records.values() if row.get(REFERENCE) == reference]

    async def create(
        self, ctx: SyncContext, mailbox: Mailbox, body: Mapping[str, Any], *, reference: str
    ) -> tuple[str, dict[str, Any]]:
        worker = mailbox.record.personnel_number

        def apply() -> str:
            return self._add(body, marked=True, reference=reference, worker=worker)

        key: str = self._crash_point(apply)
        return key, dict(self.records[key])

    async def update(
        self, ctx: SyncContext, key: str, fields: Mapping[str, Any], *, if_match: str | None = None
    ) -> None:
        row = self.records.get(key)
        if row is None:
            raise FnoNotFound(404, "the record does not exist")
        if if_match is not None and if_match != row[ETAG]:
            raise FnoError(412, "the record was changed since it was read")
        self._crash_point(lambda: self._write(key, fields))

    async def set_mark(
        self, ctx: SyncContext, key: str, marked: bool, *, mailbox: Mailbox | None = None
    ) -> None:
        await self.update(ctx, key, {MARK: "Yes" if marked else "No"})

    async def delete(self, ctx: SyncContext, key: str, *, mailbox: Mailbox | None = None) -> None:
        if key not in self.records:
            return  # already gone counts as deleted (d365/client.py)

        def apply() -> None:
            self._delete(key)
            self.writes.deleted.append(key)

        self._crash_point(apply)

    async def existing(self, ctx: SyncContext, keys: list[str]) -> set[str]:
        return {key for key in keys if key in self.records}

    # ---- the dict -----------------------------------------------------------------------------------
    def _add(self, fields: Mapping[str, Any], *, marked: bool, reference: str | None, worker: str) -> str:
        self.numbers += 1
        number = f"ACT-{self.numbers:06d}"
        key = fno_key(self.company, number)
        self.created[key] = self.numbers
        self.records[key] = {
            "dataAreaId": self.company,
            "ActivityNumber": number,
            OWNER: worker,
            MARK: "Yes" if marked else "No",
            REFERENCE: reference,
        }
        self._write(key, fields)
        return key

    def _write(self, key: str, fields: Mapping[str, Any]) -> None:
        row = self.records[key]
        row.update(fields)
        row[ETAG] = f'W/"{self._bump(key)}"'
        row[EDITED] = self.clock().isoformat()  # text, as it travels in a queue message

    def _delete(self, key: str) -> None:
        del self.records[key]
        self._bump(key)


class MemoryGraphSide(_Memory):
    """Items of one mailbox resource in Graph, keyed by id; `unmark_removes`: clearing the mark takes the
    item out of the resource (a contact leaves its list's folder: kinds/graph_contacts.py)."""

    def __init__(self, clock: Callable[[], datetime], category: str, *, unmark_removes: bool = False) -> None:
        super().__init__(clock)
        self.category = category
        self.unmark_removes = unmark_removes
        self.stamps: dict[str, str] = {}  # id -> the F&O key stamped on it
        self.ids = 0
        self.token_generation = 0  # a delta token names its generation; expiring starts a new one

    # ---- what users do ------------------------------------------------------------------------------
    def user_add(self, fields: Mapping[str, Any], *, marked: bool, organizer: bool = True) -> str:
        return self._add({**fields, ORGANIZER: organizer}, marked=marked, stamp=None)

    def user_edit(self, graph_id: str, fields: Mapping[str, Any]) -> None:
        self._write(graph_id, fields)

    def user_mark(self, graph_id: str, marked: bool) -> None:
        self._write(graph_id, {CATEGORIES: [self.category] if marked else []})

    def user_delete(self, graph_id: str) -> None:
        self._delete(graph_id)

    def expire_tokens(self) -> None:
        self.token_generation += 1

    # ---- the change feed (the kind's scan_exchange; Graph delta) ----------------------------------------
    async def read_changes(
        self, ctx: SyncContext, mailbox: Mailbox, cursor: str | None, emit: EmitExchange
    ) -> str | None:
        if cursor is None:
            changes = [self._change(i) for i in sorted(self.records, key=self.created.__getitem__)]
        else:
            generation, after = (int(part) for part in cursor.split(":"))
            if generation != self.token_generation:
                raise DeltaTokenExpired(410, "SyncStateNotFound", "the delta token has expired")
            changes = [self._change(i) for i in self.changed_since(after)]
        upto = self.sequence
        for start in range(0, len(changes), PAGE):
            await emit(changes[start : start + PAGE])
        return f"{self.token_generation}:{upto}"

    def _change(self, graph_id: str) -> ExchangeChange:
        if graph_id not in self.records:
            return ExchangeChange(graph_id, removed=True)
        item = self._item(graph_id)
        return ExchangeChange(graph_id, marked=self._marked(item), version=item.version, item=item)

    # ---- the protocol (runtime/side.py GraphSide) ------------------------------------------------------
    async def get(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None:
        return self._item(graph_id) if graph_id in self.records else None

    async def find_stamped(self, ctx: SyncContext, mailbox: Mailbox, fno_key: str) -> GraphItem | None:
        stamped = [i for i, key in self.stamps.items() if key == fno_key and i in self.records]
        if not stamped:
            return None
        return self._item(min(stamped, key=self.created.__getitem__))

    async def create(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        body: Mapping[str, Any],
        *,
        stamp: str,
        container: str | None = None,
    ) -> GraphItem:
        def apply() -> str:
            return self._add(body, marked=True, stamp=stamp)

        graph_id: str = self._crash_point(apply)
        return self._item(graph_id)

    async def update(
        self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, patch: Mapping[str, Any]
    ) -> str:
        self._current(item)
        self._crash_point(lambda: self._write(item.id, patch))
        return self._version(item.id)

    async def set_mark(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, marked: bool) -> None:
        self._current(item)
        if self.unmark_removes and not marked:

            def remove() -> None:
                self._delete(item.id)
                self.writes.removed_by_unmark.append(item.id)

            self._crash_point(remove)
            return
        self._crash_point(lambda: self.user_mark(item.id, marked))

    async def stamp(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem, fno_key: str) -> None:
        self._current(item)

        def apply() -> None:
            self.stamps[item.id] = fno_key
            self._write(item.id, {})

        self._crash_point(apply)

    async def delete(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> None:
        if graph_id not in self.records:
            return  # already gone counts as deleted (exchange/client.py)

        def apply() -> None:
            self._delete(graph_id)
            self.writes.deleted.append(graph_id)

        self._crash_point(apply)

    # ---- the dict -----------------------------------------------------------------------------------
    def _current(self, item: GraphItem) -> None:
        """404 for an item gone; 412 for a write conditioned on a version it no longer has."""
        if item.id not in self.records:
            raise GraphNotFound(404, "ErrorItemNotFound")
        if item.if_match is not None and item.if_match != self._version(item.id):
            raise GraphError(412, "ErrorIrresolvableConflict")

    def _add(self, fields: Mapping[str, Any], *, marked: bool, stamp: str | None) -> str:
        self.ids += 1
        graph_id = f"AAMk-{self.ids:04d}"
        self.created[graph_id] = self.ids
        self.records[graph_id] = {ORGANIZER: True, CATEGORIES: [self.category] if marked else []}
        if stamp is not None:
            self.stamps[graph_id] = stamp
        self._write(graph_id, fields, creating=True)
        return graph_id

    def _write(self, graph_id: str, fields: Mapping[str, Any], *, creating: bool = False) -> None:
        item = self.records[graph_id]
        if creating and "series" in fields:
            item["type"] = EVENT_TYPES[fields["series"]]
        elif item.get("type") == "occurrence":
            # Any change to an occurrence makes it an exception of its series (Graph's event types).
            item["type"], item["series"] = "exception", "exception"
        item.update({k: v for k, v in fields.items() if creating or k != "series"})  # Graph's own: read-only
        item["version"] = self._bump(graph_id)
        item["lastModifiedDateTime"] = self.clock().isoformat()

    def _delete(self, graph_id: str) -> None:
        del self.records[graph_id]
        self._bump(graph_id)

    def _version(self, graph_id: str) -> str:
        return str(self.records[graph_id]["version"])

    def _item(self, graph_id: str) -> GraphItem:
        item = dict(self.records[graph_id])
        return GraphItem(
            id=graph_id, item=item, version=str(item["version"]), stamp=self.stamps.get(graph_id)
        )

    def _marked(self, item: GraphItem) -> bool:
        return self.category in (item.item.get(CATEGORIES) or [])
