"""Resource strings of change notifications: the spellings in Microsoft's samples, Outlook ids (standard
base64: `/`, `+`, `=`; `-` and `_` in other forms) in each, and hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_core.notifications.resources import MAX_RESOURCE_LENGTH, ResourceRef, parse_resource

EXAMPLES = Path(__file__).resolve().parents[2] / "simulators" / "reference" / "graph-examples"
USER = "622eaaff-0683-4862-9de4-f2ec83c2bd98"


def test_the_published_samples_parse() -> None:
    outlook = json.loads((EXAMPLES / "changenotification-collection-outlook.json").read_text("utf-8"))
    keyed = json.loads((EXAMPLES / "changenotification-collection-resourcedata.json").read_text("utf-8"))
    assert parse_resource(outlook["request_body"]["value"][0]["resource"]) == ResourceRef(USER, "messages")
    assert parse_resource(keyed["request_body"]["value"][0]["resource"]) == ResourceRef(
        "722effaf-0433-4272-9ac4-d5ec11c3cd77", "messages"
    )


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        # users/{guid}@{tenant}/...: the tenant is not part of the user's id.
        (
            f"users/{USER}@84bd8158-6d4d-4958-8b9f-9d6445542f95/messages/AAMkAGI=",
            ResourceRef(USER, "messages"),
        ),
        (f"Users/{USER}/Messages/AAMkAGUwNjQ4ZjIxAAA=", ResourceRef(USER, "messages")),
        (f"Users('{USER}')/messages('AAMkAGUwNjQ4ZjIxLTQ3Y2Y8AAA=')", ResourceRef(USER, "messages")),
        (f"Users/{USER.upper()}/Events/AAMkAGI=", ResourceRef(USER, "events")),
        (f"Users('{USER}')/Events('AAMk/+=')", ResourceRef(USER, "events")),
        (f"/users/{USER}/events", ResourceRef(USER, "events")),
        (f"users/{USER}/calendar/events/AAMkAGI=", ResourceRef(USER, "events")),
        (f"users/{USER}/calendars('AAMkCal=')/events/AAMkAGI=", ResourceRef(USER, "events")),
        (f"Users/{USER}/ContactFolders/AQMkAD=/Contacts/AAMkAGI=", ResourceRef(USER, "contacts")),
        (f"Users('{USER}')/contactFolders('AQMkAD=')/contacts('AAMk')", ResourceRef(USER, "contacts")),
        (f"Users/{USER}/Contacts/AAMkAGI=", ResourceRef(USER, "contacts")),
        (f"Users/{USER}/mailFolders('Inbox')/messages/AAMk", ResourceRef(USER, "messages")),
        ("users/Alice@Contoso.com/events/AAMk", ResourceRef("alice@contoso.com", "events")),
    ],
)
def test_spellings(resource: str, expected: ResourceRef | None) -> None:
    assert parse_resource(resource) == expected


# Outlook ids as Graph hands them out: standard base64 may hold '/', '+' and '=' anywhere, other forms '-'
# and '_'. Events, messages and contacts alike; the folder ids of the containers too.
IDS = [
    "AAMkAGUwNjQ4ZjIxAAA=",
    "AAMkAGI2T/+abc/def==",
    "AAMk/AGI2/",
    "/AAMkAGI2",
    "AAMkAGI2+/+/=",
    "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AGnUPtcQC-Eiwmc39SmMpPgAA_AAA",
    "AAMkAGI2/Events/AAA=",  # an id may even spell a collection's name
]


@pytest.mark.parametrize("item_id", IDS)
@pytest.mark.parametrize("collection", ["events", "messages", "contacts"])
def test_ids_in_graphs_alphabet_parse_in_every_spelling(item_id: str, collection: str) -> None:
    tenant = "84bd8158-6d4d-4958-8b9f-9d6445542f95"
    expected = ResourceRef(USER, collection)
    spellings = [
        f"users/{USER}@{tenant}/{collection}/{item_id}",
        f"Users/{USER}/{collection.capitalize()}/{item_id}",
        f"Users('{USER}')/{collection}('{item_id}')",
    ]
    folder = {"events": "calendars", "messages": "mailFolders", "contacts": "contactFolders"}[collection]
    spellings += [
        f"Users/{USER}/{folder}/{item_id}/{collection}/{item_id}",
        f"Users('{USER}')/{folder}('{item_id}')/{collection}('{item_id}')",
    ]
    for resource in spellings:
        assert parse_resource(resource) == expected, resource


def test_stand_in_spellings_with_slashed_ids_parse() -> None:
    from simulators.graph.subscriptions import _spell

    for spelling in ("path", "key", "tenant"):
        resource = _spell(spelling, USER, "events", "AAMk/x+y=", "84bd8158-6d4d-4958-8b9f-9d6445542f95")
        assert parse_resource(resource) == ResourceRef(USER, "events"), spelling


@pytest.mark.parametrize(
    "resource",
    [
        "",
        "users",
        f"users/{USER}",
        f"groups/{USER}/events/x",
        f"users/{USER}/todo/lists/x/tasks/y",  # To Do has no notifications for apps
        f"users/{USER}/messages('x')/attachments('y')",  # nothing may follow a quoted item key
        f"users/{USER}//messages/x",
        "users/{user_guid}@{tenant_guid}/messages/{long_id_string}",  # the docs' placeholders
        "users/not-a-guid/events/x",
        f"users/{USER}/events/x\n",
        f"users/{USER}/events/x y",
        f"users/{USER}/events/x\u00e9",
        f"users/{USER}/mailFolders/messages",  # a folder without its key
        "users/" + "a" * MAX_RESOURCE_LENGTH,
    ],
)
def test_hostile_or_foreign_resources_give_none(resource: str) -> None:
    assert parse_resource(resource) is None


@pytest.mark.parametrize("value", [None, 1, ["users"], {"resource": "x"}, b"users/x/events"])
def test_non_strings_give_none(value: object) -> None:
    assert parse_resource(value) is None


@given(st.text(max_size=300))
def test_never_raises(text: str) -> None:
    result = parse_resource(text)
    assert result is None or result.collection in ("events", "messages", "contacts")


@given(
    st.lists(
        st.sampled_from(["users", USER, "events", "messages", "contacts", "('x')", "'", "(", "/", "@"]),
        max_size=12,
    )
)
def test_never_raises_on_near_misses(parts: list[str]) -> None:
    result = parse_resource("/".join(parts))
    assert result is None or result.user == USER
