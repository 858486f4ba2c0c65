"""`forget` against the sample tenant (every kind synced), on both state back ends: the dry run changes
nothing, the real run empties the store of one mailbox and cleans it in the Graph stand-in, and nobody
else's data is touched; `forget --all` is the uninstall's clean-up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.graph import contacts
from sync_core.forget import state
from sync_core.kinds.task_todo import APPLICATION_NAME
from sync_core.runtime.keys import STAMP_PROPERTY_ID
from sync_core.state.base import StateStore
from tests.e2e.harness import Tenant, sample_tenant
from tests.ops.helpers import ALICE, BOB, command, read

PRODUCT_CATEGORIES = {"D365 Sync", "D365 Imported", "D365 Import failed"}


@pytest.fixture(params=["sqlite", pytest.param("tables", marks=pytest.mark.azurite)])
def tenant(request: pytest.FixtureRequest, tmp_path: Path, unique_prefix: str) -> Iterator[Tenant]:
    with sample_tenant(tmp_path) as made:
        if request.param == "tables":
            made.extra_env.update(
                AzureWebJobsStorage=request.getfixturevalue("azurite_connection_string"),
                SYNC_TABLE_PREFIX=unique_prefix,
            )
        made.settle()
        yield made


def _stamped(item: dict[str, Any]) -> bool:
    return STAMP_PROPERTY_ID.lower() in str(item.get("singleValueExtendedProperties")).lower()


def _marked(item: dict[str, Any]) -> bool:
    return bool(PRODUCT_CATEGORIES & set(item.get("categories") or []))


def _ours(task: dict[str, Any]) -> bool:
    return any(r.get("applicationName") == APPLICATION_NAME for r in task.get("linkedResources") or [])


def _traces(tenant: Tenant, mailbox: str) -> dict[str, int]:
    """What of the product is in the mailbox, per collection."""
    folder = tenant.settings().contact_folder
    people = contacts.list_contacts(tenant.graph, mailbox, folder) + contacts.list_contacts(
        tenant.graph, mailbox
    )
    return {
        "events": sum(_stamped(e) or _marked(e) for e in tenant.graph.events(mailbox)),
        "messages": sum(_stamped(m) or _marked(m) for m in tenant.graph.messages(mailbox)),
        "contacts": sum(_stamped(c) or _marked(c) for c in people),
        "tasks": sum(_ours(t) or _marked(t) for t in tenant.graph.todo.tasks(mailbox)),
    }


def _snapshot(tenant: Tenant, mailbox: str) -> dict[str, int]:
    async def query(store: StateStore) -> dict[str, int]:
        return (await state.find(store, mailbox)).counts()

    return read(tenant, query)


def test_forget_dry_run_then_forget_one_mailbox(tenant: Tenant, capsys: pytest.CaptureFixture[str]) -> None:
    before, bob_before = _snapshot(tenant, ALICE), _snapshot(tenant, BOB)
    traces, bob_traces = _traces(tenant, ALICE), _traces(tenant, BOB)
    assert before["links"] and before["cursors"] and before["registry record"]
    assert traces["events"] and traces["messages"] and traces["tasks"] and traces["contacts"]
    capsys.readouterr()

    assert command(tenant, "forget", "--mailbox", ALICE, "--clean-mailbox", "--dry-run") == 0
    out = capsys.readouterr().out
    assert out.startswith("Dry run: nothing was changed.")
    assert f"  links: {before['links']}" in out and "linked item(s)" in out
    assert "still in scope (SYNC_MAILBOXES)" in out
    assert _snapshot(tenant, ALICE) == before and _traces(tenant, ALICE) == traces

    assert command(tenant, "forget", "--mailbox", ALICE, "--clean-mailbox", "--actor", "dpo-eve") == 0
    out = capsys.readouterr().out
    assert f"forgot {ALICE}" in out and "items cleaned:" in out and "left paused" in out

    # The store keeps nothing of alice but the bare paused record that keeps her out of the next cycle.
    assert _snapshot(tenant, ALICE) == {**dict.fromkeys(before, 0), "registry record": 1}
    record = read(tenant, lambda s: s.get_mailbox(ALICE))
    assert record is not None and record.paused and record.paused_by == "dpo-eve"
    assert (record.user_id, record.personnel_number, record.time_zone) == ("", "", "")
    # Her mailbox: no product category, stamp or linkedResource left; her items themselves stay.
    assert _traces(tenant, ALICE) == dict.fromkeys(traces, 0)
    assert len(tenant.graph.events(ALICE)) >= traces["events"]
    # Bob's data is as it was; the act is audited without the address.
    assert _snapshot(tenant, BOB) == bob_before and _traces(tenant, BOB) == bob_traces
    [entry] = read(tenant, lambda s: s.list_audit(action="mailbox-forgotten"))
    assert entry.mailbox == "*" and entry.detail["actor"] == "dpo-eve" and ALICE not in str(entry.detail)

    # The next cycle leaves her alone: nothing of hers comes back.
    report = tenant.cycle()
    assert "paused by an operator: dpo-eve" in report.skipped_mailboxes[ALICE]
    assert _snapshot(tenant, ALICE) == {**dict.fromkeys(before, 0), "registry record": 1}
    assert _traces(tenant, ALICE) == dict.fromkeys(traces, 0)


def test_forget_all_is_the_uninstall_clean_up(tenant: Tenant, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tenant.settings().contact_folder
    for contact in contacts.list_contacts(tenant.graph, BOB, folder):  # bob emptied the product's folder
        contacts.user_delete_contact(tenant.graph, BOB, str(contact["id"]))
    assert command(tenant, "forget", "--all", "--clean-mailbox", "--actor", "ops") == 0
    out = capsys.readouterr().out
    assert f"forgot {ALICE}" in out and f"forgot {BOB}" in out and "left paused" not in out
    assert folder in contacts.folder_names(tenant.graph, ALICE)  # hers holds contacts: kept
    assert folder not in contacts.folder_names(tenant.graph, BOB)
    assert read(tenant, lambda s: s.list_mailboxes()) == []
    for mailbox in (ALICE, BOB):
        assert not any(_snapshot(tenant, mailbox).values())
        assert not any(_traces(tenant, mailbox).values())
    # Only the record of the acts is left.
    audit = read(tenant, lambda s: s.list_audit())
    assert {e.action for e in audit} == {"mailbox-forgotten"}


def test_contacts_the_product_could_not_import_lose_their_problem_category(tmp_path: Path) -> None:
    with sample_tenant(tmp_path, contact_problems=True) as tenant:
        tenant.settle()
        folder = tenant.settings().contact_folder
        problems = {"D365 company not found", "D365 company ambiguous"}

        def flagged() -> int:
            people = contacts.list_contacts(tenant.graph, ALICE, folder)
            return sum(bool(problems & set(c.get("categories") or [])) for c in people)

        assert flagged() == 2
        assert command(tenant, "forget", "--mailbox", ALICE, "--clean-mailbox", "--actor", "ops") == 0
        assert flagged() == 0


def test_a_series_is_cleaned_on_its_master_without_making_exceptions(tmp_path: Path) -> None:
    with sample_tenant(tmp_path) as tenant:
        series = tenant.graph.add_event(
            ALICE,
            {
                "subject": "Team stand-up",
                "start": {"dateTime": "2026-03-23T09:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2026-03-23T09:30:00", "timeZone": "UTC"},
                "categories": ["D365 Sync"],
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                    "range": {"type": "numbered", "startDate": "2026-03-23", "numberOfOccurrences": 3},
                },
            },
        )
        tenant.settle()
        links = read(tenant, lambda s: s.list_links("appointment", ALICE))
        stored = {e["id"] for e in tenant.graph.events(ALICE)}  # single events and series masters
        occurrences = {link.graph_id for link in links} - stored
        assert len(occurrences) == 3 and series["id"] in {link.graph_id for link in links}
        mark = len(tenant.graph.request_log)
        assert command(tenant, "forget", "--mailbox", ALICE, "--clean-mailbox", "--actor", "ops") == 0
        patched = [r["path"] for r in tenant.graph.request_log[mark:] if r["method"] == "PATCH"]
        assert not [p for p in patched if any(p.endswith("/" + o) for o in occurrences)]  # no exceptions
        assert any(p.endswith("/" + series["id"]) for p in patched)
        [master] = [e for e in tenant.graph.events(ALICE) if e["id"] == series["id"]]
        assert not _marked(master) and not _stamped(master)
