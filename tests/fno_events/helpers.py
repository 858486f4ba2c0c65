"""Running the receiver against the sample tenant: events emitted by the F&O stand-in, handed to
sync_core.fno_events.receiver on a context with in-memory queues, and the queued messages read back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from simulators.fno.events import DataEvents
from sync_core.app import open_context
from sync_core.fno_events.receiver import Outcome, receive_many
from sync_core.pipeline.handlers import handle_message
from sync_core.runtime.messages import AnyMessage, decode
from sync_core.runtime.queues import InProcessQueues
from tests.e2e.harness import Tenant

ALICE = "alice@contoso.com"


def emitted(tenant: Tenant, events: DataEvents, bodies: list[bytes], edit: Any) -> list[bytes]:
    """Run `edit()` (an F&O change) and return the event bodies it emitted."""
    mark = len(bodies)
    edit()
    events.drain()
    return bodies[mark:]


async def _receive(
    tenant: Tenant, bodies: list[bytes], *, run: bool
) -> tuple[list[Outcome], dict[str, list[AnyMessage]]]:
    settings = tenant.settings()
    queues = InProcessQueues()
    queued: dict[str, list[AnyMessage]] = {settings.scan_queue: [], settings.item_queue: []}
    async with open_context(settings, queues, clock=lambda: tenant.now) as ctx:
        outcomes = await receive_many(ctx, bodies)  # one batch, as the trigger hands them over
        while True:  # what the queue functions would do next (scans first, as the host's runner)
            worked = False
            for name in (settings.scan_queue, settings.item_queue):
                for text, count in queues.take(name, 100):
                    worked = True
                    queued[name].append(decode(text))
                    if run:
                        await handle_message(ctx, text, count)
            if not worked or not run:
                break
    return outcomes, queued


def receive_bodies(
    tenant: Tenant, bodies: list[bytes], *, run: bool = False
) -> tuple[list[Outcome], dict[str, list[AnyMessage]]]:
    return asyncio.run(_receive(tenant, bodies, run=run))


def body_of(**changes: Any) -> bytes:
    """A data event body of the documented shape (docs/fno-events.md), changed where asked."""
    document: dict[str, Any] = {
        "MessageName": "OnExternalUpdated",
        "PrimaryEntityName": "mserp_smmactivityentity",
        "InputParameters": [
            {
                "key": "Target",
                "value": {
                    "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                    "Attributes": [
                        {"key": "mserp_dataareaid", "value": "usmf"},
                        {"key": "mserp_activitynumber", "value": "ACT-000001"},
                    ],
                    "LogicalName": "mserp_smmactivityentity",
                },
            }
        ],
    }
    document.update(changes)
    return json.dumps(document).encode()
