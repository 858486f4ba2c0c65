"""Registry refreshes and subscription renewals spread over the day, never late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync_core.notifications.subscriptions import LIFETIME, RENEW_BEFORE, renew_before
from sync_core.pipeline.plan import REFRESH_MAILBOX_AFTER, checked_recently, refresh_after
from sync_core.state.base import MailboxRecord

T0 = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
CYCLE = timedelta(minutes=5)
MAILBOXES = [f"user{n:04d}@contoso.com" for n in range(200)]


def _hours(times: list[datetime]) -> int:
    return len({t.replace(minute=0, second=0, microsecond=0) for t in times})


def test_renewals_of_one_go_live_spread_over_a_day_and_never_lapse() -> None:
    """Every subscription made in one cycle; the timer visits each every 5 minutes for 6 days."""
    expiry = dict.fromkeys(MAILBOXES, T0 + LIFETIME)
    renewed: list[datetime] = []
    first_round: list[datetime] = []
    now = T0
    while now < T0 + timedelta(days=6):
        now += CYCLE
        for mailbox in MAILBOXES:
            left = expiry[mailbox] - now
            assert left > RENEW_BEFORE - CYCLE  # a day's margin, as before
            if left <= renew_before(mailbox, "appointment"):
                if expiry[mailbox] == T0 + LIFETIME:
                    first_round.append(now)
                expiry[mailbox] = now + LIFETIME
                renewed.append(now)
    assert len(first_round) == len(MAILBOXES)
    assert _hours(first_round) >= 20  # not one cycle: about every hour of a day has some
    busiest = max(renewed.count(t) for t in set(renewed))
    assert busiest <= len(MAILBOXES) // 20


def test_registry_refreshes_of_one_go_live_spread_and_stay_within_a_day() -> None:
    checked = {m: T0 for m in MAILBOXES}
    refreshed: list[datetime] = []
    now = T0
    while now < T0 + timedelta(days=4):
        now += CYCLE
        for mailbox in MAILBOXES:
            record = MailboxRecord(mailbox=mailbox, checked_at=checked[mailbox])
            assert now - checked[mailbox] <= REFRESH_MAILBOX_AFTER + CYCLE
            if not checked_recently(now, record):
                checked[mailbox] = now
                refreshed.append(now)
    assert _hours(refreshed[: len(MAILBOXES)]) >= 10
    assert all(timedelta(hours=12) < refresh_after(m) <= REFRESH_MAILBOX_AFTER for m in MAILBOXES)


def test_a_recently_checked_mailbox_is_not_refreshed_within_half_a_day() -> None:
    """An idle cycle costs no Graph read: within 12 hours of a check, no mailbox comes due."""
    for mailbox in MAILBOXES:
        record = MailboxRecord(mailbox=mailbox, checked_at=T0)
        assert checked_recently(T0 + timedelta(hours=12), record)
        assert not checked_recently(T0 + REFRESH_MAILBOX_AFTER, record)
