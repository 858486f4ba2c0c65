"""Graph stand-in over real HTTP: directory, mailbox settings, categories, events, ids, errors, throttling."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.serve import BackgroundServer, serve

TOKEN = "test-token"
ALICE = "alice@contoso.com"
IMMUTABLE = 'IdType="ImmutableId"'
EXT_ID = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name FnoKey"


class Clock:
    """Deterministic clock: one second later on every read."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Graph:
    def __init__(self, state: GraphState, server: BackgroundServer, client: httpx.Client) -> None:
        self.state, self.server, self.client = state, server, client
        self.root = server.url + "/v1.0"

    def event_url(self, event_id: str, mailbox: str = ALICE) -> str:
        return f"/users/{mailbox}/events/{quote(event_id, safe='')}"

    def create(self, body: dict[str, Any], mailbox: str = ALICE, **headers: str) -> dict[str, Any]:
        resp = self.client.post(f"/users/{mailbox}/events", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        result: dict[str, Any] = resp.json()
        return result


@pytest.fixture
def graph() -> Iterator[Graph]:
    state = GraphState(TOKEN, page_size=3)
    state.clock = Clock()
    state.add_user(ALICE, "Alice Adams", time_zone="Pacific Standard Time")
    state.add_user("bob@contoso.com", "Bob Brown", time_zone="Europe/Berlin")
    headers = {"Authorization": f"Bearer {TOKEN}", "Prefer": IMMUTABLE}
    with (
        serve(create_graph_app(state)) as server,
        httpx.Client(base_url=server.url + "/v1.0", headers=headers) as c,
    ):
        yield Graph(state, server, c)


def event_body(subject: str = "Review", day: int = 3, hour: int = 9, **extra: Any) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": f"2024-06-{day:02d}T{hour:02d}:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"2024-06-{day:02d}T{hour + 1:02d}:00:00", "timeZone": "UTC"},
        **extra,
    }


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    inner: dict[str, Any] = error
    return inner


# ---- auth, users, groups, settings, categories -----------------------------------------------------------


def test_requests_without_the_right_bearer_token_get_401(graph: Graph) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        resp = httpx.get(f"{graph.root}/users/{ALICE}", headers=headers)
        assert_error(resp, 401, "InvalidAuthenticationToken")


def test_user_found_by_id_or_mail_in_any_case_with_select(graph: Graph) -> None:
    by_mail = graph.client.get("/users/ALICE@Contoso.com").json()
    assert by_mail["mail"] == ALICE and by_mail["displayName"] == "Alice Adams"
    by_id = graph.client.get(f"/users/{by_mail['id']}").json()
    assert by_id["id"] == by_mail["id"]
    selected = graph.client.get(f"/users/{ALICE}", params={"$select": "id,mail"}).json()
    assert {k for k in selected if not k.startswith("@")} == {"id", "mail"}
    assert_error(
        graph.client.get(f"/users/{ALICE}", params={"$select": "nope"}), 400, "RequestBroker--ParseUri"
    )


def test_unknown_user_is_404_in_directory_and_mailbox_shapes(graph: Graph) -> None:
    assert_error(graph.client.get("/users/nobody@contoso.com"), 404, "Request_ResourceNotFound")
    assert_error(graph.client.get("/users/nobody@contoso.com/events"), 404, "ErrorInvalidUser")


def test_add_user_rejects_foreign_domains_and_unknown_zones() -> None:
    state = GraphState()
    with pytest.raises(ValueError):
        state.add_user("x@fabrikam.com", "X")
    with pytest.raises(ValueError):
        state.add_user("x@contoso.com", "X", time_zone="Mars/Olympus")


