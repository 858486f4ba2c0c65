"""A kind's rules: everything that decides a pair besides its two views, in one frozen record.

The pair job turns the record into the engine's inputs (pipeline/facts.py `facts_of`, the deletion rule and
the merge groups), and `decide()` (engine/decide.py) gives the verdict: "what happens to this pair, and why?"
is answered by the engine and the kind's `rules`. Every field has its default here, the answer of a kind
without series, windows or folders; a kind states only what it does differently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sync_core.engine.merge import DEFAULT_GROUPS
from sync_core.engine.types import DeletionContext, DeletionRule

if TYPE_CHECKING:
    from sync_core.runtime.context import SyncContext
    from sync_core.runtime.kind import FnoItem, GraphItem


def never_delete_partner(context: DeletionContext) -> Literal["delete_partner", "unlink"]:
    """A deletion only unlinks: the partner stays (nothing is lost unless a kind says otherwise)."""
    return "unlink"


def always_in_scope(ctx: SyncContext, record: Mapping[str, Any]) -> bool:
    return True


def always_creatable(record: Mapping[str, Any]) -> bool:
    return True


def never_protected(graph: GraphItem) -> bool:
    return False


def names_nothing(fno: FnoItem, graph: GraphItem) -> bool:
    return False


def no_write_effects(graph: GraphItem) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class KindRules:
    """What decides a pair of this kind besides both sides' views (docs/sync-rules.md, "How it decides")."""

    # Fields that merge as one unit (never one side's start with the other side's end).
    merge_groups: tuple[tuple[str, ...], ...] = DEFAULT_GROUPS
    # Fields a create writes in a request after the one that makes the item (an activity's attendees are its
    # parent links): missing after a lost answer, they do not count as an edit of the created item.
    fields_finished_after_create: frozenset[str] = frozenset()
    # Fields whose write needs the Exchange side as it is now (pipeline/reads.py): a change of one of them
    # reads that side first (empty: any change may be written to the side as the link knows it).
    fields_needing_graph_item: frozenset[str] = frozenset()
    # The same for the F&O side.
    fields_needing_fno_row: frozenset[str] = frozenset()
    # Unmarking the Exchange side removes the item (a contact leaving its list's folder): its edits since the
    # last sync are written to F&O first (engine PairFacts.graph_unmark_removes).
    graph_unmark_removes: bool = False
    # The record kept when the pair was unlinked is the merge base of any item carrying our stamp of the
    # record, not only of the item unlinked (pipeline/unlinked_base.py): a To Do task moved to another list
    # gets a new id but keeps its stamp. Events keep to the id: a copied event may carry the stamp.
    unlink_record_follows_stamp: bool = False
    # Whether deleting one side of a linked pair deletes its partner or only unlinks (docs/spec.md §4).
    deletion_rule: DeletionRule = never_delete_partner
    # Whether a new item may be created on the other side from this record (e.g. inside the calendar window).
    in_scope: Callable[[SyncContext, Mapping[str, Any]], bool] = always_in_scope
    # Whether this F&O record may be created in Exchange at all (series members never are).
    may_create_in_graph: Callable[[Mapping[str, Any]], bool] = always_creatable
    # Linking must not write to this Exchange item (a write would change what it is: an occurrence).
    protects_graph_item: Callable[[GraphItem], bool] = never_protected
    # The F&O record names this unstamped Exchange item (made from it, or adopted from a predecessor).
    names_graph_item: Callable[[FnoItem, GraphItem], bool] = names_nothing
    # Canonical fields that writing to this Exchange item changes by itself.
    graph_write_effects: Callable[[GraphItem], Mapping[str, Any]] = no_write_effects
