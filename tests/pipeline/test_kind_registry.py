"""The kinds and one-way feeds the planner schedules, and the order it queues their scans in."""

from __future__ import annotations

from sync_core.kinds import SCHEDULE, all_feeds, all_kinds
from sync_core.runtime.context import SyncContext
from sync_core.runtime.kind import KindDefaults


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


def test_kinds_answer_themselves_what_they_do_differently() -> None:
    """A misspelt override would silently fall back to the default of KindDefaults (the rules: see
    test_kind_rules.py)."""
    own = {
        "appointment": {"match_graph_partners", "match_fno_partners"},
        "task": set(),
        "contact": {"existing_folder_id", "stamp_graph"},  # finishing a create: more than the stamp
        "shared_contact": {"existing_folder_id", "stamp_graph"},
    }
    kinds = all_kinds()
    assert sorted(own) == sorted(kinds)
    for name, kind in kinds.items():
        for member in own[name]:
            assert getattr(type(kind), member) is not getattr(KindDefaults, member), (name, member)
