"""`python -m sync_core doctor` against the stand-ins: a healthy tenant, and each broken configuration the
issue lists. Every failure must say where and what to do, with the right exit code, within seconds."""

from __future__ import annotations

import pytest

from tests.doctor.conftest import ALL_ROLES, Outcome, closed_port_url, jwt, run_doctor
from tests.e2e.harness import Tenant

Fixtures = tuple[Tenant, pytest.MonkeyPatch, pytest.CaptureFixture[str]]


@pytest.fixture
def doctor(tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Fixtures:
    return tenant, monkeypatch, capsys


def _run(doctor: Fixtures, *args: str, **env: str) -> Outcome:
    tenant, monkeypatch, capsys = doctor
    return run_doctor(tenant, monkeypatch, capsys, *args, **env)


def test_healthy_tenant_passes_every_check(doctor: Fixtures) -> None:
    outcome = _run(doctor)
    assert outcome.code == 0, outcome.checks("error") + outcome.checks("warning")
    assert not outcome.checks("warning") and not outcome.checks("error")
    areas = {c["area"] for c in outcome.checks()}
    assert {
        "F&O",
        "Graph",
        "mailbox alice@contoso.com",
        "shared list North (sales-north@contoso.com)",
    } <= areas
    assert outcome.find("F&O", "SYNC_COMPANY")["detail"] == "company usmf exists"
    assert outcome.find("mailbox carol@contoso.com", "worker")["verdict"] == "ok"
    for permission in ALL_ROLES:
        assert outcome.find("Graph", f"permission {permission}")["verdict"] == "ok"
    # The effective settings are printed, the token masked.
    assert outcome.document["settings"]["SYNC_STATIC_TOKEN"] == "<set, masked>"
    assert outcome.document["settings"]["SYNC_COMPANY"] == "usmf"


def test_one_mailbox_only(doctor: Fixtures) -> None:
    tenant = doctor[0]
    mark = tenant.mark_logs()
    outcome = _run(doctor, "--mailbox", "Bob@contoso.com")
    assert outcome.code == 0
    mailboxes = {c["area"] for c in outcome.checks() if c["area"].startswith("mailbox")}
    assert mailboxes == {"mailbox bob@contoso.com"}
    asked = {r["mailbox"] for r in tenant.graph.request_log[mark[0] :] if r["mailbox"]}
    assert asked == {"bob@contoso.com"}


def test_human_output_lists_each_check_and_the_next_step(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sync_core.cli import main

    for name, value in {**tenant.environ, "SYNC_MAILBOXES": "alice@contoso.com,dave@contoso.com"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tenant.environ["SYNC_STATE_DIR"].rsplit("/", 1)[0])
    assert main(["doctor"]) == 1  # dave@ has no F&O worker: a warning
    out = capsys.readouterr().out
    assert "Effective settings (secrets masked)" in out
    assert "mailbox dave@contoso.com" in out and "WARNING worker" in out
    assert "next: set the worker's primary e-mail" in out
    assert "Traceback" not in out


def test_d365_url_with_data_is_a_configuration_error(doctor: Fixtures) -> None:
    tenant = doctor[0]
    outcome = _run(doctor, D365_URL=tenant.environ["D365_URL"] + "/data")
    assert outcome.code == 2
    assert "D365_URL: must be the environment root without /data" in outcome.err
    assert "Traceback" not in outcome.err


def test_wrong_fno_token_names_the_host_and_the_registration_step(doctor: Fixtures) -> None:
    tenant = doctor[0]
    tenant.fno.token = "another-token"
    outcome = _run(doctor)
    assert outcome.code == 3
    token = outcome.find("F&O", "token")
    host = tenant.environ["D365_URL"].split("//", 1)[1]
    assert token["verdict"] == "error" and host in token["detail"] and "401" in token["detail"]
    assert "Register the identity in F&O" in token["nextStep"]


def test_unreachable_fno_is_said_within_seconds(doctor: Fixtures) -> None:
    url = closed_port_url()
    outcome = _run(doctor, D365_URL=url)
    assert outcome.code == 3
    finding = outcome.find("F&O", "reachable")
    assert url.split("//", 1)[1] in finding["detail"] and "unreachable" in finding["detail"]
    assert outcome.seconds < 10
    # Graph is still checked: the administrator learns everything in one run.
    assert outcome.find("mailbox alice@contoso.com", "calendar")["verdict"] == "ok"


def test_unreachable_graph_is_said_within_seconds(doctor: Fixtures) -> None:
    url = closed_port_url()
    outcome = _run(doctor, GRAPH_URL=f"{url}/v1.0")
    assert outcome.code == 3
    finding = outcome.find("Graph", "reachable")
    assert url.split("//", 1)[1] in finding["detail"] and "refused" not in finding["detail"].split("(")[0]
    assert outcome.seconds < 10
    assert outcome.find("F&O", "SYNC_COMPANY")["verdict"] == "ok"


def test_wrong_graph_token(doctor: Fixtures) -> None:
    tenant = doctor[0]
    tenant.graph.token = "another-token"
    outcome = _run(doctor)
    assert outcome.code == 3
    finding = outcome.find("Graph", "token")
    assert "refused the app's token (HTTP 401 InvalidAuthenticationToken)" in finding["detail"]
    assert "SYNC_AUTH" in finding["nextStep"]


def test_token_without_a_needed_permission(doctor: Fixtures) -> None:
    tenant = doctor[0]
    token = jwt(tuple(r for r in ALL_ROLES if r != "Tasks.ReadWrite.All"))
    tenant.graph.token = tenant.fno.token = token
    outcome = _run(doctor, SYNC_STATIC_TOKEN=token)
    assert outcome.code == 2
    permission = outcome.find("Graph", "permission Tasks.ReadWrite.All")
    assert permission["verdict"] == "error" and "grant-graph-permissions" in permission["nextStep"]
    todo = outcome.find("mailbox alice@contoso.com", "To Do")
    assert todo["verdict"] == "error" and "403 accessDenied" in todo["detail"]
    assert outcome.find("mailbox alice@contoso.com", "calendar")["verdict"] == "ok"


def test_exchange_permissions_may_come_from_rbac_for_applications(doctor: Fixtures) -> None:
    """A scoped installation's token lacks the four Exchange permissions; Exchange grants them per mailbox."""
    tenant = doctor[0]
    token = jwt(("User.Read.All", "Tasks.ReadWrite.All"))
    tenant.graph.token = tenant.fno.token = token
    outcome = _run(doctor, SYNC_STATIC_TOKEN=token)
    assert outcome.find("Graph", "permission Calendars.ReadWrite")["verdict"] == "ok"
    calendar = outcome.find("mailbox alice@contoso.com", "calendar")
    assert calendar["verdict"] == "error" and "403 ErrorAccessDenied" in calendar["detail"]
    assert "RBAC for Applications" in calendar["nextStep"]
    assert outcome.code == 2


def test_mailbox_that_does_not_exist(doctor: Fixtures) -> None:
    outcome = _run(doctor, SYNC_MAILBOXES="alice@contoso.com,nobody@contoso.com")
    assert outcome.code == 2
    user = outcome.find("mailbox nobody@contoso.com", "user")
    assert user["verdict"] == "error" and "no such user" in user["detail"]
    assert "SYNC_MAILBOXES" in user["nextStep"]


def test_mailbox_outside_the_exchange_scope(doctor: Fixtures) -> None:
    tenant = doctor[0]
    tenant.graph.mailbox_scope = {"alice@contoso.com", "carol@contoso.com", "sales-north@contoso.com"}
    outcome = _run(doctor)
    assert outcome.code == 2
    for check in ("time zone", "calendar", "contacts", "messages"):
        finding = outcome.find("mailbox bob@contoso.com", check)
        assert finding["verdict"] == "error" and "403 ErrorAccessDenied" in finding["detail"], finding
        assert "mail-enabled security group" in finding["nextStep"]
    assert (
        outcome.find("mailbox bob@contoso.com", "To Do")["verdict"] == "ok"
    )  # Exchange does not scope To Do
    assert outcome.find("mailbox alice@contoso.com", "calendar")["verdict"] == "ok"


def test_missing_parent_link_entity_is_a_warning(doctor: Fixtures) -> None:
    doctor[0].fno.publish_parent_links(None)
    outcome = _run(doctor)
    assert outcome.code == 1
    finding = outcome.find("F&O", "entity ActivityParentLinks")
    assert finding["verdict"] == "warning" and "not published" in finding["detail"]
    assert finding["entity"]["required"] is False


def test_missing_standard_entity_is_an_error(doctor: Fixtures) -> None:
    tenant = doctor[0]
    with tenant.fno.lock:
        del tenant.fno.entities["PartyContactsV3"]
    outcome = _run(doctor)
    assert outcome.code == 2
    finding = outcome.find("F&O", "entity PartyContactsV3")
    assert finding["verdict"] == "error" and "not published" in finding["detail"]
    assert "make this standard entity public" in finding["nextStep"]


def test_unknown_company(doctor: Fixtures) -> None:
    outcome = _run(doctor, SYNC_COMPANY="zzzz")
    assert outcome.code == 2
    finding = outcome.find("F&O", "SYNC_COMPANY")
    assert finding["verdict"] == "error" and "'zzzz'" in finding["detail"]


def test_misspelt_setting_is_a_warning_with_a_suggestion(doctor: Fixtures) -> None:
    outcome = _run(doctor, SYNC_CONFLICT_POLCY="d365")
    assert outcome.code == 1
    finding = outcome.find("settings", "SYNC_CONFLICT_POLCY")
    assert "did you mean SYNC_CONFLICT_POLICY?" in finding["detail"]


def test_shared_list_with_a_filter_f_and_o_refuses(doctor: Fixtures) -> None:
    lists = '[{"name": "North", "mailbox": "sales-north@contoso.com", "folder": "Sales North", "contactFilter": "NoSuchField eq 1"}]'
    outcome = _run(doctor, SYNC_SHARED_LISTS=lists)
    assert outcome.code == 2
    finding = outcome.find("shared list North (sales-north@contoso.com)", "contactFilter")
    assert finding["verdict"] == "error" and "SYNC_SHARED_LISTS" in finding["nextStep"]