def test_group_members_are_paged_with_next_link_and_select(graph: Graph) -> None:
    mails = [f"user{n}@contoso.com" for n in range(5)]
    for mail in mails:
        graph.state.add_user(mail, mail.split("@")[0])
    graph.state.add_group("g1", mails)
    seen: list[str] = []
    url: str | None = "/groups/g1/members?$select=mail"
    pages = 0
    while url:
        body = graph.client.get(url).json()
        assert all(item["@odata.type"] == "#microsoft.graph.user" for item in body["value"])
        seen += [item["mail"] for item in body["value"]]
        url = body.get("@odata.nextLink")
        pages += 1
    assert seen == mails and pages == 2
    cast = graph.client.get("/groups/g1/members/microsoft.graph.user", params={"$top": "2"}).json()
    assert len(cast["value"]) == 2 and "/members/microsoft.graph.user?" in cast["@odata.nextLink"]
    assert_error(graph.client.get("/groups/nope/members"), 404, "Request_ResourceNotFound")


def test_mailbox_settings_and_time_zone(graph: Graph) -> None:
    settings = graph.client.get(f"/users/{ALICE}/mailboxSettings").json()
    assert settings["timeZone"] == "Pacific Standard Time"
    assert settings["workingHours"]["timeZone"]["name"] == "Pacific Standard Time"
    zone = graph.client.get("/users/bob@contoso.com/mailboxSettings/timeZone").json()
    assert zone["value"] == "Europe/Berlin"


def test_master_categories_list_create_and_duplicate(graph: Graph) -> None:
    url = f"/users/{ALICE}/outlook/masterCategories"
    names = [c["displayName"] for c in graph.client.get(url).json()["value"]]
    assert "Red category" in names and len(names) == 6
    created = graph.client.post(url, json={"displayName": "D365 Sync", "color": "preset9"})
    assert created.status_code == 201 and created.json()["color"] == "preset9"
    assert_error(
        graph.client.post(url, json={"displayName": "d365 SYNC", "color": "preset1"}),
        409,
        "ErrorItemAlreadyExists",
    )
    assert_error(graph.client.post(url, json={"displayName": "X", "color": "purple"}), 400, "RequestBodyRead")
    assert "D365 Sync" in [c["displayName"] for c in graph.client.get(url).json()["value"]]


# ---- events: create, read, ids ------------------------------------------------------------------------------


def test_create_get_patch_delete_round_trip(graph: Graph) -> None:
    created = graph.create(event_body(categories=["D365 Sync"], location={"displayName": "Room 1"}))
    assert created["type"] == "singleInstance" and created["seriesMasterId"] is None
    assert created["start"] == {"dateTime": "2024-06-03T09:00:00.0000000", "timeZone": "UTC"}
    assert created["@odata.etag"] == f'W/"{created["changeKey"]}"'
    assert created["location"]["displayName"] == "Room 1"
    url = graph.event_url(created["id"])
    patched = graph.client.patch(url, json={"subject": "Changed"}).json()
    assert patched["subject"] == "Changed" and patched["changeKey"] != created["changeKey"]
    assert patched["lastModifiedDateTime"] > created["lastModifiedDateTime"]
    assert graph.client.get(url).json()["subject"] == "Changed"
    assert graph.client.delete(url).status_code == 204
    assert_error(graph.client.get(url), 404, "ErrorItemNotFound")
    assert_error(graph.client.delete(url), 404, "ErrorItemNotFound")


def test_ids_need_url_encoding_and_differ_without_immutable_header(graph: Graph) -> None:
    made = [graph.create(event_body(f"e{n}")) for n in range(12)]
    ids = [e["id"] for e in made]
    assert (
        any("/" in i for i in ids) and any("+" in i for i in ids) and all(i.startswith("AAMk") for i in ids)
    )
    slashed = next(i for i in ids if "/" in i)
    assert graph.client.get(graph.event_url(slashed)).status_code == 200
    assert graph.client.get(f"/users/{ALICE}/events/{slashed}").status_code == 400  # '/' not encoded
    regular = graph.client.get(graph.event_url(slashed), headers={"Prefer": ""}).json()
    assert regular["id"] != slashed
    assert graph.client.get(graph.event_url(regular["id"])).json()["id"] == slashed


