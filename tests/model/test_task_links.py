"""How a To Do task is named and stamped: task references, the linkedResource stamp, the F&O deep link."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sync_core.kinds.task_todo import APPLICATION_NAME, compose, deep_link, linked_resource, split, stamp_of


def test_task_references_round_trip_and_refuse_what_is_not_one() -> None:
    ref = compose("AQMkAD/+list==", "AAMkAD+/task=")
    assert split(ref) == ("AQMkAD/+list==", "AAMkAD+/task=")
    for bad in ("", "only-one-part", "|task", "list|", "pending:usmf|ACT-000001", "a|b|c"):
        with pytest.raises(ValueError):
            split(bad)
    for list_id, task_id in (
        ("", "t"),
        ("l", ""),
        ("l|x", "t"),
        ("l", "t|x"),
        ("pending:x", "t"),
        ("l", "t" * 2000),
    ):
        with pytest.raises(ValueError):
            compose(list_id, task_id)


def test_stamp_is_read_only_from_this_products_resource() -> None:
    ours = linked_resource("https://contoso.operations.dynamics.com", "usmf|ACT-000123")
    assert ours["applicationName"] == APPLICATION_NAME and ours["externalId"] == "usmf|ACT-000123"
    other = {"applicationName": "Planner", "externalId": "usmf|ACT-000999"}
    broken: list[Any] = [{"applicationName": APPLICATION_NAME, "externalId": "no key"}, "junk", None]
    assert stamp_of({"linkedResources": [other, ours, *broken]}) == "usmf|ACT-000123"
    assert stamp_of({"linkedResources": [other]}) is None
    assert stamp_of({"linkedResources": "not a list"}) is None
    assert stamp_of({}) is None
    newer = {**ours, "externalId": "usmf|ACT-000124"}
    assert stamp_of({"linkedResources": [ours, newer]}) == "usmf|ACT-000124"


def test_deep_link_opens_the_activity_in_its_company() -> None:
    number = "ACT-0001&x='\"#"  # hostile characters stay inside the query value
    url = deep_link("https://contoso.operations.dynamics.com/", "usmf", number)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "contoso.operations.dynamics.com", "/")
    query = parse_qs(parts.query)
    assert query["cmp"] == ["USMF"] and query["mi"] == ["display:smmActivities"]
    assert json.loads(query["q"][0]) == {
        "Parameters": [
            {"DataSource": "smmActivities", "FieldValues": [{"Field": "ActivityNumber", "Value": number}]}
        ]
    }
    assert parts.fragment == ""  # an unencoded "#" would cut the query short
