"""The pure sync engine: decide what to do with one pair from its link snapshot and both sides."""

from sync_core.engine.decide import decide
from sync_core.engine.merge import MergeResult, three_way_merge
from sync_core.engine.rules import appointment_deletion_rule
from sync_core.engine.types import (
    ActionKind,
    Decision,
    DeletionContext,
    DeletionRule,
    FieldConflict,
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
    "Policy",
    "SideView",
    "appointment_deletion_rule",
    "decide",
    "three_way_merge",
]
