"""The kinds (each one `Kind` record of parts) and one-way feeds the planner schedules, and the order it
queues their scans in."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields

import pytest

from sync_core.kinds import SCHEDULE, all_feeds, all_kinds
from sync_core.runtime.context import SyncContext
from sync_core.runtime.kind import (
    NO_MATCHING,
    FieldMapping,
    Kind,
    Listings,
    Matching,
    Partners,
    Writes,
    no_folder,
)


def test_every_kind_and_feed_has_its_place_in_the_schedule() -> None:
    kinds, feeds = all_kinds(), all_feeds()
    assert not set(kinds) & set(feeds)
    assert sorted(SCHEDULE) == sorted([*kinds, *feeds])
    assert "email" in feeds  # the e-mail import is a one-way feed, not a kind with stubs


def test_scans_are_planned_in_the_schedules_order() -> None:
    ctx = SyncContext(
        settings=None,  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]
        graph=None,  # type: ignore[arg-type]
        fno=None,  # type: ignore[arg-type]
        queues=None,  # type: ignore[arg-type]
        kinds=all_kinds(),
        feeds=all_feeds(),
        schedule=SCHEDULE,
    )
    assert ctx.scheduled() == list(SCHEDULE)
    ctx.schedule = ()
    assert ctx.scheduled() == [*all_kinds(), *all_feeds()]  # without a schedule: kinds, then feeds


def _public(obj: object) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


def _protocol_members(protocol: type) -> set[str]:
    return {name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")}


PARTS = {
    "mapping": FieldMapping,
    "partners": Partners,
    "matching": Matching,
    "writes": Writes,
    "listings": Listings,
}


def test_each_kind_is_one_record_of_parts_with_one_job_each() -> None:
    """Each kind is a frozen `Kind`; each part answers its own protocol and nothing else (no kind-wide
    object passed as several parts), and the parts of a kind are distinct objects. mypy checks each part
    against its protocol where the kind's factory builds the record."""
    assert sorted(f.name for f in fields(Kind)) == sorted(
        ["name", "rules", "fno_side", "graph_side", *PARTS, "existing_folder_id"]
    )
    for name, kind in all_kinds().items():
        assert isinstance(kind, Kind) and kind.name == name
        with pytest.raises(FrozenInstanceError):
            kind.name = "other"  # type: ignore[misc]
        parts = [getattr(kind, field) for field in PARTS]
        assert len({id(part) for part in parts}) == len(parts), name
        for field, protocol in PARTS.items():
            assert _public(getattr(kind, field)) == _protocol_members(protocol), (name, field)


def test_kinds_state_what_they_do_differently_from_the_records_defaults() -> None:
    """A part left out of a kind's record takes the default stated in `Kind` (the rules: test_kind_rules.py)."""
    kinds = all_kinds()
    matching = {name for name, kind in kinds.items() if kind.matching is not NO_MATCHING}
    assert matching == {"appointment"}  # first-run matching by content
    folders = {name for name, kind in kinds.items() if kind.existing_folder_id is not no_folder}
    assert folders == {"contact", "shared_contact"}  # the list's folder
