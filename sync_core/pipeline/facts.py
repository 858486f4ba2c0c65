"""What the engine is told about a pair besides both sides' views (engine/types.py `PairFacts`).

The facts come from the link, the queue message and the kind's rules record (runtime/rules.py `KindRules`)
and from nothing else of the kind; each rule is asked at most once per decision, and only where it can
matter, so the pair job's only verdict is `decide()`'s.
"""

from __future__ import annotations

from sync_core.engine.decide import would_create
from sync_core.engine.types import PairFacts, SideView
from sync_core.runtime.context import SyncContext
from sync_core.runtime.kind import FnoItem, GraphItem
from sync_core.runtime.messages import SyncPair
from sync_core.runtime.rules import KindRules
from sync_core.state.base import Link


def facts_of(
    ctx: SyncContext,
    rules: KindRules,
    message: SyncPair,
    link: Link | None,
    fno: FnoItem | None,
    graph: GraphItem | None,
    fno_view: SideView,
    graph_view: SideView,
) -> PairFacts:
    """The facts of one pair, each of the kind's rules asked only where it can matter."""
    settled = link is not None and not link.is_claim
    created_side = link.claimed_side if link is not None and fno is not None and graph is not None else None
    # Only a pair without a settled link can be created, from the one side there if it is marked.
    creates_from = None if settled else would_create(fno_view, graph_view)
    source = (fno_view if creates_from == "fno" else graph_view).record if creates_from else None
    from_fno = creates_from == "fno"
    return PairFacts(
        deletion_held=settled and not message.allow_delete,
        create_in_scope=source is None or rules.in_scope(ctx, source),
        may_create_in_graph=not from_fno or bool(rules.may_create_in_graph(source or {})),
        graph_protected=not settled and graph is not None and bool(rules.protects_graph_item(graph)),
        fno_names_graph=link is None
        and fno is not None
        and graph is not None
        and not graph.stamp
        and bool(rules.names_graph_item(fno, graph)),
        has_link=link is not None,
        graph_stamped=graph is not None and bool(graph.stamp),
        created_side=created_side,
        sent_record=dict(link.snapshot) if created_side is not None and link is not None else {},
        finished_after_create=frozenset(rules.fields_finished_after_create),
        graph_unmark_removes=rules.graph_unmark_removes,
        graph_write_effects=dict(rules.graph_write_effects(graph)) if graph is not None else {},
    )
