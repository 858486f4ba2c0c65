"""A configuration warning (no usable F&O parent-link entity) reaches telemetry once per cycle, as a span
event on "sync plan" carrying the warning's code and no free text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_core.app import PARENT_LINKS_WARNING
from sync_core.telemetry import names
from tests.e2e.harness import Tenant, sample_tenant
from tests.telemetry.conftest import Captured


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as value:
        yield value


def _warning_events(otel: Captured) -> list[dict[str, object]]:
    return [
        dict(event.attributes or {})
        for span in otel.spans(names.SPAN_PLAN)
        for event in span.events
        if event.name == names.EVENT_CONFIG_WARNING
    ]


def test_one_warning_event_per_cycle(tenant: Tenant, otel: Captured) -> None:
    tenant.fno.publish_parent_links(None)
    for _ in range(2):
        tenant.cycle()
        tenant.advance(minutes=5)
    assert _warning_events(otel) == [{names.WARNING: PARENT_LINKS_WARNING}] * 2
    assert len(otel.spans(names.SPAN_PLAN)) == 2


def test_no_warning_event_when_the_entity_is_published(tenant: Tenant, otel: Captured) -> None:
    tenant.cycle()
    assert _warning_events(otel) == []
