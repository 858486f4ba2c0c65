"""At most max_concurrency_per_mailbox requests per mailbox are on the wire at once."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from .fakes import make_client, path_of


class InFlight:
    """Counts concurrent requests per mailbox; each request yields to the loop a few times before answering."""

    def __init__(self, answer: httpx.Response | None = None) -> None:
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.answer = answer

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        mailbox = path_of(request).split("/")[3].casefold()
        self.now[mailbox] += 1
        self.peak[mailbox] = max(self.peak[mailbox], self.now[mailbox])
        for _ in range(5):
            await asyncio.sleep(0)
        self.now[mailbox] -= 1
        return self.answer or httpx.Response(200, json={"id": "x"})


async def test_never_more_than_four_per_mailbox_and_mailboxes_do_not_share_slots() -> None:
    counter = InFlight()
    client, recorder, _ = make_client(counter)
    calls = [
        client.get_event(mailbox, f"e{i}")
        for i in range(20)
        for mailbox in ("a@contoso.com", "b@contoso.com")
    ]
    await asyncio.gather(*calls)
    await client.close()
    assert len(recorder.requests) == 40
    assert counter.peak == Counter({"a@contoso.com": 4, "b@contoso.com": 4})


async def test_the_limit_is_configurable_and_case_insensitive_per_mailbox() -> None:
    counter = InFlight()
    client, _, _ = make_client(counter, max_concurrency_per_mailbox=2)
    calls = [client.get_event(mailbox, "e") for mailbox in ["A@contoso.com", "a@contoso.com"] * 5]
    await asyncio.gather(*calls)
    await client.close()
    assert counter.peak == Counter({"a@contoso.com": 2})


async def test_waiting_for_a_retry_does_not_hold_a_slot() -> None:
    # While one request sleeps before its retry, four others must still get on the wire.
    release = asyncio.Event()
    sleeping = asyncio.Event()

    async def sleep(delay: float) -> None:
        sleeping.set()
        await release.wait()

    counter = InFlight()
    first = iter([httpx.Response(429, headers={"Retry-After": "1"})])

    async def handler(request: httpx.Request) -> httpx.Response:
        if path_of(request).endswith("/slow"):
            answer = next(first, None)
            if answer is not None:
                return answer
        return await counter(request)

    client, _, _ = make_client(handler, sleep=sleep)
    slow = asyncio.create_task(client.get_event("a@contoso.com", "slow"))
    await sleeping.wait()
    await asyncio.gather(*(client.get_event("a@contoso.com", f"e{i}") for i in range(8)))
    assert counter.peak["a@contoso.com"] == 4
    release.set()
    await slow
    await client.close()
