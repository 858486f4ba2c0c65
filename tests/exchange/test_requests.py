"""What goes on the wire for each operation, and how answers are read."""

from __future__ import annotations

import json

import httpx
import pytest

from sync_core.exchange import GraphError, GraphNotFound
from sync_core.exchange.prefer import combine, split_prefer

from .fakes import body_of, decoded_segments, graph_error, make_client, path_of, query_of

MAILBOX = "adele.vance@contoso.com"
NASTY_ID = "AAMkAG/x+y==Zz"
PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name FnoKey"
OUTLOOK_PREFS = {'IdType="ImmutableId"', 'outlook.timezone="UTC"', 'outlook.body-content-type="text"'}


def prefs(request: httpx.Request) -> set[str]:
    assert len(request.headers.get_list("Prefer")) == 1, "preferences belong in one header"
    return set(split_prefer(request.headers["Prefer"]))


def test_prefer_combine_keeps_one_of_each_name_and_later_wins() -> None:
    merged = combine(
        ['IdType="ImmutableId"', 'outlook.timezone="UTC"'], ['outlook.timezone="Pacific Standard Time"']
    )
    assert merged == 'IdType="ImmutableId", outlook.timezone="Pacific Standard Time"'


async def test_every_kind_of_request_carries_the_outlook_preferences() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(204)
        if path_of(request).endswith("/timeZone"):
            return httpx.Response(200, json={"value": "W. Europe Standard Time"})
        if path_of(request).endswith("/masterCategories") and request.method == "GET":
            return httpx.Response(200, json={"value": []})
        if path_of(request).endswith("$batch"):
            return httpx.Response(200, json={"responses": [{"id": "1", "status": 200, "body": {}}]})
        return httpx.Response(200, json={"id": "x", "value": []})

    client, recorder, _ = make_client(handler)
    await client.get_user(MAILBOX)
    await client.list_group_member_mails("g1")
    await client.get_mailbox_time_zone(MAILBOX)
    await client.ensure_category(MAILBOX, "D365 Sync")
    await client.get_event(MAILBOX, NASTY_ID)
    await client.find_events_by_property(MAILBOX, PROP, "v")
    await client.create_event(MAILBOX, {"subject": "s", "transactionId": "t"})
    await client.update_event(MAILBOX, NASTY_ID, {"subject": "s"})
    await client.delete_event(MAILBOX, NASTY_ID)
    await client.request_json("GET", MAILBOX, f"users/{MAILBOX}/todo/lists")
    await client.batch(MAILBOX, [{"method": "GET", "url": f"/users/{MAILBOX}/events"}])
    await client.close()

    assert len(recorder.requests) == 12
    for request in recorder.requests:
        assert prefs(request) >= OUTLOOK_PREFS, request.url
    batch_items = body_of(recorder.requests[-1])["requests"]
    assert set(split_prefer(batch_items[0]["headers"]["Prefer"])) >= OUTLOOK_PREFS


async def test_caller_preferences_are_merged_not_duplicated() -> None:
    client, recorder, _ = make_client(lambda request: httpx.Response(200, json={}))
    await client.request_json(
        "GET",
        MAILBOX,
        "users/x/messages/y",
        headers={"prefer": 'outlook.body-content-type="html"', "X-Test": "1"},
    )
    await client.close()
    request = recorder.requests[0]
    assert prefs(request) == {
        'IdType="ImmutableId"',
        'outlook.timezone="UTC"',
        'outlook.body-content-type="html"',
    }
    assert request.headers["X-Test"] == "1"


async def test_ids_with_slash_plus_and_equals_are_encoded_and_round_trip() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"id": decoded_segments(request)[-1]})

    client, _, _ = make_client(handler)
    got = await client.get_event(MAILBOX, NASTY_ID)
    patched = await client.update_event(MAILBOX, NASTY_ID, {"subject": "x"})
    await client.delete_event(MAILBOX, NASTY_ID)
    await client.close()

    assert got == {"id": NASTY_ID}
    assert patched == {"id": NASTY_ID}
    for request in seen:
        assert path_of(request) == f"/v1.0/users/{MAILBOX}/events/AAMkAG%2Fx%2By%3D%3DZz"


