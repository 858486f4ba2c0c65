"""Value types of the sync engine: what it is told about a pair, and what it decides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

Side = Literal["fno", "graph"]


class Policy(StrEnum):
    """Who wins a field that changed on both sides (docs/spec.md §4)."""

    NEWEST = "newest"  # later modification time wins; ties and unknown times go to F&O
    D365 = "d365"
    EXCHANGE = "exchange"


@dataclass(frozen=True)
class SideView:
    """One side of a pair as the pipeline found it.

    present: the item exists (and was read). marked: it carries the sync mark (F&O
    KeepSynchronized = Yes, or the Exchange sync category). record: its canonical record
    (JSON-able dict as made by the kind's `to_record`), required when present.
    modified_at: the side's own last-modified time, for the `newest` policy.
    """

    present: bool
    marked: bool
    record: Mapping[str, Any] | None = None
    modified_at: datetime | None = None


ABSENT = SideView(present=False, marked=False)


class ActionKind(StrEnum):
    NOTHING = "nothing"
    CREATE_IN_GRAPH = "create_in_graph"  # write_graph holds the full record
    CREATE_IN_FNO = "create_in_fno"  # write_fno holds the full record
    LINK = "link"  # partner found by the product's stamp: save the link, apply any writes
    UPDATE = "update"  # write changed fields to one or both sides (possibly none), save snapshot
    DELETE_IN_GRAPH = "delete_in_graph"  # then drop the link
    DELETE_IN_FNO = "delete_in_fno"  # then drop the link
    UNLINK = "unlink"  # drop (deactivate) the link; apply unmark_fno / unmark_graph
    FORGET = "forget"  # both sides gone: drop the link


@dataclass(frozen=True)
class FieldConflict:
    """A field changed differently on both sides (or differed at first link), and who won.

    The values are content (may be personal data): audit the field name and winner, not them.
    """

    field: str
    fno_value: Any
    graph_value: Any
    winner: Side
    reason: str


@dataclass(frozen=True)
class Decision:
    action: ActionKind
    write_fno: Mapping[str, Any] = field(default_factory=dict)  # canonical field -> new value (F&O)
    write_graph: Mapping[str, Any] = field(default_factory=dict)  # canonical field -> new value (Graph)
    unmark_fno: bool = False  # set KeepSynchronized = No
    unmark_graph: bool = False  # remove the sync category
    mark_fno: bool = False  # LINK only: set KeepSynchronized = Yes (the user re-marked the other side)
    mark_graph: bool = False  # LINK only: add the sync category
    snapshot: Mapping[str, Any] | None = None  # record both sides hold afterwards; None: link goes away
    conflicts: tuple[FieldConflict, ...] = ()
    reason: str = ""  # short, no personal data
    # NOTHING that leaves the link as it is too (no versions remembered, no claim settled): a deletion
    # waiting for the mailbox's deletion check, or a create the kind's rules do not allow.
    untouched: bool = False


@dataclass(frozen=True)
class DeletionContext:
    side_deleted: Side
    snapshot: Mapping[str, Any]
    now: datetime
    mailbox_is_organizer: bool
    # The surviving side's record as read just now (None: not known): it may have changed since the
    # snapshot, e.g. a task completed since the last sync is never deleted.
    survivor: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PairFacts:
    """What decides a pair besides both sides' views: plain values the pair job found out before deciding
    (from the link, the queue message and the kind's rules). The defaults allow everything and hold nothing.
    """

    # A settled pair's deletion waits until the mailbox's deletion check (the safety valve) lets it through.
    deletion_held: bool = False
    # The record a create would be made from is in the kind's scope (the window; docs/spec.md §4).
    create_in_scope: bool = True
    # The kind creates this F&O record in Exchange at all (series members are created in Outlook only).
    may_create_in_graph: bool = True
    # Any write would change the Exchange item itself (an occurrence would become an exception).
    graph_protected: bool = False
    # The F&O record names this Exchange item (its OutlookEntryId: made from it, or adopted).
    fno_names_graph: bool = False
    # The pair has a link or a claim, and whether the Exchange item carries our stamp.
    has_link: bool = False
    graph_stamped: bool = False
    # A create of ours made this side (a claim whose partner is now there): the create is being finished.
    created_side: Side | None = None
    # The record the unfinished create sent (the claim's snapshot; empty when the claim predates keeping it)
    # and the fields the created side only gets after the create (so they count as unedited).
    sent_record: Mapping[str, Any] = field(default_factory=dict)
    finished_after_create: frozenset[str] = frozenset()
    # Canonical fields a write to the Exchange item changes by itself (an occurrence becomes an exception).
    graph_write_effects: Mapping[str, Any] = field(default_factory=dict)
    # Of a pair with no link found again by our stamp: its record when it was unlinked (an unmark), so
    # linking it again merges three-way and an edit made on either side meanwhile is kept (empty: none kept).
    relink_base: Mapping[str, Any] = field(default_factory=dict)
    # Unmarking the Exchange side removes the item (a contact leaves its list's folder when its person
    # leaves the list): its edits since the last sync go to F&O first, or they would be lost with it.
    graph_unmark_removes: bool = False


DeletionRule = Callable[[DeletionContext], Literal["delete_partner", "unlink"]]