def test_transaction_id_repeat_returns_the_existing_event(graph: Graph) -> None:
    first = graph.create(event_body(transactionId="fno-key-1"))
    again = graph.create(event_body("other subject", transactionId="fno-key-1"))
    assert again["id"] == first["id"] and again["subject"] == first["subject"]
    assert len(graph.state.events(ALICE)) == 1
    graph.create(event_body(transactionId="fno-key-1"), mailbox="bob@contoso.com")
    assert len(graph.state.events("bob@contoso.com")) == 1


def test_times_in_windows_and_iana_zones_and_prefer_timezone(graph: Graph) -> None:
    body = event_body()
    body["start"] = {"dateTime": "2024-06-03T10:00:00", "timeZone": "W. Europe Standard Time"}
    body["end"] = {"dateTime": "2024-06-03T11:30:00.5", "timeZone": "America/New_York"}
    created = graph.create(body)
    assert created["start"]["dateTime"] == "2024-06-03T08:00:00.0000000"
    assert created["end"]["dateTime"] == "2024-06-03T15:30:00.5000000"
    assert created["originalStartTimeZone"] == "W. Europe Standard Time"
    for zone, expected in (("Pacific Standard Time", "01:00"), ("Asia/Tokyo", "17:00")):
        resp = graph.client.get(
            graph.event_url(created["id"]), headers={"Prefer": f'outlook.timezone="{zone}"'}
        )
        assert resp.json()["start"] == {"dateTime": f"2024-06-03T{expected}:00.0000000", "timeZone": zone}
        assert f'outlook.timezone="{zone}"' in resp.headers["Preference-Applied"]
    bad = event_body()
    bad["start"]["timeZone"] = "Mars Standard Time"
    resp = graph.client.post(f"/users/{ALICE}/events", json=bad)
    assert_error(resp, 400, "TimeZoneNotSupportedException")


def test_all_day_events_must_be_whole_days_at_midnight(graph: Graph) -> None:
    ok: dict[str, Any] = {
        "subject": "Holiday",
        "isAllDay": True,
        "start": {"dateTime": "2024-06-03T00:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2024-06-05T00:00:00", "timeZone": "Pacific Standard Time"},
    }
    created = graph.create(ok, Prefer=f'outlook.timezone="Pacific Standard Time", {IMMUTABLE}')
    assert created["isAllDay"] and created["start"]["dateTime"] == "2024-06-03T00:00:00.0000000"
    for start, end in (
        ("2024-06-03T00:00:00", "2024-06-03T00:00:00"),
        ("2024-06-03T09:00:00", "2024-06-04T09:00:00"),
    ):
        bad = {**ok, "start": {**ok["start"], "dateTime": start}, "end": {**ok["end"], "dateTime": end}}
        assert_error(
            graph.client.post(f"/users/{ALICE}/events", json=bad), 400, "ErrorPropertyValidationFailure"
        )
    resp = graph.client.patch(
        graph.event_url(created["id"]), json={"start": {"dateTime": "2024-06-03T08:00:00", "timeZone": "UTC"}}
    )
    assert_error(resp, 400, "ErrorPropertyValidationFailure")


def test_text_body_is_shown_as_html_unless_text_is_preferred(graph: Graph) -> None:
    created = graph.create(event_body(body={"contentType": "Text", "content": "Line <1>\nLine 2"}))
    assert created["body"]["contentType"] == "html"
    assert "Line &lt;1&gt;<br>" in created["body"]["content"]
    assert created["bodyPreview"] == "Line <1> Line 2"
    text = graph.client.get(
        graph.event_url(created["id"]), headers={"Prefer": f'outlook.body-content-type="text", {IMMUTABLE}'}
    )
    assert text.json()["body"] == {"contentType": "text", "content": "Line <1>\nLine 2"}
    assert 'outlook.body-content-type="text"' in text.headers["Preference-Applied"]
    html_event = graph.create(
        event_body(body={"contentType": "HTML", "content": "<html><body><p>Hi &amp; bye</p></body></html>"})
    )
    assert html_event["body"]["content"].startswith("<html>")
    as_text = graph.client.get(
        graph.event_url(html_event["id"]), headers={"Prefer": 'outlook.body-content-type="text"'}
    )
    assert as_text.json()["body"] == {"contentType": "text", "content": "Hi & bye"}


