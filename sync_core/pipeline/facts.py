"""What the engine is told about a pair besides both sides' views (engine/types.py `PairFacts`).

The kind's pipeline hooks are gathered here (`hooks_of`), and each rule hook is asked at most once per
decision (`facts_of`), so the pair job's only verdict is `decide()`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sync_core.engine.decide import would_create
from sync_core.engine.types import PairFacts, SideView
from sync_core.runtime.context import Mailbox, SyncContext
from sync_core.runtime.kind import FnoItem, GraphItem, KindAdapter
from sync_core.runtime.messages import SyncPair
from sync_core.settings import Settings
from sync_core.state.base import Link


@dataclass(frozen=True)
class KindHooks:
    """A kind's pipeline hooks (None in a test's stand-in kind: the default applies)."""

    # The pair's F&O side from a row a feed carried (as load_fno would return it).
    fno_item_from_row: Callable[[SyncContext, str, Mapping[str, Any]], Awaitable[FnoItem | None]] | None
    # The `If-Match` for writing the Exchange side without reading it (None from the hook: read it).
    graph_if_match: Callable[[Settings, Link], str | None] | None
    # Fields a write can carry only with the side read (None: that side is never assumed).
    fields_needing_graph_item: frozenset[str] | None
    fields_needing_fno_row: frozenset[str] | None
    # First-run matching by the kind's strict key, candidates best first.
    match_graph_partners: Callable[[SyncContext, Mailbox, FnoItem], Awaitable[list[GraphItem]]] | None
    match_fno_partners: Callable[[SyncContext, Mailbox, GraphItem], Awaitable[list[FnoItem]]] | None
    # The rules (PairFacts).
    may_create_in_graph: Callable[[Mapping[str, Any]], bool] | None
    protects_graph_item: Callable[[GraphItem], bool] | None
    names_graph_item: Callable[[FnoItem, GraphItem], bool] | None
    graph_write_effects: Callable[[GraphItem], Mapping[str, Any]] | None


def hooks_of(kind: KindAdapter) -> KindHooks:
    """The kind's pipeline hooks in one record (every kind declares them: runtime/kind.py, KindDefaults)."""
    return KindHooks(
        fno_item_from_row=kind.fno_item_from_row,
        graph_if_match=kind.graph_if_match,
        fields_needing_graph_item=frozenset(kind.fields_needing_graph_item),
        fields_needing_fno_row=frozenset(kind.fields_needing_fno_row),
        match_graph_partners=kind.match_graph_partners,
        match_fno_partners=kind.match_fno_partners,
        may_create_in_graph=kind.may_create_in_graph,
        protects_graph_item=kind.protects_graph_item,
        names_graph_item=kind.names_graph_item,
        graph_write_effects=kind.graph_write_effects,
    )


def facts_of(
    ctx: SyncContext,
    kind: KindAdapter,
    hooks: KindHooks,
    message: SyncPair,
    link: Link | None,
    fno: FnoItem | None,
    graph: GraphItem | None,
    fno_view: SideView,
    graph_view: SideView,
) -> PairFacts:
    """The facts of one pair, each kind rule asked only where it can matter."""
    settled = link is not None and not link.is_claim
    created_side = link.claimed_side if link is not None and fno is not None and graph is not None else None
    # Only a pair without a settled link can be created, from the one side there if it is marked.
    creates_from = None if settled else would_create(fno_view, graph_view)
    source = (fno_view if creates_from == "fno" else graph_view).record if creates_from else None
    from_fno = creates_from == "fno"
    return PairFacts(
        deletion_held=settled and not message.allow_delete,
        create_in_scope=source is None or kind.in_scope(ctx, source),
        may_create_in_graph=not from_fno
        or hooks.may_create_in_graph is None
        or bool(hooks.may_create_in_graph(source or {})),
        graph_protected=not settled
        and graph is not None
        and hooks.protects_graph_item is not None
        and bool(hooks.protects_graph_item(graph)),
        fno_names_graph=link is None
        and fno is not None
        and graph is not None
        and not graph.stamp
        and hooks.names_graph_item is not None
        and bool(hooks.names_graph_item(fno, graph)),
        has_link=link is not None,
        graph_stamped=graph is not None and bool(graph.stamp),
        created_side=created_side,
        sent_record=dict(link.snapshot) if created_side is not None and link is not None else {},
        finished_after_create=frozenset(kind.fields_finished_after_create),
        graph_unmark_removes=kind.graph_unmark_removes,
        graph_write_effects=(
            dict(hooks.graph_write_effects(graph))
            if graph is not None and hooks.graph_write_effects is not None
            else {}
        ),
    )
