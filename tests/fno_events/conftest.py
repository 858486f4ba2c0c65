from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.fno.events import DataEvents
from tests.e2e.harness import Tenant, sample_tenant


@pytest.fixture
def settled(tmp_path: Path) -> Iterator[tuple[Tenant, DataEvents, list[bytes]]]:
    """The sample tenant after its first sync, with data events on in the stand-in and the product."""
    with sample_tenant(tmp_path) as tenant:
        tenant.extra_env = {"SYNC_FNO_EVENTS": "true"}
        tenant.settle()
        bodies: list[bytes] = []
        events = DataEvents(bodies.append).attach(tenant.fno)
        try:
            yield tenant, events, bodies
        finally:
            events.close()
