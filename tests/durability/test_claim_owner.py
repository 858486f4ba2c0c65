"""A claim held by a worker that is still creating is waited for, even with no wait for unknown outcomes.

The sample mailbox holds two copies of one e-mail (same internetMessageId, two folders): their imports run
side by side and claim the same identity. With SYNC_CREATE_OUTCOME_WAIT_SECONDS=0 a claim whose owner died
is taken over at once, but one whose owner is this very process, creating right now, is not."""

from __future__ import annotations

from pathlib import Path

from sync_core.runtime import owner
from tests.e2e.harness import sample_tenant


def test_two_copies_of_one_email_make_one_activity_without_a_create_wait(tmp_path: Path) -> None:
    with sample_tenant(tmp_path) as tenant:
        for _ in range(3):
            tenant.cycle(SYNC_CREATE_OUTCOME_WAIT_SECONDS="0", SYNC_RETRY_MINUTES="0")
            tenant.advance(minutes=5)
        entries = [
            str(a.get("OutlookEntryId"))
            for a in tenant.fno.all("Activities")
            if a.get("Category") == "Event" and a.get("OutlookEntryId")
        ]
        assert entries and len(entries) == len(set(entries))


def test_a_live_owner_is_busy_a_dead_or_foreign_one_is_not() -> None:
    me = owner.this_process()
    assert not owner.busy(me, "claim-a")  # ours, but no create in flight
    with owner.creating("claim-a"):
        assert owner.busy(me, "claim-a")
    assert not owner.busy("some-other-host:1", "claim-a")  # cannot be asked: the configured wait applies
    assert not owner.busy("", "claim-a")
