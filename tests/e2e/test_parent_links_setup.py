"""The parent-link entity is not standard F&O (docs/admin-guide.md, Prerequisites): without it, or with one of another
shape, everything else syncs, attendees and associations are skipped, and each cycle reports one
configuration warning; with it, attendees sync as before. A missing standard entity stops at start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.sample_data import COMPANY
from sync_core import cli
from sync_core.app import PARENT_LINKS_WARNING
from sync_core.runtime.report import CycleReport
from tests.e2e.harness import Tenant, sample_tenant

LINKS = "ActivityParentLinks"


@pytest.fixture
def baseline(tmp_path: Path) -> Iterator[Tenant]:
    with sample_tenant(tmp_path / "baseline") as value:
        yield value


def _writes(report: CycleReport) -> dict[str, Any]:
    """Writes per kind and direction ("unchanged" depends on which feed reported a pair first)."""
    return {
        kind: {d: {a: n for a, n in v.items() if a != "unchanged"} for d, v in per.items()}
        for kind, per in report.counts.items()
    }


def _link_requests(tenant: Tenant) -> list[dict[str, Any]]:
    return [r for r in tenant.fno.request_log if LINKS in r["path"]]


def _event(tenant: Tenant, mailbox: str, event_id: str) -> dict[str, Any]:
    event = tenant.graph.get_event(mailbox, event_id)
    assert event is not None
    return event


def _attendees(event: dict[str, Any]) -> list[str]:
    return sorted(a["emailAddress"]["address"] for a in event.get("attendees") or [])


def _only_the_links_warning(report: CycleReport, problem: str) -> None:
    assert report.failures == [] and report.planning_problems == []
    [warning] = report.warnings
    assert warning.code == PARENT_LINKS_WARNING
    assert LINKS in warning.message and problem in warning.message


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        (None, "not published"),
        (("dataAreaId", "ActivityNumber", "ParentType"), "key is (dataAreaId, ActivityNumber, ParentType)"),
    ],
    ids=["unpublished", "wrong-key"],
)
def test_without_a_usable_parent_link_entity_everything_else_syncs(
    tenant: Tenant, baseline: Tenant, keys: tuple[str, ...] | None, problem: str
) -> None:
    if keys is None:
        tenant.fno.publish_parent_links(None)
    else:
        tenant.fno.publish_parent_links(LINKS, keys)

    first, expected = tenant.cycle(), baseline.cycle()
    _only_the_links_warning(first, problem)
    assert _writes(first) == _writes(expected)  # every kind synced as much as with the entity
    assert expected.warnings == []
    assert _link_requests(tenant) == []
    # Attendees stay in Outlook: a meeting marked there was created in F&O and keeps its attendees.
    demo = _attendees(_event(tenant, "carol@contoso.com", tenant.handles["demo"]))
    assert demo == ["hello@tailspin.com", "jane.o'brien@fabrikam.com"]

    for _ in range(2):  # once per cycle, also when nothing else happens; the echo and idle cycles
        tenant.advance(minutes=5)
        mark = tenant.mark_logs()
        again = tenant.cycle()
        _only_the_links_warning(again, problem)
    assert tenant.writes_since(mark) == []
    assert _attendees(_event(tenant, "carol@contoso.com", tenant.handles["demo"])) == demo
    assert _link_requests(tenant) == []


def test_an_f_and_o_edit_keeps_outlook_attendees_when_links_are_skipped(tenant: Tenant) -> None:
    tenant.fno.publish_parent_links(None)
    tenant.settle()
    [number] = [
        a["ActivityNumber"] for a in tenant.appointments() if a["OutlookEntryId"] == tenant.handles["demo"]
    ]
    tenant.fno.update("Activities", {"dataAreaId": COMPANY, "ActivityNumber": number}, {"Location": "Cafe 9"})
    tenant.advance(minutes=5)
    report = tenant.cycle()
    assert report.failures == []
    demo = _event(tenant, "carol@contoso.com", tenant.handles["demo"])
    assert demo["location"]["displayName"] == "Cafe 9"
    assert _attendees(demo) == ["hello@tailspin.com", "jane.o'brien@fabrikam.com"]


def test_with_the_entity_attendees_become_parent_links(tenant: Tenant) -> None:
    report = tenant.cycle()
    assert report.warnings == [] and report.failures == []
    [number] = [
        a["ActivityNumber"] for a in tenant.appointments() if a["OutlookEntryId"] == tenant.handles["demo"]
    ]
    assert tenant.parent_links(number) != []


def test_status_shows_the_warning_and_json_carries_it(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant.fno.publish_parent_links(None)
    report = tenant.cycle()
    summary = report.to_json(dry_run=False)
    assert [w["code"] for w in summary["warnings"]] == [PARENT_LINKS_WARNING]
    assert "WARNING: F&O entity ActivityParentLinks" in cli.format_report(report, dry_run=False)
    _env(tenant, monkeypatch)
    assert cli.main(["status"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "WARNING (checked" in out and "ActivityParentLinks (SYNC_PARENT_LINKS_COLLECTION)" in out


def test_status_says_the_entities_are_as_required(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(tenant, monkeypatch)
    assert cli.main(["status"]) == cli.EXIT_OK
    assert "F&O entities: not checked yet" in capsys.readouterr().out
    tenant.cycle()
    assert cli.main(["status"]) == cli.EXIT_OK
    assert "F&O entities: as required" in capsys.readouterr().out


def test_a_missing_standard_entity_stops_at_start_with_a_clear_message(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    del tenant.fno.entities["Workers"]
    _env(tenant, monkeypatch)
    assert cli.main(["run", "--once"]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "configuration error: F&O entity Workers (mailbox owners): not published" in err
    assert "Traceback" not in err
    assert [r for r in tenant.fno.request_log if r["path"] != "/data/$metadata"] == []
    assert tenant.graph.request_log == []


def _env(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in tenant.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tenant.settings().state_dir.parent)  # no local.settings.json here
