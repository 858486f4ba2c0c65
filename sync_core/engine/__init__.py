"""The pure sync engine: decide what to do with one pair from its link snapshot and both sides."""

from sync_core.engine.decide import decide, is_deletion, would_create
from sync_core.engine.merge import MergeResult, three_way_merge
from sync_core.engine.rules import appointment_deletion_rule
from sync_core.engine.types import (
    ActionKind,
    Decision,
    DeletionContext,
    DeletionRule,
    FieldConflict,
    PairFacts,
    Policy,
    SideView,
)

__all__ = [
    "ActionKind",
    "Decision",
    "DeletionContext",
    "DeletionRule",
    "FieldConflict",
    "MergeResult",
    "PairFacts",
    "Policy",
    "SideView",
    "appointment_deletion_rule",
    "decide",
    "is_deletion",
    "three_way_merge",
    "would_create",
]