def test_invalid_bodies_are_rejected(graph: Graph) -> None:
    url = f"/users/{ALICE}/events"
    assert_error(graph.client.post(url, json=event_body(importance="urgent")), 400, "RequestBodyRead")
    assert_error(graph.client.post(url, json=event_body(bogus=1)), 400, "RequestBodyRead")
    assert_error(graph.client.post(url, json={"subject": "no times"}), 400, "ErrorPropertyValidationFailure")
    assert_error(
        graph.client.post(url, content=b"{not json", headers={"Content-Type": "application/json"}),
        400,
        "BadRequest",
    )


# ---- extended properties, $filter, $select, $expand, paging --------------------------------------------------


def test_extended_properties_stored_filtered_and_expanded_case_insensitively(graph: Graph) -> None:
    created = graph.create(event_body(singleValueExtendedProperties=[{"id": EXT_ID, "value": "O'Brien-1"}]))
    assert "singleValueExtendedProperties" not in created
    graph.create(event_body("other", singleValueExtendedProperties=[{"id": EXT_ID, "value": "K2"}]))
    upper_id = EXT_ID.replace("66f5a359", "66F5A359").replace("FnoKey", "FNOKEY")
    flt = f"singleValueExtendedProperties/any(ep: ep/id eq '{upper_id}' and ep/value eq 'O''Brien-1')"
    found = graph.client.get(f"/users/{ALICE}/events", params={"$filter": flt}).json()["value"]
    assert [e["id"] for e in found] == [created["id"]]
    expand = f"singleValueExtendedProperties($filter=id eq '{upper_id}')"
    got = graph.client.get(graph.event_url(created["id"]), params={"$expand": expand}).json()
    assert got["singleValueExtendedProperties"] == [{"id": EXT_ID, "value": "O'Brien-1"}]
    graph.client.patch(
        graph.event_url(created["id"]),
        json={"singleValueExtendedProperties": [{"id": upper_id, "value": "K3"}]},
    )
    stored = graph.state.get_event(ALICE, created["id"])
    assert stored is not None and stored["singleValueExtendedProperties"] == [{"id": EXT_ID, "value": "K3"}]
    assert_error(
        graph.client.get(f"/users/{ALICE}/events", params={"$expand": "attachments"}), 400, "BadRequest"
    )


def test_category_filter_select_top_and_paging(graph: Graph) -> None:
    for n in range(5):
        graph.create(event_body(f"s{n}", categories=["D365 Sync"] if n % 2 == 0 else ["Other's"]))
    flt = "categories/any(c:c eq 'd365 sync')"
    resp = graph.client.get(
        f"/users/{ALICE}/events", params={"$filter": flt, "$select": "subject,categories", "$top": "2"}
    )
    page = resp.json()
    assert [e["subject"] for e in page["value"]] == ["s0", "s2"]
    assert set(page["value"][0]) == {"@odata.etag", "id", "subject", "categories"}
    rest = graph.client.get(page["@odata.nextLink"]).json()
    assert [e["subject"] for e in rest["value"]] == ["s4"] and "@odata.nextLink" not in rest
    flt_quote = "categories/any(c:c eq 'Other''s') and subject ne 'x&y+z'"
    quoted = graph.client.get(f"/users/{ALICE}/events", params={"$filter": flt_quote, "$top": "1"})
    assert len(quoted.json()["value"]) == 1
    assert len(graph.client.get(quoted.json()["@odata.nextLink"]).json()["value"]) == 1
    assert len(graph.client.get(f"/users/{ALICE}/events").json()["value"]) == 5  # default $top is 10
    assert_error(
        graph.client.get(f"/users/{ALICE}/events", params={"$filter": "categories/any(c:c eq"}),
        400,
        "BadRequest",
    )


