"""State store on Azure Table Storage (production back end).

Layout (tables named `<prefix>Links`, `<prefix>Cursors`, ...; keys built by `keys.py`):

- Links: partition = kind|mailbox. A link is a main entity `L|<row id>` plus two index entities
  `F|<fno_key>` and `G|<graph_id>` pointing at the row id, always written in one transaction, so the
  indexes never disagree with the link and `create` on an index entity is what rejects a duplicate id.
  The link etag handed out is `<row id>:<main entity etag>`: the row id lets a replace find the link even
  when both of its ids change.
- Cursors: partition = name, row "cursor". Mailboxes: partition "mailbox", row = mailbox; partition "user",
  row = Entra object id: a pointer to the mailbox, written by the first lookup by that id.
- Audit: partition = inverted day, row = inverted microseconds|uuid, so a plain scan is newest first.
- Failures: partition = kind|mailbox, row = item_key.
- ContactLists: partition = mailbox, row = contact key (explicit contact list entries; a small table).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableEntity, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient
from pydantic import BaseModel

from sync_core.state.base import (
    AuditEntry,
    ConcurrencyError,
    ContactListEntry,
    Cursor,
    Failure,
    Link,
    MailboxRecord,
    bumped_failure,
    keeping_pause,
    mailbox_of_user,
    with_pause,
)
from sync_core.state.codec import epoch_micros, from_properties, to_properties
from sync_core.state.keys import HASH_MARK, encode_component, escape, is_reversible, join_key

_M = TypeVar("_M", bound=BaseModel)
_Credential = AzureNamedKeyCredential | AzureSasCredential | AsyncTokenCredential

# Status codes that mean "someone else changed it": exists (409), precondition failed (412), gone (404).
_CONFLICT_STATUS = frozenset({404, 409, 412})
_PREFIX_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,40}")
_MAIN, _BY_FNO, _BY_GRAPH = "L|", "F|", "G|"
_MAILBOX_PARTITION = "mailbox"
_USER_PARTITION = "user"  # pointers Entra object id -> mailbox, for get_mailbox_by_user
_CURSOR_ROW = "cursor"
_MAX_DAY = 9_999_999
_MAX_MICROS = 10**18 - 1
# A $filter may hold at most 15 comparisons (learn.microsoft.com/rest/api/storageservices/
# querying-tables-and-entities): PartitionKey plus 14 RowKeys.
_OR_ROWS = 14
_PARALLEL_QUERIES = 8
_RETRIES = 16  # a failed conditional write means another writer succeeded, so N writers need <= N tries


def _audit_keys(at: datetime) -> tuple[str, str]:
    """Inverted day and inverted microseconds|uuid: a plain scan of the audit table is newest first."""
    micros = min(max(epoch_micros(at), 0), _MAX_MICROS)
    return f"{_MAX_DAY - micros // 86_400_000_000:07d}", f"{_MAX_MICROS - micros:018d}|{uuid.uuid4().hex}"


def _fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for name in model.model_fields if name != "etag")


def _is_conflict(exc: HttpResponseError) -> bool:
    return exc.status_code in _CONFLICT_STATUS


def _etag_of(entity: TableEntity) -> str:
    return str(entity.metadata["etag"])


def _entity(partition: str, row: str, record: BaseModel) -> dict[str, Any]:
    props = to_properties(record.model_dump(mode="json", exclude={"etag"}))
    return {"PartitionKey": partition, "RowKey": row, **props}


def _record(model: type[_M], entity: Mapping[str, Any], etag: str | None) -> _M:
    data = from_properties(entity, _fields(model))
    return model.model_validate({**data, "etag": etag})


class TableStateStore:
    """`StateStore` on Azure Table Storage (or Azurite). Tables are created on first use."""

    def __init__(
        self,
        service: TableServiceClient,
        *,
        prefix: str = "sync",
        owned_credential: AsyncTokenCredential | None = None,
    ) -> None:
        if not _PREFIX_RE.fullmatch(prefix):
            raise ValueError("table prefix must be a letter followed by up to 40 letters or digits")
        self._service = service
        self._owned_credential = owned_credential
        self._links = service.get_table_client(f"{prefix}Links")
        self._cursors = service.get_table_client(f"{prefix}Cursors")
        self._mailboxes = service.get_table_client(f"{prefix}Mailboxes")
        self._audit = service.get_table_client(f"{prefix}Audit")
        self._failures = service.get_table_client(f"{prefix}Failures")
        self._contact_entries = service.get_table_client(f"{prefix}ContactLists")
        self._ready = False
        self._ready_lock = asyncio.Lock()

    @classmethod
    def from_connection_string(cls, connection_string: str, *, prefix: str = "sync") -> TableStateStore:
        return cls(TableServiceClient.from_connection_string(connection_string), prefix=prefix)

    @classmethod
    def from_endpoint(
        cls,
        endpoint: str,
        credential: _Credential,
        *,
        prefix: str = "sync",
        owns_credential: bool = False,
    ) -> TableStateStore:
        """Identity-based access: `endpoint` like https://<account>.table.core.windows.net."""
        owned = credential if owns_credential and isinstance(credential, AsyncTokenCredential) else None
        return cls(TableServiceClient(endpoint, credential=credential), prefix=prefix, owned_credential=owned)

    @property
    def endpoint(self) -> str:
        """The Table service URL in use (no secrets)."""
        return str(self._service.url)

    async def close(self) -> None:
        await self._service.close()
        if self._owned_credential is not None:
            await self._owned_credential.close()

    async def _client(self, client: TableClient) -> TableClient:
        if not self._ready:
            async with self._ready_lock:
                if not self._ready:
                    await self._create_missing_tables()
                    self._ready = True
        return client

    async def _create_missing_tables(self) -> None:
        """Once per store: one query for the tables, a create only for those missing. The deployment
        creates them (infra/modules/storage.bicep), so a Functions instance sends no create at all."""
        tables = (self._links, self._cursors, self._mailboxes, self._audit, self._failures)
        names = [table.table_name for table in (*tables, self._contact_entries)]
        query = " or ".join(f"TableName eq @t{n}" for n in range(len(names)))
        params = {f"t{n}": name for n, name in enumerate(names)}
        found = {table.name async for table in self._service.query_tables(query, parameters=params)}
        for name in names:
            if name not in found:
                await self._service.create_table_if_not_exists(name)

    @staticmethod
    async def _get(client: TableClient, partition: str, row: str) -> TableEntity | None:
        try:
            return await client.get_entity(partition, row)
        except HttpResponseError as exc:
            if exc.status_code == 404:
                return None
            raise

    @staticmethod
    async def _query(client: TableClient, query: str, params: dict[str, Any]) -> AsyncIterator[TableEntity]:
        async for entity in client.query_entities(query, parameters=params):
            yield entity

    # -- links ------------------------------------------------------------------------------------

    @staticmethod
    def _partition(kind: str, mailbox: str) -> str:
        return join_key(kind, mailbox)

    @staticmethod
    def _split_etag(etag: str) -> tuple[str, str]:
        row, sep, entity_etag = etag.partition(":")
        if not sep or not row or not entity_etag:
            raise ConcurrencyError("not an etag issued by this store")
        return row, entity_etag

    async def _link_via(self, kind: str, mailbox: str, index_row: str, field: str, value: str) -> Link | None:
        links = await self._client(self._links)
        partition = self._partition(kind, mailbox)
        # Two point reads; a writer may move the link in between, so re-read the index if they disagree.
        for _ in range(_RETRIES):
            index = await self._get(links, partition, index_row)
            if index is None:
                return None
            main = await self._get(links, partition, _MAIN + str(index["link_row"]))
            if main is not None:
                link = _record(Link, main, f"{index['link_row']}:{_etag_of(main)}")
                if getattr(link, field) == value:
                    return link
        raise ConcurrencyError("link kept changing while being read")

    async def get_link_by_fno(self, kind: str, mailbox: str, fno_key: str) -> Link | None:
        return await self._link_via(kind, mailbox, _BY_FNO + encode_component(fno_key), "fno_key", fno_key)

    async def get_link_by_graph(self, kind: str, mailbox: str, graph_id: str) -> Link | None:
        return await self._link_via(
            kind, mailbox, _BY_GRAPH + encode_component(graph_id), "graph_id", graph_id
        )

    async def get_links_by_fno(self, kind: str, mailbox: str, fno_keys: Sequence[str]) -> dict[str, Link]:
        return await self._links_via_many(kind, mailbox, _BY_FNO, "fno_key", fno_keys)

    async def get_links_by_graph(self, kind: str, mailbox: str, graph_ids: Sequence[str]) -> dict[str, Link]:
        return await self._links_via_many(kind, mailbox, _BY_GRAPH, "graph_id", graph_ids)

    async def _links_via_many(
        self, kind: str, mailbox: str, prefix: str, field: str, values: Sequence[str]
    ) -> dict[str, Link]:
        """Index entities, then main entities, each by a few OR queries of the partition. A link a writer
        moved in between (its main entity no longer has that id) is read again on its own."""
        links = await self._client(self._links)
        partition = self._partition(kind, mailbox)
        wanted = list(dict.fromkeys(values))
        index_rows = {prefix + encode_component(value): value for value in wanted}
        indexes = await self._rows_of(links, partition, list(index_rows))
        row_of = {
            index_rows[str(e["RowKey"])]: str(e["link_row"]) for e in indexes if e["RowKey"] in index_rows
        }
        mains = await self._rows_of(links, partition, [_MAIN + row for row in dict.fromkeys(row_of.values())])
        by_row = {str(e["RowKey"])[len(_MAIN) :]: e for e in mains}
        found: dict[str, Link] = {}
        for value, row in row_of.items():
            main = by_row.get(row)
            link = None if main is None else _record(Link, main, f"{row}:{_etag_of(main)}")
            if link is None or getattr(link, field) != value:
                link = await self._link_via(kind, mailbox, prefix + encode_component(value), field, value)
            if link is not None:
                found[value] = link
        return found

    async def _rows_of(self, client: TableClient, partition: str, rows: list[str]) -> list[TableEntity]:
        """The entities of `rows` in one partition: one query per _OR_ROWS of them, a few at a time."""
        chunks = [rows[start : start + _OR_ROWS] for start in range(0, len(rows), _OR_ROWS)]

        async def one(chunk: list[str]) -> list[TableEntity]:
            # Spaces around the parentheses: the SDK finds parameters by splitting the filter at spaces.
            either = " or ".join(f"RowKey eq @r{n}" for n in range(len(chunk)))
            params: dict[str, Any] = {"pk": partition, **{f"r{n}": row for n, row in enumerate(chunk)}}
            return [e async for e in self._query(client, f"PartitionKey eq @pk and ( {either} )", params)]

        found: list[TableEntity] = []
        for start in range(0, len(chunks), _PARALLEL_QUERIES):
            for part in await asyncio.gather(*(one(c) for c in chunks[start : start + _PARALLEL_QUERIES])):
                found.extend(part)
        return found

    async def _current_main(self, link: Link) -> tuple[str, str, Link]:
        """Row id, entity etag and stored value of the link `link.etag` names; it must be unchanged."""
        if link.etag is None:
            raise ConcurrencyError("link has no etag")
        row, etag = self._split_etag(link.etag)
        links = await self._client(self._links)
        main = await self._get(links, self._partition(link.kind, link.mailbox), _MAIN + row)
        if main is None or _etag_of(main) != etag:
            raise ConcurrencyError("link changed or vanished since it was read")
        return row, etag, _record(Link, main, link.etag)

    async def _transact(self, operations: list[tuple[Any, ...]]) -> list[Mapping[str, Any]]:
        links = await self._client(self._links)
        try:
            return await links.submit_transaction(operations)
        except HttpResponseError as exc:
            if _is_conflict(exc):
                raise ConcurrencyError("link changed, vanished or an id is taken by another link") from exc
            raise

    async def save_link(self, link: Link) -> Link:
        partition = self._partition(link.kind, link.mailbox)

        def index(prefix: str, value: str, row: str) -> dict[str, Any]:
            return {"PartitionKey": partition, "RowKey": prefix + encode_component(value), "link_row": row}

        if link.etag is None:
            row = uuid.uuid4().hex
            ops: list[tuple[Any, ...]] = [
                ("create", _entity(partition, _MAIN + row, link)),
                ("create", index(_BY_FNO, link.fno_key, row)),
                ("create", index(_BY_GRAPH, link.graph_id, row)),
            ]
        else:
            row, etag, old = await self._current_main(link)
            conditional = {
                "mode": UpdateMode.REPLACE,
                "etag": etag,
                "match_condition": MatchConditions.IfNotModified,
            }
            ops = [("update", _entity(partition, _MAIN + row, link), conditional)]
            # The main entity's etag condition guards the whole transaction, index moves included.
            for prefix, old_value, new_value in (
                (_BY_FNO, old.fno_key, link.fno_key),
                (_BY_GRAPH, old.graph_id, link.graph_id),
            ):
                if old_value != new_value:
                    ops.append(("delete", index(prefix, old_value, row)))
                    ops.append(("create", index(prefix, new_value, row)))
        results = await self._transact(ops)
        new_etag = results[0].get("etag") if results else None
        if new_etag is None:
            links = await self._client(self._links)
            main = await self._get(links, partition, _MAIN + row)
            if main is None:
                raise ConcurrencyError("link vanished right after it was written")
            new_etag = _etag_of(main)
        return link.model_copy(update={"etag": f"{row}:{new_etag}"})

    async def delete_link(self, link: Link) -> None:
        row, etag, old = await self._current_main(link)
        partition = self._partition(link.kind, link.mailbox)
        await self._transact(
            [
                (
                    "delete",
                    {"PartitionKey": partition, "RowKey": _MAIN + row},
                    {"etag": etag, "match_condition": MatchConditions.IfNotModified},
                ),
                ("delete", {"PartitionKey": partition, "RowKey": _BY_FNO + encode_component(old.fno_key)}),
                ("delete", {"PartitionKey": partition, "RowKey": _BY_GRAPH + encode_component(old.graph_id)}),
            ]
        )

    async def list_links(self, kind: str, mailbox: str) -> list[Link]:
        links = await self._client(self._links)
        query = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
        params = {
            "pk": self._partition(kind, mailbox),
            "lo": _MAIN,
            "hi": _MAIN[:-1] + chr(ord(_MAIN[-1]) + 1),
        }
        found: list[Link] = []
        async for entity in self._query(links, query, params):
            row = str(entity["RowKey"])[len(_MAIN) :]
            found.append(_record(Link, entity, f"{row}:{_etag_of(entity)}"))
        return found

    # -- cursors ----------------------------------------------------------------------------------

    async def get_cursor(self, name: str) -> Cursor | None:
        cursors = await self._client(self._cursors)
        entity = await self._get(cursors, encode_component(name), _CURSOR_ROW)
        return None if entity is None else _record(Cursor, entity, _etag_of(entity))

    async def list_cursors(self, prefix: str) -> list[Cursor]:
        """The escaped names starting with the escaped prefix (escaping keeps prefixes, and every escaped
        character sorts below "~"), plus the rare names too long to escape, kept under a digest ("~...")."""
        cursors = await self._client(self._cursors)
        low = escape(prefix)
        ranges = [
            ("PartitionKey ge @low and PartitionKey lt @high", {"low": low, "high": low + HASH_MARK}),
            ("PartitionKey ge @low", {"low": HASH_MARK}),
        ]
        found: list[Cursor] = []
        for query, params in ranges:
            async for entity in self._query(cursors, query, params):
                cursor = _record(Cursor, entity, _etag_of(entity))
                if cursor.name.startswith(prefix):
                    found.append(cursor)
        return found

    async def save_cursor(self, cursor: Cursor) -> Cursor:
        cursors = await self._client(self._cursors)
        entity = _entity(encode_component(cursor.name), _CURSOR_ROW, cursor)
        etag = await _insert_or_replace(cursors, entity, cursor.etag, "cursor")
        return cursor.model_copy(update={"etag": etag})

    async def delete_cursor(self, name: str) -> None:
        cursors = await self._client(self._cursors)
        await cursors.delete_entity(encode_component(name), _CURSOR_ROW)  # a missing entity is fine

    # -- mailboxes --------------------------------------------------------------------------------

    async def upsert_mailbox(self, record: MailboxRecord) -> MailboxRecord:
        return await self._change_mailbox(record.mailbox, lambda stored: keeping_pause(record, stored))

    async def set_mailbox_pause(
        self, mailbox: str, paused: bool, *, by: str = "", at: datetime | None = None, reason: str = ""
    ) -> MailboxRecord:
        return await self._change_mailbox(
            mailbox, lambda stored: with_pause(stored, mailbox, paused, by, at, reason)
        )

    async def _change_mailbox(
        self, mailbox: str, change: Callable[[MailboxRecord | None], MailboxRecord]
    ) -> MailboxRecord:
        """Read, change and write back under the read's etag (again when another writer came first)."""
        table = await self._client(self._mailboxes)
        row = encode_component(mailbox)
        for _ in range(_RETRIES):
            current = await self._get(table, _MAILBOX_PARTITION, row)
            stored = None if current is None else _record(MailboxRecord, current, _etag_of(current))
            record = change(stored)
            entity = _entity(_MAILBOX_PARTITION, row, record)
            try:
                etag = await _insert_or_replace(table, entity, stored.etag if stored else None, "mailbox")
            except ConcurrencyError:
                continue
            return record.model_copy(update={"etag": etag})
        raise ConcurrencyError("mailbox record kept changing")

    async def get_mailbox(self, mailbox: str) -> MailboxRecord | None:
        mailboxes = await self._client(self._mailboxes)
        entity = await self._get(mailboxes, _MAILBOX_PARTITION, encode_component(mailbox))
        return None if entity is None else _record(MailboxRecord, entity, _etag_of(entity))

    async def get_mailbox_by_user(self, user_id: str) -> MailboxRecord | None:
        """Two point reads (the pointer, the mailbox). Without a pointer, or with one the registry no longer
        agrees with, one query of the mailbox partition finds it and leaves a pointer for the next lookup:
        upsert_mailbox stays one write."""
        uid = user_id.lower()
        if not uid:
            return None
        mailboxes = await self._client(self._mailboxes)
        pointer = await self._get(mailboxes, _USER_PARTITION, encode_component(uid))
        if pointer is not None:
            record = await self.get_mailbox(str(pointer.get("mailbox", "")))
            if record is not None and record.user_id.lower() == uid and record.status == "ok":
                return record
        query = "PartitionKey eq @pk and ( user_id eq @uid or user_id eq @upper )"  # the SDK splits on spaces
        params = {"pk": _MAILBOX_PARTITION, "uid": uid, "upper": uid.upper()}
        found = [_record(MailboxRecord, e, _etag_of(e)) async for e in self._query(mailboxes, query, params)]
        record = mailbox_of_user(found, uid)
        if record is not None:
            entity = {
                "PartitionKey": _USER_PARTITION,
                "RowKey": encode_component(uid),
                "mailbox": record.mailbox,
            }
            await mailboxes.upsert_entity(entity, mode=UpdateMode.REPLACE)
        return record

    async def get_mailboxes(self, mailboxes: Sequence[str]) -> dict[str, MailboxRecord]:
        """A planner chunk's records: few by an OR query, more by one range query of the registry partition
        between the chunk's first and last key (a chunk is a sorted slice of the scope, so the range holds
        little else). Digest keys (very long addresses) sort apart: read by OR query."""
        table = await self._client(self._mailboxes)
        wanted = {encode_component(m): m for m in dict.fromkeys(mailboxes)}
        plain = sorted(k for k in wanted if is_reversible(k))
        digests = [k for k in wanted if not is_reversible(k)]
        entities: list[TableEntity] = []
        if len(plain) > _OR_ROWS:
            query = "PartitionKey eq @pk and RowKey ge @lo and RowKey le @hi"
            params = {"pk": _MAILBOX_PARTITION, "lo": plain[0], "hi": plain[-1]}
            entities.extend([e async for e in self._query(table, query, params)])
        else:
            digests.extend(plain)
        entities.extend(await self._rows_of(table, _MAILBOX_PARTITION, digests))
        records = [_record(MailboxRecord, e, _etag_of(e)) for e in entities if e["RowKey"] in wanted]
        return {r.mailbox: r for r in records if wanted[encode_component(r.mailbox)] == r.mailbox}

    async def list_mailboxes(self) -> list[MailboxRecord]:
        mailboxes = await self._client(self._mailboxes)
        found = [
            _record(MailboxRecord, e, _etag_of(e))
            async for e in self._query(mailboxes, "PartitionKey eq @pk", {"pk": _MAILBOX_PARTITION})
        ]
        return sorted(found, key=lambda m: m.mailbox)

    async def delete_mailbox(self, mailbox: str) -> None:
        record = await self.get_mailbox(mailbox)
        mailboxes = await self._client(self._mailboxes)
        if record is not None and record.user_id:
            pointer = await self._get(mailboxes, _USER_PARTITION, encode_component(record.user_id.lower()))
            if pointer is not None and pointer.get("mailbox") == mailbox:
                await mailboxes.delete_entity(_USER_PARTITION, encode_component(record.user_id.lower()))
        await mailboxes.delete_entity(_MAILBOX_PARTITION, encode_component(mailbox))  # a missing one is fine

    # -- audit ------------------------------------------------------------------------------------

    async def append_audit(self, entry: AuditEntry) -> None:
        audit = await self._client(self._audit)
        partition, row = _audit_keys(entry.at)
        await audit.create_entity(_entity(partition, row, entry))

    async def list_audit(
        self,
        limit: int = 1000,
        *,
        mailbox: str | None = None,
        kind: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEntry]:
        if limit <= 0:
            return []
        audit = await self._client(self._audit)
        # Filters go to the service: equality on the plain properties, the time through the keys.
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for field, value in (("mailbox", mailbox), ("kind", kind), ("action", action)):
            if value is not None:
                clauses.append(f"{field} eq @{field}")
                params[field] = value
        if since is not None:
            partition, row = _audit_keys(since)
            clauses.append("PartitionKey le @since_day and RowKey lt @since_row")
            params.update(since_day=partition, since_row=row[:18] + "|~")
        found: list[tuple[str, str, AuditEntry]] = []
        entities = (
            audit.query_entities(" and ".join(clauses), parameters=params, results_per_page=min(limit, 1000))
            if clauses
            else audit.list_entities(results_per_page=min(limit, 1000))
        )
        # The service returns entities in (PartitionKey, RowKey) order, which the keys make newest first.
        async for entity in entities:
            found.append(
                (str(entity["PartitionKey"]), str(entity["RowKey"]), _record(AuditEntry, entity, None))
            )
            if len(found) >= limit:
                break
        found.sort(key=lambda item: (item[0], item[1]))
        return [entry for _, _, entry in found]

    async def purge_audit(self, before: datetime, *, batch: int = 500) -> int:
        partition, row = _audit_keys(before)
        query = "PartitionKey ge @day and RowKey gt @row"
        params = {"day": partition, "row": row[:18] + "|~"}  # strictly older than `before`
        return await self._delete_audit_where(query, params, batch)

    async def forget_audit(self, mailbox: str, *, batch: int = 500) -> int:
        """A scan filtered on the mailbox property (the audit's keys are times): run rarely, by `forget`."""
        return await self._delete_audit_where("mailbox eq @mailbox", {"mailbox": mailbox}, batch)

    async def _delete_audit_where(self, query: str, params: dict[str, str], batch: int) -> int:
        """Delete at most `batch` audit entries the query finds, in transactions per day partition."""
        if batch <= 0:
            return 0
        audit = await self._client(self._audit)
        doomed: dict[str, list[str]] = {}
        taken = 0
        async for entity in audit.query_entities(
            query, parameters=params, select=["PartitionKey", "RowKey"], results_per_page=min(batch, 1000)
        ):
            doomed.setdefault(str(entity["PartitionKey"]), []).append(str(entity["RowKey"]))
            taken += 1
            if taken >= batch:
                break
        for day, rows in doomed.items():
            for start in range(0, len(rows), 100):  # a transaction: one partition, at most 100 operations
                await audit.submit_transaction(
                    [("delete", {"PartitionKey": day, "RowKey": r}) for r in rows[start : start + 100]]
                )
        return taken

    # -- failures ---------------------------------------------------------------------------------

    async def record_failure(
        self,
        kind: str,
        mailbox: str,
        item_key: str,
        reason: str,
        at: datetime,
        *,
        message: str | None = None,
        retry_at: datetime | None = None,
    ) -> Failure:
        failures = await self._client(self._failures)
        partition, row = join_key(kind, mailbox), encode_component(item_key)
        for _ in range(_RETRIES):
            current = await self._get(failures, partition, row)
            old = None if current is None else _record(Failure, current, None)
            failure = bumped_failure(old, kind, mailbox, item_key, reason, at, message, retry_at)
            try:
                if current is None:
                    meta = await failures.create_entity(_entity(partition, row, failure))
                else:
                    meta = await failures.update_entity(
                        _entity(partition, row, failure),
                        mode=UpdateMode.REPLACE,
                        etag=_etag_of(current),
                        match_condition=MatchConditions.IfNotModified,
                    )
            except HttpResponseError as exc:
                if not _is_conflict(exc):
                    raise
                continue  # another worker bumped it first: read again and bump on top
            return failure.model_copy(update={"etag": str(meta["etag"])})
        raise ConcurrencyError("failure record kept changing")

    async def save_failure(self, failure: Failure) -> Failure:
        failures = await self._client(self._failures)
        entity = _entity(join_key(failure.kind, failure.mailbox), encode_component(failure.item_key), failure)
        try:
            meta = await failures.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=failure.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as exc:
            if _is_conflict(exc) or exc.status_code == 404:
                raise ConcurrencyError("failure changed or vanished since it was read") from exc
            raise
        return failure.model_copy(update={"etag": str(meta["etag"])})

    async def clear_failure(self, kind: str, mailbox: str, item_key: str) -> None:
        failures = await self._client(self._failures)
        await failures.delete_entity(join_key(kind, mailbox), encode_component(item_key))

    async def list_failures(self) -> list[Failure]:
        failures = await self._client(self._failures)
        found = [_record(Failure, e, _etag_of(e)) async for e in failures.list_entities()]
        return sorted(found, key=lambda f: (f.kind, f.mailbox, f.item_key))

    # -- contact list entries ---------------------------------------------------------------------

    async def get_contact_entry(self, mailbox: str, contact_key: str) -> ContactListEntry | None:
        table = await self._client(self._contact_entries)
        entity = await self._get(table, encode_component(mailbox), encode_component(contact_key))
        if entity is None:
            return None
        entry = _record(ContactListEntry, entity, _etag_of(entity))
        # Digest keys are not reversible: the stored values decide.
        return entry if entry.mailbox == mailbox and entry.contact_key == contact_key else None

    async def save_contact_entry(self, entry: ContactListEntry) -> ContactListEntry:
        table = await self._client(self._contact_entries)
        entity = _entity(encode_component(entry.mailbox), encode_component(entry.contact_key), entry)
        etag = await _insert_or_replace(table, entity, entry.etag, "contact list entry")
        return entry.model_copy(update={"etag": etag})

    async def delete_contact_entry(self, entry: ContactListEntry) -> None:
        if entry.etag is None:
            raise ConcurrencyError("cannot delete a contact list entry that was never read (no etag)")
        table = await self._client(self._contact_entries)
        partition, row = encode_component(entry.mailbox), encode_component(entry.contact_key)
        keys = {"PartitionKey": partition, "RowKey": row}
        try:
            # A one-operation transaction: unlike delete_entity it reports an entity that is already gone.
            await table.submit_transaction(
                [("delete", keys, {"etag": entry.etag, "match_condition": MatchConditions.IfNotModified})]
            )
        except HttpResponseError as exc:
            if _is_conflict(exc):
                raise ConcurrencyError("contact list entry changed or vanished since it was read") from exc
            raise

    async def list_contact_entries(
        self, mailbox: str | None = None, *, contact_key: str | None = None, pending: bool | None = None
    ) -> list[ContactListEntry]:
        table = await self._client(self._contact_entries)
        clauses, params = [], {}
        if mailbox is not None:
            clauses.append("PartitionKey eq @pk")
            params["pk"] = encode_component(mailbox)
        if contact_key is not None:
            clauses.append("RowKey eq @rk")
            params["rk"] = encode_component(contact_key)
        entities = self._query(table, " and ".join(clauses), params) if clauses else table.list_entities()
        found = [_record(ContactListEntry, e, _etag_of(e)) async for e in entities]
        found = [
            e
            for e in found
            if (mailbox is None or e.mailbox == mailbox)
            and (contact_key is None or e.contact_key == contact_key)
            and (pending is None or e.pending == pending)
        ]
        return sorted(found, key=lambda e: (e.mailbox, e.contact_key))


async def _insert_or_replace(table: TableClient, entity: dict[str, Any], etag: str | None, what: str) -> str:
    """Insert (no etag: must not exist) or replace (etag must match); the new ETag."""
    try:
        if etag is None:
            meta = await table.create_entity(entity)
        else:
            meta = await table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )
    except HttpResponseError as exc:
        if _is_conflict(exc):
            raise ConcurrencyError(f"{what} changed, vanished or already exists") from exc
        raise
    return str(meta["etag"])
