"""Per-mailbox pacing on a fake clock: the window is never overrun, and its whole allowance is used."""

from __future__ import annotations

import asyncio

import pytest

from sync_core.exchange.pacing import MailboxPacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _sent_times(limit: int, window: float, requests: int, *, weight: int = 1) -> tuple[list[float], FakeTime]:
    fake = FakeTime()
    pacer = MailboxPacer(limit, window, clock=fake.clock, sleep=fake.sleep)
    sent: list[float] = []

    async def run() -> None:
        for _ in range(requests):
            async with pacer.slot(weight):
                sent.append(fake.now)
                fake.now += 0.01  # the request's round trip

    asyncio.run(run())
    return sent, fake


def test_no_window_holds_more_than_the_limit() -> None:
    sent, fake = _sent_times(limit=10, window=60.0, requests=35)
    for i, start in enumerate(sent):
        inside = [t for t in sent[: i + 1] if t > start - 60.0]
        assert len(inside) <= 10, f"request {i} is the {len(inside)}th within one window"
    # And it does use the allowance: 35 requests need three full waits, not more.
    assert len(fake.sleeps) == 3
    assert sent[-1] < 3 * 60.0 + 1


def test_a_slot_is_free_again_only_a_window_after_its_answer() -> None:
    sent, _ = _sent_times(limit=2, window=10.0, requests=3)
    # The first answer came at 0.01: the third request goes at 10.01, not at 10.0.
    assert sent[2] == pytest.approx(10.01, abs=1e-5)


def test_batch_items_count_against_the_limit() -> None:
    sent, fake = _sent_times(limit=20, window=60.0, requests=3, weight=10)
    assert fake.sleeps, "three batches of 10 exceed 20 per window"
    assert sent[2] >= 60.0


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        MailboxPacer(0, 60.0)
    with pytest.raises(ValueError):
        MailboxPacer(10, 0)
