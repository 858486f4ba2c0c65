"""F&O party and company-name lookups are kept per F&O client with an expiry: a Functions
instance's pair jobs share them, and a change in F&O is seen within d365/ttl_cache.LOOKUP_SECONDS."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sync_core.app import open_context
from sync_core.d365.parties import PartyResolver
from sync_core.d365.ttl_cache import TtlCache
from sync_core.runtime.queues import InProcessQueues
from tests.e2e.harness import sample_tenant


def test_entries_expire_and_the_cache_stays_bounded() -> None:
    now = [0.0]
    cache: TtlCache[str, str | None] = TtlCache(60, max_entries=3, clock=lambda: now[0])
    cache["a"] = None  # a miss is remembered too
    assert "a" in cache and cache.get("a", "x") is None
    now[0] = 59.9
    assert "a" in cache
    now[0] = 60.0
    assert "a" not in cache and cache.get("a", "x") == "x"
    for key in "bcde":
        cache[key] = key
    assert len(cache) == 3 and "b" not in cache and cache["e"] == "e"  # the oldest went first


def test_party_lookups_are_shared_by_the_executions_of_one_client(tmp_path: Path) -> None:
    with sample_tenant(tmp_path) as tenant:

        async def resolve_twice() -> tuple[int, int]:
            async with open_context(tenant.settings(), InProcessQueues()) as ctx:
                before = len(tenant.fno.request_log)
                first = await PartyResolver(ctx.fno, "usmf").resolve(["Orders@Fabrikam.com", "nobody@x.com"])
                middle = len(tenant.fno.request_log)
                # Another execution's resolver on the same (kept) client: nothing asked again.
                second = await PartyResolver(ctx.fno, "USMF").resolve(["orders@fabrikam.com", "nobody@x.com"])
                assert first == second and list(first) == ["orders@fabrikam.com"]
                return middle - before, len(tenant.fno.request_log) - middle

        asked_first, asked_again = asyncio.run(resolve_twice())
        assert asked_first > 0 and asked_again == 0
