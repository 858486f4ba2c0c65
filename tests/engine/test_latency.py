"""The sync latency rule (engine/latency.py) and the chart's percentiles, without a tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync_core.console.chart import nearest_rank
from sync_core.engine.latency import pair_latency
from sync_core.engine.types import ActionKind, Decision, SideView

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def view(modified: datetime | None) -> SideView:
    return SideView(present=True, marked=True, record={}, modified_at=modified)


def test_latency_is_from_the_source_side_clamped_and_empty_when_unknown() -> None:
    create = Decision(ActionKind.CREATE_IN_GRAPH, reason="new")
    assert pair_latency(create, view(NOW - timedelta(seconds=90)), view(None), NOW) == 90.0
    assert pair_latency(create, view(NOW + timedelta(minutes=2)), view(None), NOW) == 0.0  # clock skew
    assert pair_latency(create, view(None), view(NOW - timedelta(hours=1)), NOW) is None
    both = Decision(ActionKind.UPDATE, write_fno={"a": 1}, write_graph={"b": 2}, reason="both")
    earlier, later = view(NOW - timedelta(seconds=300)), view(NOW - timedelta(seconds=20))
    assert pair_latency(both, earlier, later, NOW) == 300.0  # the slowest change the write carried
    assert pair_latency(Decision(ActionKind.DELETE_IN_FNO, reason="gone"), earlier, later, NOW) is None


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 21)]
    assert (nearest_rank(values, 0.5), nearest_rank(values, 0.95)) == (10.0, 19.0)
    assert nearest_rank([7.0], 0.95) == 7.0