# ---- recurrence and calendarView ------------------------------------------------------------------------------


def weekly_series(**extra: Any) -> dict[str, Any]:
    return {
        "subject": "Standup",
        "start": {"dateTime": "2024-06-03T09:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2024-06-03T09:15:00", "timeZone": "W. Europe Standard Time"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday", "Wednesday"]},
            "range": {"type": "numbered", "startDate": "2024-06-03", "numberOfOccurrences": 6},
        },
        **extra,
    }


def view(
    graph: Graph, start: str = "2024-06-01T00:00:00Z", end: str = "2024-07-01T00:00:00Z"
) -> list[dict[str, Any]]:
    body = graph.client.get(
        f"/users/{ALICE}/calendarView", params={"startDateTime": start, "endDateTime": end, "$top": "50"}
    ).json()
    rows: list[dict[str, Any]] = body["value"]
    return rows


def test_weekly_series_expands_in_calendar_view(graph: Graph) -> None:
    master = graph.create(weekly_series())
    assert master["type"] == "seriesMaster"
    assert master["recurrence"]["pattern"]["daysOfWeek"] == ["monday", "wednesday"]
    assert master["recurrence"]["range"]["recurrenceTimeZone"] == "W. Europe Standard Time"
    single = graph.create(event_body("single", day=4))
    rows = view(graph)
    occurrences = [r for r in rows if r["type"] == "occurrence"]
    assert [r["start"]["dateTime"][:16] for r in occurrences] == [
        "2024-06-03T07:00", "2024-06-05T07:00", "2024-06-10T07:00", "2024-06-12T07:00", "2024-06-17T07:00", "2024-06-19T07:00",
    ]  # fmt: skip
    assert all(r["seriesMasterId"] == master["id"] for r in occurrences)
    assert single["id"] in [r["id"] for r in rows] and master["id"] not in [r["id"] for r in rows]
    assert [r["id"] for r in view(graph)] == [r["id"] for r in rows]  # stable occurrence ids
    got = graph.client.get(graph.event_url(occurrences[1]["id"])).json()
    assert got["type"] == "occurrence" and got["start"] == occurrences[1]["start"]
    assert_error(graph.client.get(f"/users/{ALICE}/calendarView"), 400, "ErrorInvalidParameter")


def test_daily_series_with_end_date_and_interval(graph: Graph) -> None:
    body = event_body("daily", day=1)
    body["recurrence"] = {
        "pattern": {"type": "daily", "interval": 3},
        "range": {"type": "endDate", "startDate": "2024-06-01", "endDate": "2024-06-10"},
    }
    graph.create(body)
    days = [r["start"]["dateTime"][:10] for r in view(graph)]
    assert days == ["2024-06-01", "2024-06-04", "2024-06-07", "2024-06-10"]
    assert len(view(graph, "2024-06-03T00:00:00Z", "2024-06-05T00:00:00Z")) == 1


def test_no_end_series_and_calendar_events_path(graph: Graph) -> None:
    body = event_body("forever", day=1)
    body["recurrence"] = {
        "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["saturday"], "firstDayOfWeek": "monday"},
        "range": {"type": "noEnd", "startDate": "2024-06-01"},
    }
    resp = graph.client.post(f"/users/{ALICE}/calendar/events", json=body)
    assert resp.status_code == 201 and resp.json()["recurrence"]["range"]["type"] == "noEnd"
    far = view(graph, "2030-01-01T00:00:00Z", "2030-02-01T00:00:00Z")
    assert len(far) == 2 and all(r["seriesMasterId"] == resp.json()["id"] for r in far)
    listed = graph.client.get(f"/users/{ALICE}/calendar/events").json()["value"]
    assert [e["id"] for e in listed] == [resp.json()["id"]]


