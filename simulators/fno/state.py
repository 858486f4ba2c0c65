"""In-memory data of the F&O stand-in: entity rows, number sequences, edit stamps and service protection.

The HTTP app and test/sandbox code use it from different threads, so every access takes one lock.
Keys match the way SQL Server does (case-insensitive, trailing blanks ignored).
"""

from __future__ import annotations

import base64
import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from simulators.fno.errors import bad_request
from simulators.fno.filter import fold_string
from simulators.fno.schema import (
    PARENT_LINK_KEYS,
    EntitySchema,
    coerce_value,
    default_value,
    format_datetime,
    load_entities,
    parent_link_schema,
)

Record = dict[str, Any]
KeyTuple = tuple[str, ...]
# (entity set, "create" | "update" | "delete", the row (as it was, for a delete), the row before an update, RecId)
DataEventHook = Callable[[str, str, Record, Record | None, int], None]

# The only change timestamps F&O exposes on these entities (docs/spec.md §4).
EDIT_STAMP_FIELDS = ("LastDateTimeEdited", "LastEditDateTime")
# Number sequences for keys F&O fills on insert when they are left blank.
NUMBER_SEQUENCES = {
    "Activities": ("ActivityNumber", "ACT-{:06d}"),
    "ContactPersons": ("ContactPersonId", "CP-{:06d}"),
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FnoState:
    def __init__(
        self,
        token: str = "sandbox-token",
        *,
        default_company: str = "usmf",
        page_size: int = 10000,
        parent_links_collection: str | None = "ActivityParentLinks",
        max_concurrent: int = 52,
        null_defaults: bool = False,
        latency: float = 0.0,
        rate_limit: int | None = None,
        rate_window: float = 300.0,
    ) -> None:
        self.token = token
        self.default_company = default_company.lower()
        self.page_size = page_size
        self.parent_links_collection = parent_links_collection
        self.max_concurrent = max_concurrent
        # F&O returns "" / "No" for unset fields (X++ has no nulls); True returns null for nullable ones.
        self.null_defaults = null_defaults
        self.entities: dict[str, EntitySchema] = load_entities(parent_links_collection)
        self.clock: Callable[[], datetime] = _utc_now
        self.request_log: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self._rows: dict[str, dict[KeyTuple, Record]] = {name: {} for name in self.entities}
        # (row version, RecId) per row, for ETags.
        self._versions: dict[tuple[str, KeyTuple], tuple[int, int]] = {}
        self._next_recid = 5637144576
        self._sequences: dict[str, int] = {}
        self._throttled = 0
        self._throttle_retry_after = 1
        self._in_flight = 0
        self._offered = 0
        self.offered_peak = 0  # most requests on the wire at once (offer)
        # Service protection as F&O applies it per user (off by default so tests stay fast; the benchmark
        # turns it on): seconds each call takes, and at most `rate_limit` requests per `rate_window`
        # seconds (F&O: 6,000 per 5 minutes), over which a call answers 429 with Retry-After.
        self.latency = latency
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._recent: deque[float] = deque()
        # What a write with a stale `If-Match` answers. OData says 412 (Part 1 "Protocol", 8.2.4 If-Match);
        # F&O's own pages name no status for it, so tests also try 400 and 409 (docs/microsoft.md).
        self.stale_etag_status = 412
        # Data events (simulators/fno/events.py): called after each committed write when attached.
        self.data_events: DataEventHook | None = None
        # Events of a $batch changeset in progress: emitted once it commits, dropped when it is rolled back.
        self._held_events: list[tuple[str, str, Record, Record | None, int]] | None = None
        # Every environment has its companies; the default one is there from the start (LegalEntities).
        self.add("LegalEntities", {"LegalEntityId": self.default_company.upper(), "Name": "Default company"})

    # -- seeding and inspection ------------------------------------------------------------------------
    def add(self, entity_set: str, record: Record) -> Record:
        """Seed a row as if a user created it in F&O; an explicit edit stamp in `record` is kept."""
        entity = self.entity(entity_set)
        stamp = {name: record[name] for name in EDIT_STAMP_FIELDS if name in record}
        with self.lock:
            stored = self.insert(entity, record, company=self.default_company)
            for name, value in stamp.items():
                stored[name] = coerce_value(entity.properties[name], value)
            return copy.deepcopy(stored)

    def get(self, entity_set: str, key: dict[str, str]) -> Record | None:
        entity = self.entity(entity_set)
        with self.lock:
            found = self.lookup(entity, self._complete_key(entity, key), company=None)
            return None if found is None else copy.deepcopy(found)

    def all(self, entity_set: str) -> list[Record]:
        entity = self.entity(entity_set)
        with self.lock:
            return copy.deepcopy(self.rows(entity, company=None))

    def update(self, entity_set: str, key: dict[str, str], patch: Record) -> Record:
        """A user edit in F&O: validates like PATCH and bumps the edit stamp."""
        entity = self.entity(entity_set)
        with self.lock:
            found = self.lookup(entity, self._complete_key(entity, key), company=None)
            if found is None:
                raise KeyError(f"{entity_set} {key}")
            return copy.deepcopy(self.modify(entity, found, patch))

    def delete(self, entity_set: str, key: dict[str, str]) -> None:
        entity = self.entity(entity_set)
        with self.lock:
            found = self.lookup(entity, self._complete_key(entity, key), company=None)
            if found is None:
                raise KeyError(f"{entity_set} {key}")
            self.remove(entity, found)

    def publish_parent_links(self, collection: str | None, keys: tuple[str, ...] = PARENT_LINK_KEYS) -> None:
        """Publish the parent-link entity as `collection` with `keys` (None: not published, as in standard
        F&O). The rows of the previous one are gone from OData, as when a customer unpublishes it."""
        with self.lock:
            if self.parent_links_collection is not None:
                self.entities.pop(self.parent_links_collection, None)
                self._rows.pop(self.parent_links_collection, None)
            self.parent_links_collection = collection
            if collection is not None:
                self.entities[collection] = parent_link_schema(collection, keys)
                self._rows[collection] = {}

    # -- service protection ----------------------------------------------------------------------------
    def throttle_next(self, count: int, retry_after: int = 1) -> None:
        """The next `count` authenticated requests are answered 429 with `Retry-After: retry_after`."""
        with self.lock:
            self._throttled = count
            self._throttle_retry_after = retry_after

    def take_throttle(self) -> int | None:
        """Retry-After seconds when this request is to be throttled, else None."""
        with self.lock:
            if self._throttled <= 0:
                return None
            self._throttled -= 1
            return self._throttle_retry_after

    def take_rate_slot(self) -> float | None:
        """Count one request against the rate limit; over it, the seconds until a slot frees."""
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        with self.lock:
            while self._recent and self._recent[0] <= now - self.rate_window:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit:
                return max(self._recent[0] + self.rate_window - now, 0.001)
            self._recent.append(now)
            return None

    def enter_request(self) -> bool:
        """Claim one concurrent-request slot; False when the ceiling is reached (answer 429)."""
        with self.lock:
            if self._in_flight >= self.max_concurrent:
                return False
            self._in_flight += 1
            return True

    def leave_request(self) -> None:
        with self.lock:
            self._in_flight -= 1

    def offer(self, change: int) -> None:
        """A meter for tests and the benchmark: requests on the wire at once, refused ones included."""
        with self.lock:
            self._offered += change
            self.offered_peak = max(self.offered_peak, self._offered)

    # -- used by the HTTP app ------------------------------------------------------------------------------
    def entity(self, entity_set: str) -> EntitySchema:
        entity = self.entities.get(entity_set)
        if entity is None:
            raise KeyError(f"unknown entity set {entity_set!r}")
        return entity

    def key_of(self, entity: EntitySchema, values: Record) -> KeyTuple:
        return tuple(fold_string(str(values[name])) for name in entity.keys)

    def visible(self, entity: EntitySchema, record: Record, company: str | None) -> bool:
        """Without cross-company a request sees only the default company's rows."""
        return company is None or not entity.per_company or fold_string(record["dataAreaId"]) == company

    def rows(self, entity: EntitySchema, company: str | None) -> list[Record]:
        with self.lock:
            ordered = sorted(self._rows[entity.name].items())
            return [record for _key, record in ordered if self.visible(entity, record, company)]

    def lookup(self, entity: EntitySchema, key: Record, company: str | None) -> Record | None:
        with self.lock:
            found = self._rows[entity.name].get(self.key_of(entity, key))
            return found if found is not None and self.visible(entity, found, company) else None

    def etag(self, entity: EntitySchema, record: Record) -> str:
        version, recid = self._versions.get((entity.name, self.key_of(entity, record)), (1, 0))
        token = base64.b64encode(f"'{version},{recid}'".encode()).decode()
        return f'W/"{token}"'

    def insert(self, entity: EntitySchema, body: Record, *, company: str) -> Record:
        """Create a row from a request body; `company` is used when the body names none."""
        values = self._validated(entity, body)
        with self.lock:
            record = {
                name: default_value(prop, null_defaults=self.null_defaults)
                for name, prop in entity.properties.items()
            }
            record.update(values)
            if entity.per_company:
                record["dataAreaId"] = (record.get("dataAreaId") or company).lower()
            self._assign_number(entity, record)
            for name in entity.keys:
                if record.get(name) in (None, ""):
                    raise bad_request(f"Key field '{name}' of '{entity.type_name}' must have a value.")
            key = self.key_of(entity, record)
            if key in self._rows[entity.name]:
                raise bad_request(
                    f"Write failed for table row of type '{entity.name}'. Infolog: Error: Cannot create a record "
                    f"in {entity.name}. The record already exists.",
                    error_type="Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException",
                )
            self._stamp(entity, record, previous=None)
            self._rows[entity.name][key] = record
            self._next_recid += 1
            self._versions[(entity.name, key)] = (1, self._next_recid)
            self._emit(entity, "create", record, None)
            return record

    def modify(self, entity: EntitySchema, record: Record, patch: Record) -> Record:
        values = self._validated(entity, patch)
        with self.lock:
            for name in entity.keys:
                if name in values and fold_string(str(values[name])) != fold_string(str(record[name])):
                    raise bad_request(f"Changing key field '{name}' of '{entity.type_name}' is not allowed.")
            previous = {name: record.get(name) for name in EDIT_STAMP_FIELDS}
            before = copy.deepcopy(record) if self.data_events is not None else None
            record.update({name: value for name, value in values.items() if name not in entity.keys})
            self._stamp(entity, record, previous=previous)
            key = (entity.name, self.key_of(entity, record))
            version, recid = self._versions.get(key, (1, 0))
            self._versions[key] = (version + 1, recid)
            self._emit(entity, "update", record, before)
            return record

    def remove(self, entity: EntitySchema, record: Record) -> None:
        with self.lock:
            key = self.key_of(entity, record)
            self._emit(entity, "delete", record, None)
            del self._rows[entity.name][key]
            self._versions.pop((entity.name, key), None)

    def snapshot(self) -> Any:
        """Everything a $batch changeset may change, to restore when one of its requests fails."""
        with self.lock:
            self._held_events = []
            return copy.deepcopy((self._rows, self._versions, self._sequences, self._next_recid))

    def commit(self) -> None:
        """The changeset since `snapshot` succeeded: its data events go out now."""
        with self.lock:
            held, self._held_events = self._held_events or [], None
            for event in held:
                if self.data_events is not None:
                    self.data_events(*event)

    def restore(self, snapshot: Any) -> None:
        with self.lock:
            self._held_events = None  # nothing of a rolled-back changeset happened
            rows, versions, sequences, next_recid = copy.deepcopy(snapshot)
            self._rows, self._versions, self._sequences, self._next_recid = (
                rows,
                versions,
                sequences,
                next_recid,
            )

    # -- internals ---------------------------------------------------------------------------------------
    def _emit(self, entity: EntitySchema, operation: str, record: Record, before: Record | None) -> None:
        if self.data_events is not None:
            _, recid = self._versions.get((entity.name, self.key_of(entity, record)), (1, 0))
            event = (entity.name, operation, copy.deepcopy(record), before, recid)
            if self._held_events is not None:
                self._held_events.append(event)
            else:
                self.data_events(*event)

    def _complete_key(self, entity: EntitySchema, key: dict[str, str]) -> Record:
        full: Record = dict(key)
        if entity.per_company:
            full.setdefault("dataAreaId", self.default_company)
        if set(full) != set(entity.keys):
            raise KeyError(f"{entity.name} key needs {list(entity.keys)}, got {sorted(full)}")
        return full

    def _validated(self, entity: EntitySchema, body: Record) -> Record:
        values: Record = {}
        for name, value in body.items():
            if name.startswith("@"):
                continue  # annotations such as @odata.etag carry no data
            prop = entity.properties.get(name)
            if prop is None:
                raise bad_request(
                    f"The property '{name}' does not exist on type '{entity.type_name}'. "
                    "Make sure to only use property names that are defined by the type."
                )
            values[name] = coerce_value(prop, value, null_defaults=self.null_defaults)
        return values

    def _assign_number(self, entity: EntitySchema, record: Record) -> None:
        sequence = NUMBER_SEQUENCES.get(entity.name)
        if sequence is None or record.get(sequence[0]) not in (None, ""):
            return
        field, pattern = sequence
        while True:
            self._sequences[entity.name] = self._sequences.get(entity.name, 0) + 1
            record[field] = pattern.format(self._sequences[entity.name])
            if self.key_of(entity, record) not in self._rows[entity.name]:
                return

    def _stamp(self, entity: EntitySchema, record: Record, previous: Record | None) -> None:
        """Server-side edit stamp, whole seconds; it never moves backwards for a row."""
        now = format_datetime(self.clock())
        for name in EDIT_STAMP_FIELDS:
            if name in entity.properties:
                before = (previous or {}).get(name)
                record[name] = max(now, before) if isinstance(before, str) else now
