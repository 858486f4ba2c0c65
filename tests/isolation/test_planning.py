"""One error while planning never stops the cycle nor its JSON summary.

A gateway in front of F&O answers the `Workers` read with a 502 HTML page: once (retried, nothing to see),
or for a whole cycle (that step is reported, the mailboxes already known are still synced, the one never
resolved is skipped with the reason, the command prints its JSON summary and exits 1); the next cycle
recovers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.sample_data import CATEGORY, COMPANY
from sync_core import cli
from sync_core.app import open_store
from sync_core.d365 import client as fno_client
from sync_core.pipeline import plan
from sync_core.runtime.keys import stamp_of
from tests.e2e.harness import Tenant
from tests.isolation.faults import FaultLayer, faulty_tenant

NEW_MAILBOX = "erin@contoso.com"  # in scope, never resolved: no Graph user, no worker


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Tenant, FaultLayer]]:
    """The sample tenant on the real clock (the command line runs on it), F&O behind a fault layer."""
    with faulty_tenant(tmp_path, monkeypatch, now=datetime.now(UTC)) as (tenant, _graph, fno):
        for name, value in tenant.environ.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tenant.settings().state_dir.parent)  # no local.settings.json here
        # Short waits: the client's backoff and the planner's retries are what is tested, not their length.
        monkeypatch.setattr(fno_client, "backoff", lambda attempt: 0.01)
        monkeypatch.setattr(plan, "RETRY_DELAYS", (0.01, 0.01))
        yield tenant, fno


def _workers(method: str, path: str) -> bool:
    return method == "GET" and path.endswith("/Workers")


def _run(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = cli.main(["run", "--once", "--json"])
    return code, json.loads(capsys.readouterr().out)


def _age_registry(tenant: Tenant, hours: int) -> None:
    """As if the registry was last checked `hours` ago: the next plan looks the workers up again."""

    async def age() -> None:
        store = open_store(tenant.settings())
        try:
            for record in await store.list_mailboxes():
                if record.checked_at is not None:
                    older = record.checked_at - timedelta(hours=hours)
                    await store.upsert_mailbox(record.model_copy(update={"checked_at": older}))
        finally:
            await store.close()

    asyncio.run(age())


def _new_marked_event(tenant: Tenant, mailbox: str, subject: str) -> str:
    start = (tenant.now + timedelta(days=3)).replace(hour=14, minute=0, second=0, microsecond=0)
    stamp = "%Y-%m-%dT%H:%M:%S.0000000"
    event = tenant.graph.add_event(
        mailbox,
        {
            "subject": subject,
            "start": {"dateTime": start.strftime(stamp), "timeZone": "UTC"},
            "end": {"dateTime": (start + timedelta(hours=1)).strftime(stamp), "timeZone": "UTC"},
            "categories": [CATEGORY],
        },
    )
    return str(event["id"])


def test_one_502_on_the_workers_read_is_retried(
    live: tuple[Tenant, FaultLayer], capsys: pytest.CaptureFixture[str]
) -> None:
    _tenant, fno = live
    fno.fail = lambda method, path: _workers(method, path) and not fno.failed
    code, report = _run(capsys)
    assert fno.failed == ["/data/Workers"]  # one 502 page, then the read went through
    assert code == cli.EXIT_OK, report
    assert report["planningProblems"] == [] and report["failures"] == []
    assert report["counts"]["appointment"]["to_exchange"]["created"] == 5
    assert report["counts"]["appointment"]["to_fno"]["created"] == 2


def test_a_failing_workers_read_leaves_the_rest_of_the_cycle(
    live: tuple[Tenant, FaultLayer], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant, fno = live
    assert _run(capsys)[0] == cli.EXIT_OK  # the first sync: alice, bob and carol resolved
    # A day later (workers are looked up again), with a new mailbox in scope and changes on both sides.
    _age_registry(tenant, hours=25)
    monkeypatch.setenv("SYNC_MAILBOXES", tenant.environ["SYNC_MAILBOXES"] + f",{NEW_MAILBOX}")
    # The stand-ins stamp edits with the tenant's clock, in whole seconds: a later second than the first
    # run's writes, or the edit would carry the version the link already holds.
    tenant.now = max(datetime.now(UTC), tenant.now + timedelta(seconds=1))
    review = tenant.handles["review"]
    tenant.fno.update("Activities", {"dataAreaId": COMPANY, "ActivityNumber": review}, {"Location": "Room 9"})
    _new_marked_event(tenant, "carol@contoso.com", "Planning review")

    fno.fail = _workers  # every attempt of this cycle answers the 502 page
    code, report = _run(capsys)

    assert code == cli.EXIT_ITEM_FAILED  # something failed, and the summary says what
    assert len(fno.failed) >= 2  # the client tried again before the step was given up
    [problem] = report["planningProblems"]
    assert (problem["step"], problem["service"], problem["mailbox"]) == ("worker lookup", "F&O", None)
    assert (
        "502" in problem["reason"] and "127.0.0.1" not in problem["reason"] and "<" not in problem["reason"]
    )
    # The mailboxes known before were synced as usual: both changes went through.
    assert report["failures"] == []
    assert report["counts"]["appointment"]["to_exchange"]["updated"] == 1
    assert report["counts"]["appointment"]["to_fno"]["created"] == 1
    events = [e for e in tenant.graph.events("alice@contoso.com") if stamp_of(e) == f"{COMPANY}|{review}"]
    assert [e["location"]["displayName"] for e in events] == ["Room 9"]
    # The mailboxes never resolved are skipped, saying why.
    skipped = {s["mailbox"]: s["reason"] for s in report["skippedMailboxes"]}
    assert set(skipped) == {"dave@contoso.com", NEW_MAILBOX}
    assert all("worker lookup failed" in reason for reason in skipped.values())

    # The next cycle, F&O answering again, recovers: the workers are read, nothing is left over.
    fno.fail = None
    code, report = _run(capsys)
    assert code == cli.EXIT_OK, report
    assert report["planningProblems"] == [] and report["failures"] == []
    skipped = {s["mailbox"]: s["reason"] for s in report["skippedMailboxes"]}
    assert skipped["dave@contoso.com"] == "no F&O worker has this address as PrimaryContactEmail"
    assert skipped[NEW_MAILBOX] == "no F&O worker has this address as PrimaryContactEmail"


def test_the_text_report_names_the_failed_step(
    live: tuple[Tenant, FaultLayer], capsys: pytest.CaptureFixture[str]
) -> None:
    _tenant, fno = live
    fno.fail = _workers
    assert cli.main(["run", "--once"]) == cli.EXIT_ITEM_FAILED
    out = capsys.readouterr().out
    assert "PLANNING FAILED worker lookup, F&O: F&O answered 502" in out
    assert "Sync cycle finished." in out