def test_repeated_prefer_headers_all_apply(graph: Graph) -> None:
    created = graph.create(event_body())
    headers = [("Prefer", 'outlook.timezone="Tokyo Standard Time"'), ("Prefer", IMMUTABLE)]
    resp = graph.client.get(graph.event_url(created["id"]), headers=httpx.Headers(headers))
    assert resp.json()["id"] == created["id"]
    assert resp.json()["start"]["timeZone"] == "Tokyo Standard Time"


def test_occurrence_patch_makes_exception_and_delete_cancels(graph: Graph) -> None:
    master = graph.create(weekly_series(attendees=[{"emailAddress": {"address": "x@fabrikam.com"}}]))
    occurrences = view(graph)
    target, doomed = occurrences[2], occurrences[3]
    patched = graph.client.patch(
        graph.event_url(target["id"]),
        json={
            "subject": "Moved",
            "start": {"dateTime": "2024-06-10T12:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2024-06-10T12:30:00", "timeZone": "UTC"},
        },
    )
    assert patched.status_code == 200
    assert patched.json()["type"] == "exception" and patched.json()["id"] == target["id"]
    assert graph.client.delete(graph.event_url(doomed["id"])).status_code == 204
    rows = {r["id"]: r for r in view(graph)}
    assert doomed["id"] not in rows and rows[target["id"]]["subject"] == "Moved"
    assert rows[target["id"]]["start"]["dateTime"] == "2024-06-10T12:00:00.0000000"
    assert_error(graph.client.get(graph.event_url(doomed["id"])), 404, "ErrorItemNotFound")
    kinds = [(m["kind"], m["event_id"]) for m in graph.state.sent_meeting_messages]
    assert kinds == [("request", master["id"]), ("update", target["id"]), ("cancel", doomed["id"])]
    instances = graph.client.get(
        graph.event_url(master["id"]) + "/instances",
        params={"startDateTime": "2024-06-01T00:00:00Z", "endDateTime": "2024-07-01T00:00:00Z"},
    )
    assert len(instances.json()["value"]) == 5


# ---- meeting messages and request log -------------------------------------------------------------------------


def test_meeting_messages_follow_exchange_rules(graph: Graph) -> None:
    attendee = [{"emailAddress": {"address": "carol@fabrikam.com", "name": "Carol"}, "type": "Required"}]
    plain = graph.create(event_body("solo"))
    meeting = graph.create(event_body("meet", attendees=attendee))
    graph.client.patch(graph.event_url(plain["id"]), json={"subject": "solo 2"})
    graph.client.patch(graph.event_url(meeting["id"]), json={"categories": ["D365 Sync"]})
    graph.client.patch(graph.event_url(meeting["id"]), json={"subject": "meet"})  # unchanged value
    graph.client.patch(graph.event_url(meeting["id"]), json={"location": {"displayName": "Room 7"}})
    graph.client.delete(graph.event_url(meeting["id"]))
    assert graph.state.sent_meeting_messages == [
        {"mailbox": ALICE, "event_id": meeting["id"], "kind": kind, "attendees": ["carol@fabrikam.com"]}
        for kind in ("request", "update", "cancel")
    ]


def test_request_log_records_method_path_mailbox_status(graph: Graph) -> None:
    graph.client.get(f"/users/{ALICE}/events", params={"$top": "2"})  # the client sends IdType
    graph.client.get("/users/nobody@contoso.com")
    common = {"segments": ["users", ALICE, "events"], "options": ["$top"], "prefer": ["idtype"]}
    assert graph.state.request_log[-2:] == [
        {"method": "GET", "path": f"/users/{ALICE}/events", "mailbox": ALICE, "status": 200, **common},
        {
            "method": "GET",
            "path": "/users/nobody@contoso.com",
            "mailbox": None,
            "status": 404,
            "segments": ["users", "nobody@contoso.com"],
            "options": [],
            "prefer": ["idtype"],
        },
    ]


