"""Apply a Decision to in-memory sides, as the pipeline would (minus the I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sync_core.engine.types import ABSENT, ActionKind, Decision, SideView


def apply(
    decision: Decision, snapshot: Mapping[str, Any] | None, fno: SideView, graph: SideView
) -> tuple[Mapping[str, Any] | None, SideView, SideView]:
    """The state after the pipeline carried out `decision`: (link snapshot, F&O side, Graph side)."""
    action = decision.action
    if action is ActionKind.NOTHING:
        return snapshot, fno, graph
    if action is ActionKind.CREATE_IN_GRAPH:
        return decision.snapshot, fno, SideView(present=True, marked=True, record=dict(decision.write_graph))
    if action is ActionKind.CREATE_IN_FNO:
        return decision.snapshot, SideView(present=True, marked=True, record=dict(decision.write_fno)), graph
    if action in (ActionKind.LINK, ActionKind.UPDATE):
        new_fno = replace(
            fno, marked=fno.marked or decision.mark_fno, record={**(fno.record or {}), **decision.write_fno}
        )
        new_graph = replace(
            graph,
            marked=graph.marked or decision.mark_graph,
            record={**(graph.record or {}), **decision.write_graph},
        )
        return decision.snapshot, new_fno, new_graph
    if action is ActionKind.DELETE_IN_GRAPH:
        return None, fno, ABSENT
    if action is ActionKind.DELETE_IN_FNO:
        return None, ABSENT, graph
    if action is ActionKind.UNLINK:
        new_fno = replace(fno, marked=False) if decision.unmark_fno else fno
        new_graph = replace(graph, marked=False) if decision.unmark_graph else graph
        return None, new_fno, new_graph
    assert action is ActionKind.FORGET
    return None, fno, graph
