"""Taking over from a predecessor's Outlook sync: a tenant half-synced by the AX 2012
client (hex MAPI entry ids) and by an EWS add-on (EWS ids) is adopted by translating the ids, before the
first-run match by subject and start; nothing is created twice and no invitation goes out again."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from simulators.sample_data import CATEGORY
from sync_core import cli
from sync_core.cli_migrate import migrate
from sync_core.pipeline.migrate import MailboxMigration, format_text
from tests.e2e.deletion_helpers import add_activity, add_event, appt_tenant, links, update_activity
from tests.e2e.harness import Tenant

__all__ = ["appt_tenant"]

BOB = "bob@contoso.com"
PREDECESSOR = "Dynamics AX"
ATTENDEE = {"type": "required", "emailAddress": {"address": "ken.sato@litware.com", "name": "Ken Sato"}}


def _half_synced(tenant: Tenant) -> dict[str, str]:
    """Bob's calendar and activities as a predecessor left them. Returns activity numbers by role."""
    day = tenant.now.replace(hour=0, minute=0, second=0, microsecond=0)
    made: dict[str, str] = {}

    def pair(role: str, subject: str, days: int, form: str | None, **event: Any) -> None:
        start = day + timedelta(days=days, hours=19)
        created = add_event(tenant, BOB, subject, start, **{"categories": [], **event})
        entry = tenant.graph.exchange_ids(BOB, created["id"])[form] if form else None
        made[role] = add_activity(tenant, BOB, subject, start, **({"OutlookEntryId": entry} if entry else {}))
        made[role + ":event"] = created["id"]

    # AX 2012: the entry id as hex; a meeting whose attendees got their invitation long ago. F&O's copy
    # lags behind Outlook's location: Outlook wins at adoption, nothing is written to the meeting.
    pair("mapi", "Contract talk", 3, "entryIdHex", categories=[PREDECESSOR, "Customer"], attendees=[ATTENDEE])
    update_activity(tenant, made["mapi"], {"Location": "Room 2"})
    tenant.graph.update_event(BOB, made["mapi:event"], {"location": {"displayName": "Room 1"}})
    pair("ews", "Budget review", 4, "ewsId", categories=[PREDECESSOR])  # the EWS add-on
    # Renamed in Outlook after the predecessor's last run: only the id can find this pair.
    tenant.graph.update_event(BOB, made["ews:event"], {"subject": "Budget review 2026"})
    pair("rest", "Follow-up", 5, "restId")  # a Graph-based tool without immutable ids
    pair("strict", "Site walk", 6, None)  # no id: the first-run match by subject and start
    pair("deleted", "Old call", 7, "entryIdHex")
    tenant.graph.delete_event(BOB, made["deleted:event"])
    start = day + timedelta(days=8, hours=19)
    made["garbage"] = add_activity(tenant, BOB, "Garbage", start, OutlookEntryId="not an id!")
    made["pricing"] = tenant.handles["pricing"]  # the sample's own activity: no id, no event
    return made


def _bobs_activities(tenant: Tenant) -> set[str]:
    return {
        a["ActivityNumber"]
        for a in tenant.appointments()
        if a["ResponsibleWorkerPersonnelNumber"] == "000102"
    }


def _bobs_meeting_messages(tenant: Tenant) -> int:
    return len([m for m in tenant.graph.sent_meeting_messages if m["mailbox"] == BOB])


def _writes(tenant: Tenant, mark: tuple[int, int]) -> list[dict[str, Any]]:
    """Writes since `mark`; a translation is a POST that changes nothing."""
    return [w for w in tenant.writes_since(mark) if not w["path"].endswith("/translateExchangeIds")]


def _migrate(tenant: Tenant, *, dry_run: bool, **env: str) -> list[MailboxMigration]:
    plans = asyncio.run(migrate(tenant.settings(**env), dry_run=dry_run, clock=lambda: tenant.now))
    assert plans is not None
    return plans


