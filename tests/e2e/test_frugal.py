"""Cycles cost no more calls than the changes need: an echo of our own write and an idle F&O feed are
not synced again (benchmark issue; bench/ measures the figures)."""

from __future__ import annotations

from datetime import UTC, datetime

from simulators.sample_data import COMPANY
from sync_core.runtime.keys import feed_watermark
from tests.e2e.harness import Tenant


def _single_reads(tenant: Tenant, mark: tuple[int, int]) -> list[str]:
    """Requests that read or write one item (a pair job's work), not feeds."""
    graph = [r["path"] for r in tenant.graph.request_log[mark[0] :] if "/events/" in r["path"]]
    fno = [r["path"] for r in tenant.fno.request_log[mark[1] :] if r["path"].startswith("/data/Activities(")]
    return graph + fno


def test_the_echo_of_a_propagated_change_is_not_synced_again(tenant: Tenant) -> None:
    tenant.cycle()
    tenant.advance(minutes=5)
    tenant.cycle()  # the echo of the first sync's writes
    tenant.advance(minutes=5)
    key = {"dataAreaId": COMPANY, "ActivityNumber": tenant.handles["review"]}
    tenant.fno.update("Activities", key, {"Purpose": "Quarterly review (moved)"})
    mark = tenant.mark_logs()
    report = tenant.cycle()
    assert report.counts["appointment"]["to_exchange"]["updated"] == 1
    assert _single_reads(tenant, mark)  # the change itself is read and written
    tenant.advance(minutes=5)
    mark = tenant.mark_logs()
    report = tenant.cycle()
    # The event's delta entry carries the changeKey our PATCH produced, and the activity's edit stamp is
    # the one the pair job read: neither side is loaded again.
    assert _single_reads(tenant, mark) == []
    assert report.failures == []


def test_an_idle_feed_stops_rereading_old_edits(tenant: Tenant) -> None:
    tenant.cycle()
    for _ in range(3):
        tenant.advance(minutes=5)
        tenant.cycle()
    mark = tenant.mark_logs()
    tenant.advance(minutes=5)
    tenant.cycle()
    assert _single_reads(tenant, mark) == []


def test_feed_watermark_floor() -> None:
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    old = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
    recent = datetime(2026, 3, 20, 11, 59, 30, tzinfo=UTC)
    # `now`: when the read began; the next read starts the overlap behind the watermark.
    assert feed_watermark(old, now, 120) == now
    assert feed_watermark(None, now, 120) == now
    later = datetime(2026, 3, 20, 12, 1, tzinfo=UTC)
    assert feed_watermark(later, now, 120) == later  # a newer stamp (a fast server clock) wins
    far = datetime(2027, 1, 1, tzinfo=UTC)
    assert feed_watermark(far, now, 120) == datetime(2026, 3, 20, 12, 2, tzinfo=UTC)  # not beyond the overlap
    assert feed_watermark(later, now, 120, held=recent) == recent  # a row paged past holds it
