"""The console's actions over HTTP, each the command line's operation with the signed-in administrator as
the actor: resync, retry, reject held deletions, run the doctor (pause, resume and approve: test_browser)."""

from __future__ import annotations

import http.client
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from sync_core.pipeline.valve import VALVE_ITEM
from sync_core.runtime.keys import exchange_cursor_name
from tests.console.conftest import ADMIN, Running, off_loop
from tests.e2e.deletion_helpers import add_activity, events_by_stamp
from tests.ops.helpers import read

ALICE, BOB = "alice@contoso.com", "bob@contoso.com"


def _post(signed_in: tuple[Running, str, str], **form: str) -> tuple[int, str]:
    console, cookie, csrf = signed_in
    parts = urlsplit(console.served.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    connection.request("POST", "/action", body=urlencode({**form, "csrf": csrf}), headers=headers)
    response = connection.getresponse()
    return response.status, response.read().decode()


def _audit(console: Running, action: str) -> list[tuple[str, str, str]]:
    entries = off_loop(lambda: read(console.tenant, lambda s: s.list_audit(action=action)))
    return [(e.mailbox, e.kind, str(e.detail.get("actor"))) for e in entries]


def test_resync_and_retry(signed_in: tuple[Running, str, str]) -> None:
    console = signed_in[0]
    status, body = _post(signed_in, action="resync", mailbox=ALICE, kind="appointment")
    assert status == 200 and "nothing is created twice" in body
    cursor = off_loop(
        lambda: read(console.tenant, lambda s: s.get_cursor(exchange_cursor_name("appointment", ALICE)))
    )
    assert cursor is None
    assert _audit(console, "resync-requested") == [(ALICE, "appointment", ADMIN)]
    status, body = _post(signed_in, action="resync", mailbox=ALICE, kind="no-such-kind")
    assert status == 400 and "unknown kind" in body
    status, body = _post(signed_in, action="retry", mailbox="*")
    assert status == 200 and "sent again by the next cycle" in body
    assert _audit(console, "retry-requested") == [("*", "*", ADMIN)]
    status, body = _post(signed_in, action="pause", mailbox="nobody@contoso.com")
    assert status == 400 and "not known to the sync" in body


def test_reject_in_the_console_keeps_both_sides(signed_in: tuple[Running, str, str]) -> None:
    console = signed_in[0]
    tenant = console.tenant

    def hold() -> list[str]:
        start = tenant.now + timedelta(days=2)
        numbers = [add_activity(tenant, BOB, f"Call {i}", start + timedelta(hours=i)) for i in range(14)]
        tenant.cycle()
        tenant.advance(minutes=5)
        for number in numbers[:10]:
            [event] = events_by_stamp(tenant, BOB, number)
            tenant.graph.delete_event(BOB, event["id"])
        tenant.cycle()
        return numbers

    numbers = off_loop(hold)
    status, body = _post(signed_in, action="reject", mailbox=BOB, kind="appointment")
    assert status == 200 and f"rejected by {ADMIN}" in body and "recreate 10 item(s)" in body
    assert _audit(console, "deletions-rejected") == [(BOB, "appointment", ADMIN)]
    failures = off_loop(lambda: read(tenant, lambda s: s.list_failures()))
    assert not [f for f in failures if f.item_key == VALVE_ITEM]

    def cycles() -> None:
        for _ in range(2):
            tenant.advance(minutes=5)
            tenant.cycle()

    off_loop(cycles)
    assert all(len(events_by_stamp(tenant, BOB, n)) == 1 for n in numbers)  # each event back, once
    status, body = _post(signed_in, action="reject", mailbox=BOB, kind="appointment")
    assert status == 200 and "nothing is held" in body


def test_the_doctor_for_one_mailbox(signed_in: tuple[Running, str, str]) -> None:
    console = signed_in[0]
    status, body = _post(signed_in, action="doctor", mailbox=ALICE)
    assert status == 200
    assert "mailbox alice@contoso.com" in body and 'class="state v-ok"' in body
    assert "bob@contoso.com" not in body  # only the mailbox asked about
    assert _audit(console, "doctor-run") == [(ALICE, "*", ADMIN)]
