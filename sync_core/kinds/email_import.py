"""E-mail import (docs/spec.md §3.3): messages marked with the import category become F&O activities.

A one-way kind. It takes part in the planner's cycle through its two feeds: `scan_exchange` queues one
`ImportMessage` per marked message (handled by `sync_core.email_import.job`, not by the pair job), and
`scan_fno`, which has no F&O changes to follow, queues the marked messages of mailboxes that have no worker
so that they fail visibly. There are no pairs: every pair-side method answers "nothing here", so a stray
`SyncPair` of this kind decides nothing and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync_core.email_import.claims import KIND
from sync_core.email_import.scan import queue_marked, queue_unowned
from sync_core.engine.types import DeletionContext, SideView
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import DeletionOutcome, EmitExchange, EmitFno, FnoItem, GraphItem


class OneWayKind(ValueError):
    """A pair write was asked of the e-mail import, which has no pairs (permanent: never retried)."""


class EmailImportKind:
    name = KIND
    merge_groups: tuple[tuple[str, ...], ...] = ()
    fields_finished_after_create: frozenset[str] = frozenset()
    deletion_check = False  # nothing is linked, so nothing can vanish

    def content_hash(self, record: Mapping[str, Any]) -> str:
        return ""

    def deletion_rule(self, context: DeletionContext) -> DeletionOutcome:
        return "unlink"  # an activity made from an e-mail is never deleted by the sync

    # ---- feeds -------------------------------------------------------------------------------------
    async def scan_exchange(
        self, ctx: SyncContext, mailbox: Mailbox, cursor: str | None, emit: EmitExchange
    ) -> str | None:
        await queue_marked(ctx, mailbox.address)
        return None

    async def scan_fno(self, ctx: SyncContext, cursor: str | None, emit: EmitFno) -> str | None:
        await queue_unowned(ctx)
        return None

    # ---- no pairs: reads find nothing, so the engine decides nothing ---------------------------------
    async def load_fno(self, ctx: SyncContext, fno_key: str) -> FnoItem | None:
        return None

    async def load_graph(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> GraphItem | None:
        return None

    async def find_graph_partner(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem) -> GraphItem | None:
        return None

    async def stamp_graph(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, fno_key: str) -> None:
        return None

    async def find_fno_partner(self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem) -> FnoItem | None:
        return None

    async def fno_view(self, ctx: SyncContext, mailbox: Mailbox, item: FnoItem | None) -> SideView:
        return SideView(present=False, marked=False)

    async def graph_view(self, ctx: SyncContext, mailbox: Mailbox, item: GraphItem | None) -> SideView:
        return SideView(present=False, marked=False)

    async def align(
        self, ctx: SyncContext, mailbox: Mailbox, fno: SideView, graph: SideView
    ) -> tuple[SideView, SideView]:
        return fno, graph

    def in_scope(self, ctx: SyncContext, record: Mapping[str, Any]) -> bool:
        return False

    def is_organizer(self, graph: GraphItem | None) -> bool:
        return True

    # ---- writes are never decided for this kind ------------------------------------------------------
    async def create_in_graph(
        self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, record: Mapping[str, Any]
    ) -> GraphItem:
        raise OneWayKind("e-mail import never creates Outlook items")

    async def create_in_fno(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, record: Mapping[str, Any]
    ) -> FnoItem:
        raise OneWayKind("e-mail import creates activities in its own job, not as pairs")

    async def update_graph(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        graph: GraphItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        raise OneWayKind("e-mail import never updates Outlook items")

    async def update_fno(
        self,
        ctx: SyncContext,
        mailbox: Mailbox,
        fno: FnoItem,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
    ) -> str:
        raise OneWayKind("e-mail import never updates activities")

    async def set_graph_mark(
        self, ctx: SyncContext, mailbox: Mailbox, graph: GraphItem, marked: bool
    ) -> None:
        raise OneWayKind("e-mail import has no sync mark")

    async def set_fno_mark(self, ctx: SyncContext, mailbox: Mailbox, fno: FnoItem, marked: bool) -> None:
        raise OneWayKind("e-mail import has no sync mark")

    async def delete_graph(self, ctx: SyncContext, mailbox: Mailbox, graph_id: str) -> None:
        raise OneWayKind("e-mail import never deletes")

    async def delete_fno(self, ctx: SyncContext, mailbox: Mailbox, fno_key: str) -> None:
        raise OneWayKind("e-mail import never deletes")
