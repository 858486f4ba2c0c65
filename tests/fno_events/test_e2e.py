"""End to end through the Functions and Azurite: an F&O edit in the stand-in -> its data event -> the Service
Bus function (fno_data_events, handed the message as the host would) -> a pair message -> Outlook, with no
timer cycle and no F&O feed read. Delivered twice, as at-least-once delivery may."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import pytest

from simulators.fno.events import DataEvents
from simulators.sample_data import COMPANY
from tests.e2e.harness import Tenant
from tests.e2e.test_functions import _USER_FUNCTIONS, _drain, _full_cycle, functions_tenant
from tests.fno_events.helpers import ALICE
from tests.instance_run import run as run_functions

pytestmark = pytest.mark.azurite


@pytest.fixture
def azure_tenant(
    tmp_path: Path, azurite_connection_string: str, unique_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tenant]:
    extra = {"SYNC_FNO_EVENTS": "true"}
    with functions_tenant(tmp_path, azurite_connection_string, unique_prefix, monkeypatch, extra) as tenant:
        yield tenant


async def _deliver(bodies: list[bytes]) -> None:
    """As the Functions host hands a batch of Service Bus messages to the trigger (cardinality many)."""
    await _USER_FUNCTIONS["fno_data_events"]([func.ServiceBusMessage(body=body) for body in bodies])


def test_an_fno_edit_reaches_outlook_through_its_data_event_without_a_feed_read(azure_tenant: Tenant) -> None:
    tenant = azure_tenant
    run_functions(_full_cycle(tenant))
    bodies: list[bytes] = []
    events = DataEvents(bodies.append, duplicate_every=1).attach(tenant.fno)  # every event twice
    try:
        number = tenant.handles["review"]
        key = {"dataAreaId": COMPANY, "ActivityNumber": number}
        tenant.fno.update("Activities", key, {"Purpose": "Moved by a data event"})
        events.drain()
    finally:
        events.close()
    assert len(bodies) == 2
    fno_mark, graph_mark = len(tenant.fno.request_log), len(tenant.graph.request_log)

    asyncio.run(_deliver(bodies))  # both copies in one batch: one read, one pair
    asyncio.run(_deliver(bodies[:1]))  # and a late copy in a batch of its own
    settings = tenant.settings()
    assert run_functions(_drain(tenant, settings.scan_queue, "scan")) == 0  # no scan: straight to the pair
    assert run_functions(_drain(tenant, settings.item_queue, "sync_item")) == 2

    subjects = [e.get("subject") for e in tenant.graph.events(ALICE)]
    assert "Moved by a data event" in subjects
    fno_calls = [(r["method"], r["path"], r["query"]) for r in tenant.fno.request_log[fno_mark:]]
    assert all("LastDateTimeEdited" not in query for _, _, query in fno_calls)  # no feed read
    reads = [(method, path) for method, path, _ in fno_calls if path.startswith("/data/Activities")]
    # One query per batch, and the first pair job's read: its link was synced less than 30 s before the
    # event's row was read (docs/architecture.md: a carried item is used only when the link is older).
    assert sorted(reads) == [
        ("GET", "/data/Activities"),
        ("GET", "/data/Activities"),
        ("GET", f"/data/Activities(dataAreaId='{COMPANY}',ActivityNumber='{number}')"),
    ]
    graph_writes = [r for r in tenant.graph.request_log[graph_mark:] if r["method"] == "PATCH"]
    assert len(graph_writes) == 1  # the duplicate finds the pair as the first left it