async def test_patch_sends_explicit_nulls() -> None:
    client, recorder, _ = make_client(lambda request: httpx.Response(200, json={"id": "e"}))
    await client.update_event(
        MAILBOX, "e", {"location": None, "body": {"contentType": "text", "content": ""}}
    )
    await client.close()
    request = recorder.requests[0]
    assert request.method == "PATCH"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"location": None, "body": {"contentType": "text", "content": ""}}
    assert b'"location": null' in request.content


async def test_get_event_expands_the_stamp_and_404_means_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "missing" in path_of(request):
            return graph_error(404, "ErrorItemNotFound")
        return httpx.Response(
            200, json={"id": "e1", "singleValueExtendedProperties": [{"id": PROP, "value": "k"}]}
        )

    client, recorder, _ = make_client(handler)
    event = await client.get_event(MAILBOX, "e1", stamp_property_id=PROP)
    assert await client.get_event(MAILBOX, "missing") is None
    await client.close()
    assert event is not None and event["singleValueExtendedProperties"][0]["value"] == "k"
    assert query_of(recorder.requests[0]) == {
        "$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"
    }
    assert "$expand" not in query_of(recorder.requests[1])


async def test_find_events_by_property_escapes_quotes_and_follows_pages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "$skiptoken" in str(request.url):
            return httpx.Response(200, json={"value": [{"id": "b"}]})
        link = f"https://graph.microsoft.com/v1.0/users/{MAILBOX}/events?$skiptoken=2"
        return httpx.Response(200, json={"value": [{"id": "a"}], "@odata.nextLink": link})

    client, recorder, _ = make_client(handler)
    found = await client.find_events_by_property(MAILBOX, PROP, "O'Brien & Co")
    await client.close()
    assert [event["id"] for event in found] == ["a", "b"]
    query = query_of(recorder.requests[0])
    assert query["$filter"] == (
        f"singleValueExtendedProperties/any(ep: ep/id eq '{PROP}' and ep/value eq 'O''Brien & Co')"
    )
    assert query["$expand"] == f"singleValueExtendedProperties($filter=id eq '{PROP}')"


async def test_create_event_posts_the_body_and_requires_a_transaction_id() -> None:
    client, recorder, _ = make_client(
        lambda request: httpx.Response(201, json={"id": "new", **body_of(request)})
    )
    body = {
        "subject": "s",
        "transactionId": "fno-usmf-ACT-1",
        "singleValueExtendedProperties": [{"id": PROP, "value": "k"}],
    }
    created = await client.create_event(MAILBOX, body)
    with pytest.raises(ValueError, match="transactionId"):
        await client.create_event(MAILBOX, {"subject": "s"})
    await client.close()
    assert created["id"] == "new"
    assert len(recorder.requests) == 1
    assert recorder.requests[0].method == "POST"
    assert path_of(recorder.requests[0]) == f"/v1.0/users/{MAILBOX}/events"
    assert body_of(recorder.requests[0]) == body


async def test_delete_tolerates_404_but_not_other_errors() -> None:
    answers = iter([graph_error(404, "ErrorItemNotFound"), graph_error(403, "ErrorAccessDenied")])
    client, _, _ = make_client(lambda request: next(answers))
    await client.delete_event(MAILBOX, "gone")
    with pytest.raises(GraphError) as caught:
        await client.delete_event(MAILBOX, "forbidden")
    await client.close()
    assert caught.value.status == 403 and caught.value.code == "ErrorAccessDenied"


async def test_get_user_reads_fields_and_404_is_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "nobody" in path_of(request):
            return graph_error(404, "Request_ResourceNotFound")
        return httpx.Response(
            200,
            json={
                "id": "u-1",
                "mail": None,
                "userPrincipalName": "adele@contoso.com",
                "displayName": "Adele",
            },
        )

    client, recorder, _ = make_client(handler)
    user = await client.get_user(MAILBOX)
    assert await client.get_user("nobody@contoso.com") is None
    await client.close()
    assert user is not None
    assert (user.id, user.mail, user.user_principal_name, user.display_name) == (
        "u-1",
        "",
        "adele@contoso.com",
        "Adele",
    )
    assert query_of(recorder.requests[0])["$select"] == "id,mail,userPrincipalName,displayName"