# ---- throttling ----------------------------------------------------------------------------------------------


def test_injected_throttling_answers_429_with_retry_after(graph: Graph) -> None:
    graph.state.throttle_next(ALICE, 2, retry_after=2.128)
    for _ in range(2):
        resp = graph.client.get(f"/users/{ALICE}/events")
        assert_error(resp, 429, "TooManyRequests")
        assert resp.headers["Retry-After"] == "2.128"
    assert graph.client.get("/users/bob@contoso.com/events").status_code == 200
    assert graph.client.get(f"/users/{ALICE}/events").status_code == 200


async def test_fifth_concurrent_request_for_a_mailbox_is_throttled(graph: Graph) -> None:
    graph.state.hold_requests(ALICE)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=graph.root, headers=headers) as client:
        held = [asyncio.create_task(client.get(f"/users/{ALICE}/events")) for _ in range(4)]
        for _ in range(1000):
            if graph.state.in_flight(ALICE) == 4:
                break
            await asyncio.sleep(0.01)
        assert graph.state.in_flight(ALICE) == 4
        fifth = await client.get(f"/users/{ALICE}/events")
        assert_error(fifth, 429, "ApplicationThrottled")
        assert float(fifth.headers["Retry-After"]) > 0
        other = await client.get("/users/bob@contoso.com/events")
        assert other.status_code == 200
        graph.state.release_requests(ALICE)
        assert [r.status_code for r in await asyncio.gather(*held)] == [200] * 4
    assert graph.state.in_flight(ALICE) == 0


async def test_five_simultaneous_requests_to_one_mailbox_give_exactly_one_429(graph: Graph) -> None:
    # Exchange counts a request in flight from its arrival (4 per app and mailbox, "Outlook service limits"
    # in Graph's throttling-limits page): with latency the five calls overlap on the wire.
    graph.state.latency = 0.5
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=graph.root, headers=headers, timeout=10) as client:
        calls = [client.get(f"/users/{ALICE}/events") for _ in range(5)]
        answers = await asyncio.gather(*calls, client.get("/users/bob@contoso.com/events"))
    *alice, bob = answers
    assert sorted(r.status_code for r in alice) == [200, 200, 200, 200, 429]
    assert_error(next(r for r in alice if r.status_code == 429), 429, "ApplicationThrottled")
    assert bob.status_code == 200  # another mailbox has its own four
    assert graph.state.in_flight(ALICE) == 0


# ---- $batch ----------------------------------------------------------------------------------------------------


def batch(graph: Graph, requests: list[dict[str, Any]]) -> httpx.Response:
    return graph.client.post("/$batch", json={"requests": requests})


