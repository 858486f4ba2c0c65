"""The F&O OData stand-in over real HTTP: auth, paging, companies, keys, $filter quirks, writes, throttling."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from simulators.fno.app import create_fno_app
from simulators.fno.state import FnoState
from simulators.serve import serve

TOKEN = "test-token"
NS = "Microsoft.Dynamics.DataEntities"
T0 = datetime(2025, 3, 1, 9, 30, 15, 654321, tzinfo=UTC)


@dataclass
class Stand:
    state: FnoState
    client: httpx.Client
    url: str
    now: datetime = T0

    def tick(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def fno() -> Iterator[Stand]:
    state = FnoState(TOKEN, page_size=3)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serve(create_fno_app(state)) as server, httpx.Client(base_url=server.url, headers=auth) as client:
        stand = Stand(state, client, server.url)
        state.clock = lambda: stand.now
        yield stand


def key_path(entity_set: str, **key: str) -> str:
    """`/data/Set(k='v',...)` with `'` doubled and everything percent-encoded, as a careful client sends it."""
    literal = ",".join(f"{name}='{value.replace(chr(39), chr(39) * 2)}'" for name, value in key.items())
    return f"/data/{entity_set}({quote(literal, safe='')})"


def values(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["value"]
    return rows


def numbers(response: httpx.Response) -> list[str]:
    return [row["ActivityNumber"] for row in values(response)]


def seed_activities(stand: Stand, purposes: list[str], **fields: Any) -> list[str]:
    return [stand.state.add("Activities", {"Purpose": p, **fields})["ActivityNumber"] for p in purposes]


def error_message(response: httpx.Response) -> str:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "innererror"}
    assert set(error["innererror"]) == {"message", "type", "stacktrace"}
    message: str = error["message"]
    return message


# -- auth and service protection ------------------------------------------------------------------------


def test_requests_without_the_bearer_token_are_refused(fno: Stand) -> None:
    assert httpx.get(f"{fno.url}/data/Activities").status_code == 401
    wrong = httpx.get(f"{fno.url}/data/Activities", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert fno.client.get("/data/Activities").status_code == 200
    assert [entry["status"] for entry in fno.state.request_log] == [401, 401, 200]


def test_throttle_next_answers_429_with_retry_after_then_recovers(fno: Stand) -> None:
    fno.state.throttle_next(2, retry_after=7)
    first = fno.client.get("/data/Activities")
    second = fno.client.post("/data/Activities", json={"Purpose": "x"})
    assert (first.status_code, second.status_code) == (429, 429)
    assert first.headers["Retry-After"] == "7"
    error_message(first)
    assert fno.state.all("Activities") == []
    assert fno.client.get("/data/Activities").status_code == 200


def test_concurrency_ceiling_answers_429(fno: Stand) -> None:
    fno.state.max_concurrent = 2
    assert fno.state.enter_request() and fno.state.enter_request()
    busy = fno.client.get("/data/Activities")
    assert busy.status_code == 429
    assert int(busy.headers["Retry-After"]) >= 1
    fno.state.leave_request()
    assert fno.client.get("/data/Activities").status_code == 200


# -- paging and query options -------------------------------------------------------------------------------


def test_paging_follows_absolute_next_links_that_keep_the_options(fno: Stand) -> None:
    expected = seed_activities(fno, [f"meeting {i}" for i in range(8)], Category="Task")
    seed_activities(fno, ["other"], Category="Appointment")
    params = {
        "cross-company": "true",
        "$filter": f"Category eq {NS}.smmActivityCategory'Task'",
        "$select": "ActivityNumber,Purpose",
        "$count": "true",
    }
    response = fno.client.get("/data/Activities", params=params)
    seen: list[str] = []
    pages = 0
    while True:
        body = response.json()
        assert body["@odata.count"] == 8
        assert body["@odata.context"].endswith("/data/$metadata#Activities(ActivityNumber,Purpose)")
        assert all(set(row) == {"@odata.etag", "ActivityNumber", "Purpose"} for row in body["value"])
        assert len(body["value"]) <= 3
        seen += numbers(response)
        pages += 1
        link = body.get("@odata.nextLink")
        if link is None:
            break
        assert link.startswith(f"{fno.url}/data/Activities?")
        assert "$skiptoken=" in link and "cross-company=true" in link
        response = fno.client.get(link)
    assert pages == 3
    assert seen == expected


def test_prefer_maxpagesize_shrinks_pages(fno: Stand) -> None:
    seed_activities(fno, ["a", "b", "c"])
    response = fno.client.get("/data/Activities", headers={"Prefer": "odata.maxpagesize=2"})
    assert len(values(response)) == 2
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=2"
    assert "@odata.nextLink" in response.json()


def test_orderby_several_fields_top_and_skip(fno: Stand) -> None:
    fno.state.page_size = 10
    fno.state.add("Activities", {"Purpose": "b", "Priority": "High"})
    fno.state.add("Activities", {"Purpose": "a", "Priority": "Low"})
    fno.state.add("Activities", {"Purpose": "B", "Priority": "Normal"})
    fno.state.add("Activities", {"Purpose": "c", "Priority": "Normal"})
    # Enums sort by their integer value (Normal=0, Low=1, High=2), strings by case-insensitive collation.
    ordered = fno.client.get("/data/Activities", params={"$orderby": "Priority desc,Purpose asc"})
    assert [(r["Priority"], r["Purpose"]) for r in values(ordered)] == [
        ("High", "b"),
        ("Low", "a"),
        ("Normal", "B"),
        ("Normal", "c"),
    ]
    params = {"$orderby": "Purpose desc,ActivityNumber", "$skip": "1", "$top": "2"}
    assert [r["Purpose"] for r in values(fno.client.get("/data/Activities", params=params))] == ["b", "B"]
    assert fno.client.get("/data/Activities/$count").text == "4"
    assert fno.client.get("/data/Activities", params={"$top": "-1"}).status_code == 400
    assert fno.client.get("/data/Activities", params={"$select": "Nope"}).status_code == 400
    assert fno.client.get("/data/Activities", params={"$expand": "Anything"}).status_code == 400


def test_top_larger_than_a_page_pages_within_the_top(fno: Stand) -> None:
    seed_activities(fno, [str(i) for i in range(10)])
    response = fno.client.get("/data/Activities", params={"$top": "5"})
    first = numbers(response)
    second = numbers(fno.client.get(response.json()["@odata.nextLink"]))
    assert len(first) == 3 and len(second) == 2


# -- companies -------------------------------------------------------------------------------------------


def test_without_cross_company_only_the_default_company_is_visible(fno: Stand) -> None:
    (usmf,) = seed_activities(fno, ["here"])
    other = fno.state.add("Activities", {"dataAreaId": "USSI", "Purpose": "there"})
    assert other["dataAreaId"] == "ussi"
    assert numbers(fno.client.get("/data/Activities")) == [usmf]
    filtered = fno.client.get("/data/Activities", params={"$filter": "dataAreaId eq 'ussi'"})
    assert numbers(filtered) == []
    both = fno.client.get("/data/Activities", params={"cross-company": "true"})
    assert sorted(numbers(both)) == sorted([usmf, other["ActivityNumber"]])

    path = key_path("Activities", dataAreaId="ussi", ActivityNumber=other["ActivityNumber"])
    assert fno.client.get(path).status_code == 404
    assert fno.client.patch(path, json={"Purpose": "x"}).status_code == 404
    assert fno.client.delete(path).status_code == 404
    assert fno.client.get(path, params={"cross-company": "true"}).json()["Purpose"] == "there"
    assert fno.client.patch(path, params={"cross-company": "true"}, json={"Purpose": "y"}).status_code == 204
    assert (
        fno.state.get("Activities", {"dataAreaId": "ussi", "ActivityNumber": other["ActivityNumber"]})
        is not None
    )


def test_post_into_another_company_succeeds_but_cannot_be_read_back_without_cross_company(fno: Stand) -> None:
    created = fno.client.post("/data/Activities", json={"dataAreaId": "ussi", "Purpose": "p"})
    assert created.status_code == 201
    number = created.json()["ActivityNumber"]
    path = key_path("Activities", dataAreaId="ussi", ActivityNumber=number)
    assert fno.client.get(path).status_code == 404
    assert fno.client.get(path, params={"cross-company": "true"}).status_code == 200


def test_global_entities_ignore_companies(fno: Stand) -> None:
    fno.state.add("Workers", {"PersonnelNumber": "000123", "PrimaryContactEmail": "a@example.com"})
    assert [w["PersonnelNumber"] for w in values(fno.client.get("/data/Workers"))] == ["000123"]
    assert fno.client.get("/data/Workers('000123')").status_code == 200
    assert fno.client.get(key_path("Workers", PersonnelNumber="000123")).status_code == 200


# -- keys ------------------------------------------------------------------------------------------------


def test_key_literals_with_quotes_and_reserved_characters(fno: Stand) -> None:
    odd = "O'Brien #1?/&"
    fno.state.add("ContactPersons", {"ContactPersonId": odd, "LastName": "O'Brien"})
    fno.state.add("ContactPersons", {"ContactPersonId": "O", "LastName": "plain"})
    response = fno.client.get(key_path("ContactPersons", dataAreaId="usmf", ContactPersonId=odd))
    assert response.status_code == 200
    assert response.json()["LastName"] == "O'Brien"
    assert response.json()["@odata.context"].endswith("#ContactPersons/$entity")
    # Keys match like SQL Server: case-insensitively.
    lower = fno.client.get(key_path("ContactPersons", dataAreaId="USMF", ContactPersonId=odd.lower()))
    assert lower.status_code == 200
    unescaped = "/data/ContactPersons(" + quote("dataAreaId='usmf',ContactPersonId='O'Brien'", safe="") + ")"
    assert fno.client.get(unescaped).status_code == 400
    assert fno.client.get(key_path("ContactPersons", dataAreaId="usmf")).status_code == 400
    assert (
        fno.client.get(key_path("ContactPersons", dataAreaId="usmf", ContactPersonId="none")).status_code
        == 404
    )


def test_parent_links_collection_uses_enum_keys(fno: Stand) -> None:
    body = {
        "ActivityNumber": "ACT-000001",
        "ParentType": "Customer",
        "ParentId": "US-001",
        "IsPrimaryLink": "Yes",
    }
    created = fno.client.post("/data/ActivityParentLinks", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["dataAreaId"] == "usmf"
    link = created.headers["Location"]
    assert fno.client.get(link).json()["IsPrimaryLink"] == "Yes"
    enum_key = (
        "/data/ActivityParentLinks(dataAreaId='usmf',ActivityNumber='ACT-000001',"
        f"ParentType={NS}.smmActivityParentType'Customer',ParentId='US-001')"
    )
    assert fno.client.get(enum_key).status_code == 200
    assert (
        fno.client.post("/data/ActivityParentLinks", json={**body, "ParentType": "Prospect"}).status_code
        == 400
    )
    filtered = fno.client.get(
        "/data/ActivityParentLinks", params={"$filter": f"ParentType eq {NS}.smmActivityParentType'BusRel'"}
    )
    assert values(filtered) == []


def test_parent_links_collection_name_is_configurable() -> None:
    state = FnoState(parent_links_collection="SyncActivityParentLinks")
    state.add("SyncActivityParentLinks", {"ActivityNumber": "A", "ParentType": "Vendor", "ParentId": "V1"})
    assert "ActivityParentLinks" not in state.entities
    assert state.all("SyncActivityParentLinks")[0]["IsPrimaryLink"] == "No"


# -- $filter -----------------------------------------------------------------------------------------------


def filter_numbers(stand: Stand, expression: str) -> list[str]:
    return numbers(stand.client.get("/data/Activities", params={"$filter": expression}))


def test_escaped_quotes_never_widen_a_filter(fno: Stand) -> None:
    seed_activities(fno, ["alpha", "beta", "1"])
    hostile = "x' or '1' eq '1"
    escaped = hostile.replace("'", "''")
    assert filter_numbers(fno, f"Purpose eq '{escaped}'") == []
    (exact,) = seed_activities(fno, [hostile])
    assert filter_numbers(fno, f"Purpose eq '{escaped}'") == [exact]
    # Unescaped, the same text is real syntax and widens the query: the stand-in parses, it does not pattern-match.
    widened = fno.client.get("/data/Activities/$count", params={"$filter": f"Purpose eq '{hostile}'"})
    assert widened.text == "4"


def test_enum_literals_filter_and_plain_strings_are_rejected(fno: Stand) -> None:
    (task,) = seed_activities(fno, ["t"], Category="Task")
    (appointment,) = seed_activities(fno, ["a"], Category="Appointment")
    assert filter_numbers(fno, f"Category eq {NS}.smmActivityCategory'Task'") == [task]
    assert filter_numbers(fno, f"Category ne {NS}.smmActivityCategory'Task'") == [appointment]
    assert filter_numbers(fno, f"Category eq {NS}.smmActivityCategory'1'") == [task]
    for bad in (
        "Category eq 'Task'",
        f"Category gt {NS}.smmActivityCategory'Task'",
        f"Category eq {NS}.NoYes'Yes'",
        f"Category eq {NS}.smmActivityCategory'Meeting'",
        "Category eq smmActivityCategory'Task'",
    ):
        response = fno.client.get("/data/Activities", params={"$filter": bad})
        assert response.status_code == 400, bad
    incompatible = fno.client.get("/data/Activities", params={"$filter": "Category eq 'Task'"})
    assert "incompatible types" in error_message(incompatible)


def test_unsupported_operators_functions_and_unknown_properties_are_400(fno: Stand) -> None:
    for bad in (
        "Purpose in ('a','b')",
        f"Category has {NS}.smmActivityCategory'Task'",
        "contains(Purpose,'a')",
        "startswith(Purpose,'a')",
        "ActualWork add 1 eq 2",
        "Nope eq 'a'",
        "purpose eq 'a'",
        "Purpose eq 'unterminated",
        "Purpose eq",
        "Purpose",
        "not Purpose eq 'a'",
        "Purpose eq 'a' and",
        "(Purpose eq 'a'",
        "Purpose eq 'a' #",
    ):
        response = fno.client.get("/data/Activities", params={"$filter": bad})
        assert response.status_code == 400, bad
        assert error_message(response).startswith("The query specified in the URI is not valid."), bad


def test_wildcards_case_insensitivity_and_trailing_blanks(fno: Stand) -> None:
    meeting, memo, other = seed_activities(fno, ["Team Meeting", "memo", "Lunch"])
    assert filter_numbers(fno, "Purpose eq '*MEET*'") == [meeting]
    assert filter_numbers(fno, "Purpose eq 'me*'") == [memo]
    assert sorted(filter_numbers(fno, "Purpose ne 'me*'")) == sorted([meeting, other])
    assert filter_numbers(fno, "Purpose eq 'team meeting'") == [meeting]
    assert filter_numbers(fno, "Purpose eq 'LUNCH  '") == [other]
    assert filter_numbers(fno, "Purpose eq 'Lunch' or Purpose eq 'MEMO'") == [memo, other]
    assert filter_numbers(fno, "not (Purpose eq 'lunch') and Purpose ne 'memo'") == [meeting]
    assert filter_numbers(fno, "Purpose gt 'm' and Purpose lt 'N'") == [memo]


def test_datetime_comparisons(fno: Stand) -> None:
    early, late = seed_activities(fno, ["early", "late"])
    fno.state.update("Activities", {"ActivityNumber": early}, {"StartDateTime": "2024-01-01T08:00:00Z"})
    fno.state.update("Activities", {"ActivityNumber": late}, {"StartDateTime": "2024-06-01T08:00:00+02:00"})
    assert filter_numbers(fno, "StartDateTime ge 2024-01-01T08:00:00Z") == [early, late]
    assert filter_numbers(fno, "StartDateTime gt 2024-01-01T08:00:00Z") == [late]
    assert filter_numbers(fno, "StartDateTime eq 2024-06-01T06:00:00Z") == [late]
    assert filter_numbers(fno, "StartDateTime lt 2024-01-01T09:00:00+01:00") == []
    assert filter_numbers(fno, "StartDateTime le 2024-01-01T09:00:00+01:00") == [early]
    assert filter_numbers(fno, "LastDateTimeEdited ge 2025-03-01T09:30:15Z") == [early, late]
    quoted = fno.client.get("/data/Activities", params={"$filter": "StartDateTime ge '2024-01-01T00:00:00Z'"})
    assert quoted.status_code == 400
    row = fno.state.get("Activities", {"ActivityNumber": late})
    assert row is not None and row["StartDateTime"] == "2024-06-01T06:00:00Z"


def test_numbers_booleans_and_null(fno: Stand) -> None:
    (busy,) = seed_activities(fno, ["busy"], ActualWork=2.5, ReminderMinutes=15)
    (idle,) = seed_activities(fno, ["idle"])
    assert filter_numbers(fno, "ActualWork gt 2") == [busy]
    assert filter_numbers(fno, "ActualWork eq 2.5 and ReminderMinutes ge 15") == [busy]
    assert filter_numbers(fno, "ReminderMinutes eq 0") == [idle]
    assert filter_numbers(fno, "Purpose eq null") == []
    assert fno.client.get("/data/Activities", params={"$filter": "ActualWork eq '2'"}).status_code == 400
    row = values(fno.client.get("/data/Activities", params={"$filter": "ActualWork gt 2"}))[0]
    assert row["ActualWork"] == 2.5 and isinstance(row["ReminderMinutes"], int)


# -- writes --------------------------------------------------------------------------------------------


def test_post_creates_a_full_record_with_a_number_and_an_edit_stamp(fno: Stand) -> None:
    body = {"Purpose": "Call", "Category": "Task", "StartDateTime": "2025-03-02T10:00:00.1234567Z"}
    created = fno.client.post("/data/Activities", json=body)
    assert created.status_code == 201
    record = created.json()
    assert record["ActivityNumber"] == "ACT-000001"
    assert record["dataAreaId"] == "usmf"
    assert record["StartDateTime"] == "2025-03-02T10:00:00Z"
    assert record["LastDateTimeEdited"] == "2025-03-01T09:30:15Z"
    assert record["KeepSynchronized"] == "No" and record["Notes"] == ""
    assert record["@odata.etag"].startswith('W/"')
    assert created.headers["Location"].endswith(
        "/data/Activities(dataAreaId='usmf',ActivityNumber='ACT-000001')"
    )
    again = fno.client.post("/data/Activities", json={**body, "ActivityNumber": "act-000001"})
    assert again.status_code == 400
    assert len(fno.state.all("Activities")) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"Purpos": "typo"},
        {"Category": "Meeting"},
        {"Category": 1},
        {"StartDateTime": "2025-03-02T10:00:00"},
        {"StartDateTime": None},
        {"ActualWork": "1"},
        {"ReminderMinutes": True},
    ],
)
def test_post_rejects_what_odata_rejects(fno: Stand, body: dict[str, Any]) -> None:
    response = fno.client.post("/data/Activities", json=body)
    assert response.status_code == 400, body
    error_message(response)
    assert fno.state.all("Activities") == []


def test_patch_updates_bumps_the_stamp_and_never_moves_it_back(fno: Stand) -> None:
    (number,) = seed_activities(fno, ["old"])
    path = key_path("Activities", dataAreaId="usmf", ActivityNumber=number)
    fno.tick(timedelta(seconds=5))
    assert fno.client.patch(path, json={"Purpose": "new", "ShowTimeAs": "Busy"}).status_code == 204
    row = fno.client.get(path).json()
    assert (row["Purpose"], row["ShowTimeAs"], row["LastDateTimeEdited"]) == (
        "new",
        "Busy",
        "2025-03-01T09:30:20Z",
    )
    fno.tick(timedelta(minutes=-10))
    assert fno.client.patch(path, json={"Purpose": "again"}).status_code == 204
    assert fno.client.get(path).json()["LastDateTimeEdited"] == "2025-03-01T09:30:20Z"
    assert fno.client.patch(path, json={"ActivityNumber": "ACT-999999"}).status_code == 400
    assert fno.client.patch(path, json={"Nope": 1}).status_code == 400
    assert fno.client.patch(path, json={"ShowTimeAs": "Away"}).status_code == 400
    assert (
        fno.client.patch(path, json={"ActivityNumber": number.lower(), "Purpose": "same key"}).status_code
        == 204
    )


def test_edits_inside_one_second_share_a_stamp(fno: Stand) -> None:
    (number,) = seed_activities(fno, ["a"])
    before = fno.state.get("Activities", {"ActivityNumber": number})
    fno.tick(timedelta(milliseconds=100))
    after = fno.state.update("Activities", {"ActivityNumber": number}, {"Purpose": "b"})
    assert before is not None and before["LastDateTimeEdited"] == after["LastDateTimeEdited"]
    assert after["Purpose"] == "b"


def test_if_match_protects_against_lost_updates(fno: Stand) -> None:
    (number,) = seed_activities(fno, ["a"])
    path = key_path("Activities", dataAreaId="usmf", ActivityNumber=number)
    etag = fno.client.get(path).json()["@odata.etag"]
    assert fno.client.patch(path, json={"Purpose": "b"}, headers={"If-Match": etag}).status_code == 204
    assert fno.client.patch(path, json={"Purpose": "c"}, headers={"If-Match": etag}).status_code == 412
    assert fno.client.delete(path, headers={"If-Match": "*"}).status_code == 204


def test_user_edits_in_fno_bump_the_contact_stamp(fno: Stand) -> None:
    fno.state.add("ContactPersons", {"ContactPersonId": "CP1", "FirstName": "Ann"})
    fno.tick(timedelta(hours=1))
    edited = fno.state.update("ContactPersons", {"ContactPersonId": "CP1"}, {"FirstName": "Anne"})
    assert edited["LastEditDateTime"] == "2025-03-01T10:30:15Z"
    listed = fno.client.get(
        "/data/ContactPersons", params={"$filter": "LastEditDateTime gt 2025-03-01T10:00:00Z"}
    )
    assert [row["ContactPersonId"] for row in values(listed)] == ["CP1"]


def test_delete_removes_and_deletions_are_only_visible_as_absence(fno: Stand) -> None:
    kept, gone = seed_activities(fno, ["kept", "gone"])
    assert (
        fno.client.delete(key_path("Activities", dataAreaId="usmf", ActivityNumber=gone)).status_code == 204
    )
    assert fno.client.get(key_path("Activities", dataAreaId="usmf", ActivityNumber=gone)).status_code == 404
    assert numbers(fno.client.get("/data/Activities")) == [kept]
    fno.state.delete("Activities", {"ActivityNumber": kept})
    assert numbers(fno.client.get("/data/Activities")) == []
    with pytest.raises(KeyError):
        fno.state.delete("Activities", {"ActivityNumber": kept})


def test_request_log_records_method_path_query_and_status(fno: Stand) -> None:
    fno.client.get("/data/Activities", params={"cross-company": "true", "$filter": "Purpose eq 'a b'"})
    fno.client.get("/data/Nope")
    assert fno.state.request_log == [
        {
            "method": "GET",
            "path": "/data/Activities",
            "query": "cross-company=true&$filter=Purpose eq 'a b'",
            "status": 200,
        },
        {"method": "GET", "path": "/data/Nope", "query": "", "status": 404},
    ]


# -- $batch ------------------------------------------------------------------------------------------------


def batch_body(changeset: list[str], plain: list[str]) -> str:
    parts = [
        f"--cs\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {i + 1}\r\n\r\n"
        f"{request}\r\n"
        for i, request in enumerate(changeset)
    ]
    body = f"--batch\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n{''.join(parts)}--cs--\r\n"
    for request in plain:
        body += f"--batch\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{request}\r\n"
    return body + "--batch--\r\n"


def post_batch(stand: Stand, body: str) -> httpx.Response:
    headers = {"Content-Type": "multipart/mixed; boundary=batch"}
    response = stand.client.post("/data/$batch", content=body.encode(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=batchresponse_")
    return response


def create(purpose: str, extra: str = "") -> str:
    body = f'{{"Purpose": "{purpose}"{extra}}}'
    return f"POST Activities?cross-company=true HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}"


def test_batch_changeset_commits_and_plain_parts_run(fno: Stand) -> None:
    read = "GET /data/Activities/$count HTTP/1.1\r\nAccept: text/plain\r\n"
    response = post_batch(fno, batch_body([create("one"), create("two")], [read]))
    assert response.text.count("HTTP/1.1 201 Created") == 2
    assert "Content-ID: 2" in response.text
    assert "HTTP/1.1 200 OK" in response.text and "\r\n\r\n2\r\n" in response.text
    assert sorted(row["Purpose"] for row in fno.state.all("Activities")) == ["one", "two"]


def test_batch_changeset_is_all_or_nothing(fno: Stand) -> None:
    response = post_batch(fno, batch_body([create("one"), create("two", ', "Nope": 1')], []))
    assert "HTTP/1.1 201" not in response.text
    assert response.text.count("HTTP/1.1 400 Bad Request") == 1
    assert "Nope" in response.text
    assert fno.state.all("Activities") == []
    # The number sequence rolled back too.
    assert fno.state.add("Activities", {"Purpose": "after"})["ActivityNumber"] == "ACT-000001"


def test_batch_without_a_boundary_is_400(fno: Stand) -> None:
    response = fno.client.post("/data/$batch", content=b"x", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
