"""Scenario 3: the engine's own cost. CPU per pair for mapping, hashing and deciding (no I/O), and peak
memory while one mailbox with many items is scanned (pages must be streamed, not collected)."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.tenant import CATEGORY, NOW, Shape, bench_tenant, mailbox_address
from sync_core import app as app_module
from sync_core.engine.decide import decide
from sync_core.engine.rules import appointment_deletion_rule
from sync_core.engine.types import Policy, SideView
from sync_core.kinds.appointment import appointment_kind
from sync_core.model.appointment import appointment_from_activity, appointment_from_event, to_record
from sync_core.pipeline.plan import refresh_registry
from sync_core.pipeline.scan import scan_mailbox
from sync_core.runtime.messages import ScanMailbox
from sync_core.runtime.queues import AnyMessage
from sync_core.settings import load_settings

ZONE = "W. Europe Standard Time"


def _activity(n: int, start: datetime) -> dict[str, Any]:
    return {
        "dataAreaId": "usmf",
        "ActivityNumber": f"ACT-{n:06d}",
        "Category": "Appointment",
        "Purpose": f"Visit {n}",
        "OutlookText": "Agenda: numbers, next steps.\n" * 4,
        "StartDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EndDateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "AllDay": "No",
        "KeepSynchronized": "Yes",
        "ShowTimeAs": "Busy",
        "Priority": "Normal",
        "Sensitivity": "Normal",
        "Location": "Room 4",
        "LastDateTimeEdited": "2026-03-20T09:30:00Z",
    }


def _event(n: int, start: datetime, subject: str) -> dict[str, Any]:
    def when(value: datetime) -> dict[str, str]:
        return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}

    return {
        "id": f"AAMk{n:08d}",
        "subject": subject,
        "body": {"contentType": "text", "content": "Agenda: numbers, next steps.\n" * 4},
        "start": when(start),
        "end": when(start + timedelta(hours=1)),
        "isAllDay": False,
        "showAs": "busy",
        "sensitivity": "normal",
        "importance": "normal",
        "location": {"displayName": "Room 4"},
        "categories": [CATEGORY],
        "type": "singleInstance",
        "isOrganizer": True,
        "lastModifiedDateTime": "2026-03-20T09:31:00Z",
    }


def decide_cost(links: int) -> dict[str, Any]:
    """Per pair: map both sides to canonical records, hash, decide; a third unchanged, a third changed on
    one side, a third on both (a field-by-field merge with a conflict)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Berlin")
    base = NOW.astimezone(UTC)
    inputs = []
    for n in range(links):
        start = base + timedelta(days=1 + n % 300, hours=n % 9)
        activity = _activity(n, start)
        snapshot = to_record(
            appointment_from_activity(activity, attendee_emails=[], sync_category=CATEGORY, time_zone=zone)
        )
        subject = f"Visit {n}" if n % 3 == 0 else f"Visit {n} (moved)"
        if n % 3 == 2:
            activity = {**activity, "Purpose": f"Visit {n} (F&O)"}
        inputs.append((snapshot, activity, _event(n, start, subject)))
    kind = appointment_kind()
    now = NOW
    started = time.process_time()
    actions: dict[str, int] = {}
    for snapshot, activity, event in inputs:
        fno = to_record(
            appointment_from_activity(activity, attendee_emails=[], sync_category=CATEGORY, time_zone=zone)
        )
        graph = to_record(appointment_from_event(event, sync_category=CATEGORY, time_zone=zone))
        decision = decide(
            snapshot=snapshot,
            fno=SideView(True, True, fno, now - timedelta(hours=1)),
            graph=SideView(True, True, graph, now),
            policy=Policy.NEWEST,
            deletion_rule=appointment_deletion_rule,
            now=now,
            groups=kind.rules.merge_groups,
        )
        kind.mapping.content_hash(decision.snapshot or snapshot)
        actions[decision.action.value] = actions.get(decision.action.value, 0) + 1
    cpu = time.process_time() - started
    return {
        "links": links,
        "cpu_seconds": round(cpu, 2),
        "ms_per_item": round(cpu * 1000 / links, 4),
        "actions": actions,
    }


class _Sink:
    """A queue that sends messages away (as Azure's does) instead of keeping them."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, queue: str, messages: Sequence[AnyMessage]) -> None:
        self.sent += len(messages)

    async def close(self) -> None:
        return None


def scan_memory(state_dir: Path, items: int) -> dict[str, Any]:
    shape = Shape(mailboxes=1, appointments=0, tasks=0, contacts=0, shared_contacts=0)
    with bench_tenant(state_dir, shape, page_size=100) as tenant:
        mailbox = mailbox_address(0)
        day = NOW.replace(hour=0, minute=0, second=0)
        for n in range(items):
            start = day + timedelta(days=n % 360, hours=n % 12, minutes=n % 4 * 15)
            event = _event(n, start, f"Meeting {n}")
            for read_only in ("id", "type", "isOrganizer", "lastModifiedDateTime"):
                event.pop(read_only)
            tenant.graph.add_event(mailbox, event)
        return asyncio.run(_scan(tenant.environ, tenant.now, items))


async def _scan(environ: dict[str, str], now: datetime, items: int) -> dict[str, Any]:
    settings = load_settings({**environ, "SYNC_SHARED_LISTS": ""}, local_settings=None)
    sink = _Sink()
    async with app_module.open_context(settings, sink, clock=lambda: now) as ctx:
        await refresh_registry(ctx)
        tracemalloc.start()  # after seeding: only what the scan itself holds counts
        started = time.perf_counter()
        await scan_mailbox(ctx, ScanMailbox(kind="appointment", mailbox=mailbox_address(0), cycle_id="bench"))
        elapsed = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "items": items,
        "pair_messages": sink.sent,
        "seconds": round(elapsed, 1),
        "peak_mb": round(peak / 2**20, 1),
    }
