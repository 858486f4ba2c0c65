"""Everything one job needs: settings, clients, state, queues, the clock and the cycle report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sync_core.d365.client import FnoClient
from sync_core.d365.entities import PartyResolver
from sync_core.exchange.client import GraphClient
from sync_core.model.timezones import resolve_time_zone
from sync_core.runtime.queues import QueueSender
from sync_core.runtime.report import CycleReport
from sync_core.settings import Settings
from sync_core.state.base import MailboxRecord, StateStore

if TYPE_CHECKING:
    from sync_core.runtime.feed import OneWayFeed
    from sync_core.runtime.kind import Kind


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Mailbox:
    """A mailbox in scope, resolved for syncing: its worker, company and time zone."""

    record: MailboxRecord
    zone: ZoneInfo

    @property
    def address(self) -> str:
        return self.record.mailbox

    @property
    def zone_name(self) -> str:
        return self.record.time_zone or "UTC"

    @property
    def owner_addresses(self) -> tuple[str, ...]:
        return (self.record.mailbox,)

    @classmethod
    def from_record(cls, record: MailboxRecord) -> Mailbox:
        return cls(record=record, zone=resolve_time_zone(record.time_zone or "UTC"))


@dataclass
class SyncContext:
    settings: Settings
    store: StateStore
    graph: GraphClient
    fno: FnoClient
    queues: QueueSender
    kinds: dict[str, Kind]
    clock: Callable[[], datetime] = utc_now
    dry_run: bool = False
    # One-way feeds scheduled beside the kinds (the e-mail import): no pairs, a job of their own.
    feeds: dict[str, OneWayFeed] = field(default_factory=dict)
    # The order the planner queues the scans of kinds and feeds in (kinds/__init__.py SCHEDULE); names
    # not in it come after, kinds before feeds. The order is kept as it was: the jobs of one cycle run in it.
    schedule: tuple[str, ...] = ()
    report: CycleReport = field(default_factory=CycleReport)
    # Mailboxes resolved by this process's planner (a dry run never writes them to the store).
    registry: dict[str, MailboxRecord] = field(default_factory=dict)
    # Whether `registry` holds every mailbox in scope (the planner resolved them all in this process).
    # Not so when it fans out in chunks (pipeline/fanout.py): the F&O feeds then read the store's.
    registry_complete: bool = False
    _resolvers: dict[str, PartyResolver] = field(default_factory=dict)
    # Records read from the store by this context (a Functions execution reads its mailbox once).
    _read_records: dict[str, MailboxRecord | None] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def scheduled(self) -> list[str]:
        """The names the planner queues scans for (every kind and one-way feed), in the schedule's order."""
        names = [*self.kinds, *self.feeds]
        first = [name for name in self.schedule if name in names]
        return [*first, *(name for name in names if name not in first)]

    def window(self) -> tuple[datetime, datetime]:
        """The calendar window around today, whole days so delta tokens stay valid all day."""
        today = self.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return (
            today - timedelta(days=self.settings.window_days_back),
            today + timedelta(days=self.settings.window_days_ahead),
        )

    def party_resolver(self, company: str) -> PartyResolver:
        """One resolver (and cache) per company per context: addresses are looked up once a cycle."""
        resolver = self._resolvers.get(company)
        if resolver is None:
            resolver = self._resolvers[company] = PartyResolver(self.fno, company)
        return resolver

    async def mailbox_records(self) -> list[MailboxRecord]:
        if self.registry and self.registry_complete:
            return list(self.registry.values())
        return await self.store.list_mailboxes()

    async def mailbox_record(self, address: str) -> MailboxRecord | None:
        """The planner's record, or the store's, read at most once per context."""
        key = address.lower()
        if key in self.registry:
            return self.registry[key]
        if key not in self._read_records:
            self._read_records[key] = await self.store.get_mailbox(key)
        return self._read_records[key]

    async def mailbox(self, address: str) -> Mailbox | None:
        record = await self.mailbox_record(address)
        if record is None or record.status != "ok":
            return None
        return Mailbox.from_record(record)
