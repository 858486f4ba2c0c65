"""The safety valve rule (docs/spec.md §4): what counts as an accident worth holding."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync_core.engine.valve import DeletionCount, valve_reason


def _reason(links: int, fno_gone: int = 0, graph_gone: int = 0) -> str | None:
    count = DeletionCount(links=links, gone=fno_gone + graph_gone, fno_gone=fno_gone, graph_gone=graph_gone)
    return valve_reason(count, max_share=0.2, min_items=10)


def test_nothing_gone_passes() -> None:
    assert _reason(100) is None and _reason(0) is None


def test_a_side_that_lists_nothing_holds() -> None:
    assert _reason(2, fno_gone=2) == "F&O no longer lists any of the 2 linked items of this mailbox"
    assert _reason(40, graph_gone=40) == "Exchange no longer lists any of the 40 linked items of this mailbox"
    assert _reason(1, graph_gone=1) is None  # one lonely link going is an ordinary deletion


def test_share_and_minimum_together() -> None:
    assert _reason(100, graph_gone=21) == (
        "21 of 100 linked items would be deleted or unlinked at once (more than 20%)"
    )
    assert _reason(100, graph_gone=20) is None  # exactly 20 % is not more than 20 %
    assert _reason(100, graph_gone=9, fno_gone=9) is None  # 18 is not more than 20 %
    assert _reason(30, fno_gone=9) is None  # 30 % but fewer than 10 items
    assert _reason(30, fno_gone=10) is not None


@given(
    links=st.integers(0, 500),
    fno=st.integers(0, 500),
    graph=st.integers(0, 500),
    share=st.floats(0.01, 1.0),
    minimum=st.integers(1, 50),
)
def test_rule_properties(links: int, fno: int, graph: int, share: float, minimum: int) -> None:
    fno, graph = min(fno, links), min(graph, links - min(fno, links))
    gone = fno + graph
    reason = valve_reason(DeletionCount(links, gone, fno, graph), max_share=share, min_items=minimum)
    if gone == 0:
        assert reason is None
    if gone < minimum and not (links >= 2 and (fno == links or graph == links)):
        assert reason is None  # small deletions never wait for an operator
    if gone >= minimum and gone > share * links:
        assert reason is not None  # big ones always do