async def test_group_members_are_paged_and_only_users_with_mail_count() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "$skiptoken" in str(request.url):
            return httpx.Response(
                200, json={"value": [{"@odata.type": "#microsoft.graph.user", "mail": "b@contoso.com"}]}
            )
        return httpx.Response(
            200,
            json={
                "value": [
                    {"@odata.type": "#microsoft.graph.user", "id": "1", "mail": "a@contoso.com"},
                    {"@odata.type": "#microsoft.graph.group", "id": "2", "mail": "team@contoso.com"},
                    {"@odata.type": "#microsoft.graph.user", "id": "3", "mail": None},
                ],
                "@odata.nextLink": "https://graph.microsoft.com/v1.0/groups/g%2F1/members?$skiptoken=x",
            },
        )

    client, recorder, _ = make_client(handler)
    mails = await client.list_group_member_mails("g/1")
    await client.close()
    assert mails == ["a@contoso.com", "b@contoso.com"]
    assert path_of(recorder.requests[0]) == "/v1.0/groups/g%2F1/members"  # no cast: group-list-members.md


async def test_time_zone_comes_back_as_graph_gives_it() -> None:
    client, recorder, _ = make_client(
        lambda request: httpx.Response(200, json={"value": "Pacific Standard Time"})
    )
    assert await client.get_mailbox_time_zone(MAILBOX) == "Pacific Standard Time"
    await client.close()
    assert path_of(recorder.requests[0]) == f"/v1.0/users/{MAILBOX}/mailboxSettings/timeZone"


@pytest.mark.parametrize(
    ("existing", "post_answer", "expected", "posts"),
    [
        ([{"displayName": "d365 sync", "color": "preset1"}], None, False, 0),
        ([{"displayName": "Red category"}], httpx.Response(201, json={"id": "c"}), True, 1),
        ([], graph_error(409, "ErrorDuplicateCategory"), False, 1),
    ],
)
async def test_ensure_category(
    existing: list[dict[str, str]], post_answer: httpx.Response | None, expected: bool, posts: int
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"value": existing})
        assert post_answer is not None
        return post_answer

    client, recorder, _ = make_client(handler)
    assert await client.ensure_category(MAILBOX, "D365 Sync", "preset4") is expected
    await client.close()
    post_requests = [r for r in recorder.requests if r.method == "POST"]
    assert len(post_requests) == posts
    if posts:
        assert body_of(post_requests[0]) == {"displayName": "D365 Sync", "color": "preset4"}
        assert path_of(post_requests[0]) == f"/v1.0/users/{MAILBOX}/outlook/masterCategories"


async def test_request_json_returns_none_for_empty_answers_and_raises_not_found() -> None:
    answers = iter(
        [httpx.Response(204), graph_error(404, "ErrorItemNotFound"), httpx.Response(200, content=b"[1]")]
    )
    client, recorder, _ = make_client(lambda request: next(answers))
    assert (
        await client.request_json("PATCH", MAILBOX, "users/x/todo/lists/l/tasks/t", body={"title": None})
        is None
    )
    with pytest.raises(GraphNotFound):
        await client.request_json("GET", MAILBOX, "users/x/contacts/c")
    with pytest.raises(GraphError, match="InvalidResponse"):
        await client.request_json("GET", MAILBOX, "users/x/contacts")
    await client.close()
    assert body_of(recorder.requests[0]) == {"title": None}


def test_error_text_carries_no_personal_data() -> None:
    error = GraphNotFound(
        404, "ErrorItemNotFound", "The mailbox adele.vance@contoso.com was not found", request_id="r-1"
    )
    assert "adele" not in str(error) and "adele" not in repr(error)
    assert str(error) == "Graph 404 ErrorItemNotFound (request-id r-1)"
    assert error.message.startswith("The mailbox")