def test_batch_runs_relative_urls_with_bodies_and_dependencies(graph: Graph) -> None:
    resp = batch(
        graph,
        [
            {
                "id": "1",
                "method": "POST",
                "url": f"/users/{ALICE}/events",
                "body": event_body("b1"),
                "headers": {"Content-Type": "application/json", "Prefer": IMMUTABLE},
            },
            {
                "id": "2",
                "method": "GET",
                "url": f"users/{ALICE}/mailboxSettings/timeZone",
                "dependsOn": ["1"],
            },
            {"id": "3", "method": "GET", "url": f"/users/{ALICE}/events/{quote('AAMkAbad', safe='')}"},
            {"id": "4", "method": "GET", "url": "/users/nobody@contoso.com", "dependsOn": ["3"]},
        ],
    )
    assert resp.status_code == 200
    items = {item["id"]: item for item in resp.json()["responses"]}
    assert items["1"]["status"] == 201 and items["1"]["body"]["subject"] == "b1"
    assert items["2"]["status"] == 200 and items["2"]["body"]["value"] == "Pacific Standard Time"
    assert items["3"]["status"] == 404 and items["3"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert items["4"]["status"] == 424
    assert [item["id"] for item in resp.json()["responses"]] != ["1", "2", "3", "4"]


def test_batch_limits_and_malformed_items(graph: Graph) -> None:
    get = {"method": "GET", "url": f"/users/{ALICE}/events"}
    assert_error(batch(graph, [{"id": str(n), **get} for n in range(21)]), 400, "BadRequest")
    assert_error(
        batch(graph, [{"id": "1", **get, "url": f"https://graph.microsoft.com/v1.0/users/{ALICE}"}]),
        400,
        "BadRequest",
    )
    no_type = {"id": "1", "method": "POST", "url": f"/users/{ALICE}/events", "body": event_body()}
    assert_error(batch(graph, [no_type]), 400, "BadRequest")
    assert_error(batch(graph, [{"id": "1", **get, "dependsOn": ["9"]}]), 400, "BadRequest")
    assert batch(graph, [{"id": str(n), **get} for n in range(20)]).status_code == 200


def test_batch_items_share_the_mailbox_concurrency_limit(graph: Graph) -> None:
    get = {"method": "GET", "url": f"/users/{ALICE}/events"}
    items = batch(graph, [{"id": str(n), **get} for n in range(6)]).json()["responses"]
    statuses = sorted(item["status"] for item in items)
    assert statuses == [200, 200, 200, 200, 429, 429]
    throttled = next(item for item in items if item["status"] == 429)
    assert (
        "Retry-After" in throttled["headers"] and throttled["body"]["error"]["code"] == "ApplicationThrottled"
    )
    chained = [{"id": str(n), **get, **({"dependsOn": [str(n - 1)]} if n else {})} for n in range(6)]
    assert {item["status"] for item in batch(graph, chained).json()["responses"]} == {200}
    graph.state.throttle_next(ALICE, 1, retry_after=3)
    first = batch(graph, [{"id": "a", **get}]).json()["responses"][0]
    assert first["status"] == 429 and first["headers"]["Retry-After"] == "3"


# ---- helpers used by other tests ------------------------------------------------------------------------------


def test_seeding_api_mirrors_post_and_feeds_inspection(graph: Graph) -> None:
    stored = graph.state.add_event(
        ALICE, event_body("seeded", singleValueExtendedProperties=[{"id": EXT_ID, "value": "k"}])
    )
    assert stored["singleValueExtendedProperties"] == [{"id": EXT_ID, "value": "k"}]
    assert graph.client.get(graph.event_url(stored["id"])).json()["subject"] == "seeded"
    updated = graph.state.update_event(ALICE, stored["id"], {"subject": "edited in Outlook"})
    assert updated["changeKey"] != stored["changeKey"]
    assert [e["subject"] for e in graph.state.events(ALICE)] == ["edited in Outlook"]
    graph.state.delete_event(ALICE, stored["id"])
    assert graph.state.get_event(ALICE, stored["id"]) is None
    assert graph.state.events(ALICE) == []


def test_ids_are_deterministic_per_state() -> None:
    def first_id() -> str:
        state = GraphState()
        state.clock = Clock()
        state.add_user(ALICE, "Alice")
        return str(state.add_event(ALICE, event_body())["id"])

    assert first_id() == first_id()
    assert base64.b64decode(first_id()[5:])  # standard base64 after the AAMkA prefix
    assert json.dumps(first_id())


def test_patch_with_if_match_lands_only_on_the_named_change_key(graph: Graph) -> None:
    created = graph.create(event_body())
    url = graph.event_url(created["id"])
    current = graph.client.patch(url, json={"subject": "One"}, headers={"If-Match": created["@odata.etag"]})
    assert current.status_code == 200
    stale = graph.client.patch(url, json={"subject": "Two"}, headers={"If-Match": created["@odata.etag"]})
    assert_error(stale, 412, "ErrorIrresolvableConflict")
    assert graph.client.get(url).json()["subject"] == "One"  # the refused write changed nothing
    anything = graph.client.patch(url, json={"subject": "Three"}, headers={"If-Match": "*"})
    assert anything.status_code == 200