def _bob(plans: list[MailboxMigration]) -> dict[str, Any]:
    return next(p.to_json() for p in plans if p.mailbox == BOB)


def _outcomes(report: dict[str, Any], made: dict[str, str]) -> dict[str, tuple[str, str]]:
    by_key = {a["activity"]: (a["outcome"], a["reason"]) for a in report["activities"]}
    return {role: by_key[f"usmf|{number}"] for role, number in made.items() if ":" not in role}


def test_dry_run_reports_each_activity_and_writes_nothing(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    made = _half_synced(tenant)
    mark = tenant.mark_logs()
    plans = _migrate(tenant, dry_run=True)
    assert _writes(tenant, mark) == []
    report = _bob(plans)
    assert _outcomes(report, made) == {
        "mapi": ("translated", "translated"),
        "ews": ("translated", "translated"),
        "rest": ("translated", "translated"),
        "strict": ("strict-key", "strict-key"),
        "deleted": ("not-linked", "item-deleted"),
        "garbage": ("not-linked", "id-unreadable"),
        "pricing": ("not-linked", "no-id"),
    }
    assert (report["byTranslatedId"], report["byStrictKey"], report["notLinked"]) == (3, 1, 3)
    assert report["notLinkedWhy"] == {"id-unreadable": 1, "item-deleted": 1, "no-id": 1}
    assert report["linkedAlready"] == 0
    text = format_text(plans, dry_run=True, started=tenant.now)
    assert "3  would be linked by translated Outlook id" in text
    assert "Contract talk" not in text  # ids and counts only
    # One translation call per id format; the garbage is never sent (neither hex nor base64).
    calls = [r for r in tenant.graph.request_log[mark[0] :] if r["path"].endswith("/translateExchangeIds")]
    assert {r["mailbox"] for r in calls} <= {BOB, "alice@contoso.com", "carol@contoso.com"}
    assert len([r for r in calls if r["mailbox"] == BOB]) == 3  # entryId, ewsId, then restId for the rest


def test_migrate_adopts_without_duplicates_or_invitations(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    made = _half_synced(tenant)
    env = {"SYNC_MIGRATE_CATEGORIES": "map", "SYNC_MIGRATE_CATEGORY_MAP": json.dumps({PREDECESSOR: CATEGORY})}
    tenant.extra_env.update(env)  # the command and every cycle
    invitations = _bobs_meeting_messages(tenant)
    meeting_before = tenant.graph.get_event(BOB, made["mapi:event"]) or {}
    events_before = {e["id"] for e in tenant.graph.events(BOB)}
    activities_before = _bobs_activities(tenant)

    plans = _migrate(tenant, dry_run=False, **env)
    assert _bob(plans)["adopted"] == 3 and _bob(plans)["failed"] == []
    by_fno = {link.fno_key: link.graph_id for link in links(tenant) if link.mailbox == BOB}
    for role in ("mapi", "ews", "rest"):
        assert by_fno[f"usmf|{made[role]}"] == made[role + ":event"]
        assert (tenant.activity(made[role]) or {})["OutlookEntryId"] == made[role + ":event"]
    meeting = tenant.graph.get_event(BOB, made["mapi:event"]) or {}
    assert meeting["categories"] == [CATEGORY, "Customer"]  # the predecessor's category mapped to ours
    assert meeting["attendees"] == meeting_before["attendees"]
    assert meeting["location"] == meeting_before["location"]
    assert (tenant.activity(made["mapi"]) or {})["Location"] == "Room 1"  # Outlook won at adoption
    assert (tenant.graph.get_event(BOB, made["ews:event"]) or {})["categories"] == [CATEGORY]
    assert (tenant.activity(made["ews"]) or {})["Purpose"] == "Budget review 2026"
    assert (tenant.graph.get_event(BOB, made["rest:event"]) or {})["categories"] == [CATEGORY]  # marked

    tenant.cycle()  # the first cycle: the strict key links, the rest is created in Outlook
    tenant.advance(minutes=5)
    tenant.cycle()
    assert _bobs_activities(tenant) == activities_before  # nothing new in F&O
    new_events = [e for e in tenant.graph.events(BOB) if e["id"] not in events_before]
    assert sorted(e["subject"] for e in new_events) == ["Garbage", "Old call", "Pricing call with Litware"]
    by_fno = {link.fno_key: link.graph_id for link in links(tenant) if link.mailbox == BOB}
    assert by_fno[f"usmf|{made['strict']}"] == made["strict:event"]
    assert _bobs_meeting_messages(tenant) == invitations  # no invitation or update went out

    # Run twice: the second migration finds everything linked and writes nothing.
    mark = tenant.mark_logs()
    again = _bob(_migrate(tenant, dry_run=False, **env))
    assert (again["byTranslatedId"], again["byStrictKey"], again["notLinked"]) == (0, 0, 0)
    assert again["linkedAlready"] == 7
    tenant.advance(minutes=5)
    tenant.cycle()
    assert _writes(tenant, mark) == []


def test_keep_leaves_the_predecessors_categories(appt_tenant: Tenant) -> None:
    tenant = appt_tenant
    made = _half_synced(tenant)
    _migrate(tenant, dry_run=False)
    meeting = tenant.graph.get_event(BOB, made["mapi:event"]) or {}
    assert meeting["categories"] == [PREDECESSOR, "Customer", CATEGORY]  # ours added, theirs kept
    assert (tenant.activity(made["mapi"]) or {})[
        "OutlookCategories"
    ] == f"Customer;{PREDECESSOR}"  # sorted, as the product writes it


def test_the_first_cycle_adopts_by_itself(appt_tenant: Tenant) -> None:
    """No migrate command: the first scan of the mailbox translates before anything is matched or made."""
    tenant = appt_tenant
    made = _half_synced(tenant)
    invitations = _bobs_meeting_messages(tenant)
    activities_before = _bobs_activities(tenant)
    tenant.settle()
    by_fno = {link.fno_key: link.graph_id for link in links(tenant) if link.mailbox == BOB}
    for role in ("mapi", "ews", "rest", "strict"):
        assert by_fno[f"usmf|{made[role]}"] == made[role + ":event"]
    assert _bobs_activities(tenant) == activities_before
    subjects = [e["subject"] for e in tenant.graph.events(BOB)]
    assert all(
        subjects.count(s) == 1 for s in ("Contract talk", "Budget review 2026", "Follow-up", "Site walk")
    )
    assert "Budget review" not in subjects  # the activity's old subject: found by id, not made again
    assert _bobs_meeting_messages(tenant) == invitations
    mark = tenant.mark_logs()
    tenant.cycle()
    assert tenant.writes_since(mark) == []


def test_command_line(appt_tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    for name, value in {**appt_tenant.environ, "SYNC_NETWORK_RETRY_SECONDS": "0.05"}.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["migrate", "--dry-run", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["dryRun"] is True and {m["mailbox"] for m in document["mailboxes"]} >= {BOB}
    assert cli.main(["migrate", "--dry-run", "--mailbox", "nobody@contoso.com"]) == 2


def test_a_run_that_stopped_half_way_is_finished_by_the_next(appt_tenant: Tenant) -> None:
    """A crash after the activity was given the event's Graph id, before the link was saved."""
    tenant = appt_tenant
    made = _half_synced(tenant)
    update_activity(tenant, made["mapi"], {"OutlookEntryId": made["mapi:event"]})  # step 2 done, no link
    events_before = {e["id"] for e in tenant.graph.events(BOB)}
    report = _bob(_migrate(tenant, dry_run=False))
    assert report["adopted"] == 3 and report["failed"] == []
    by_fno = {link.fno_key: link.graph_id for link in links(tenant) if link.mailbox == BOB}
    assert by_fno[f"usmf|{made['mapi']}"] == made["mapi:event"]
    assert {e["id"] for e in tenant.graph.events(BOB)} == events_before
