"""The wire inventory (docs/wire.md) and the check that keeps it in step (tests/wire_inventory.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pytest

from tests import wire_inventory
from tests.wire_inventory import Shape, load_inventory, unlisted


def test_every_row_names_its_source() -> None:
    rows = load_inventory()
    assert len(rows) > 40
    text = wire_inventory.INVENTORY.read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("| `"):
            source = line.rstrip("|").rsplit("|", 1)[-1]
            assert (
                "https://learn.microsoft.com/" in source
                or "standard entity" in source
                or "the same" in source
                or ("not a standard entity" in source or "OData" in source)
            ), line


def _graph(
    method: str,
    path: str,
    options: Iterable[str] = (),
    prefer: Iterable[str] = (),
    if_match: bool = False,
) -> Shape:
    return Shape("graph", method, path, frozenset(options), frozenset(prefer), if_match)


@pytest.mark.parametrize(
    "shape",
    [
        _graph(
            "GET",
            "/users/a@contoso.com/calendarView/delta",
            {"startdatetime", "enddatetime"},
            {"odata.maxpagesize"},
        ),
        _graph("PATCH", "/users/a@contoso.com/events/AAMk%2Fx=", set(), {"idtype"}, if_match=True),
        _graph("GET", "/users/a@contoso.com/todo/lists/L1/tasks/delta", {"$deltatoken"}),
        Shape(
            "fno",
            "PATCH",
            "/data/Activities(dataAreaId='usmf',ActivityNumber='A/1')",
            frozenset({"cross-company"}),
            frozenset(),
            True,
        ),
    ],
)
def test_what_the_product_sends_is_listed(shape: Shape) -> None:
    assert unlisted([shape]) == []


@pytest.mark.parametrize(
    "shape",
    [
        _graph("GET", "/users/a@contoso.com/contacts/delta"),  # undocumented: the product reads by folder
        _graph("GET", "/users/a@contoso.com/calendarView/delta", {"$select"}),  # event-delta: not supported
        _graph("GET", "/users/a@contoso.com/events/AAMk/attachments"),  # another segment after the id
        _graph("POST", "/users/a@contoso.com/messages/AAMk", if_match=True),
        _graph("PATCH", "/users/a@contoso.com/messages/AAMk", if_match=True),  # not a conditional write
        Shape("fno", "GET", "/data/SalesOrderHeadersV2", frozenset(), frozenset(), False),
    ],
)
def test_anything_else_is_named(shape: Shape) -> None:
    assert unlisted([shape]) == [shape]


def test_a_request_outside_the_list_fails_the_check_with_its_shape() -> None:
    log = [
        {"method": "GET", "path": "/users/a/contacts/delta", "segments": ["users", "a", "contacts", "delta"]}
    ]
    with pytest.raises(AssertionError, match=re.escape("graph GET /users/{user}/contacts/delta")):
        wire_inventory.check_logs(log, [])
