"""Which notified (mailbox, kind) pairs need no scan: every item notified is in the state our last write or
sync left, so the scan would only find it unchanged (pipeline/scan.py skips a listed item whose changeKey
equals its link's `graph_version`). Mostly the echo of our own writes: Graph notifies an application of
its own changes too.

An Outlook notification's `resourceData` carries the item's `id` and `@odata.etag`, "the HTTP entity tag
that represents the version of the object" (api-reference/v1.0/resources/resourcedata.md). That the tag is
W/"<changeKey>" is what every Outlook item Graph returns shows (`@odata.etag` beside `changeKey`), not a
documented rule: a tag of another shape simply never matches, and the change is scanned as before.

Safe by default: a pair is skipped only when every item notified for it is a `created` or `updated` whose
id has a link whose `graph_version` equals the tag. No tag, another tag, an unknown id, a deletion, a
lookup that fails or runs out of time: scanned. Nothing is lost by a skip: the link holds that version
only after the pair job wrote both sides (pipeline/pair.py saves the link last), so a crash before then
leaves the old version, and the notification is scanned. The check reads the state store only (a few
queries per pair), never Graph."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from sync_core.runtime.context import SyncContext

log = logging.getLogger(__name__)

# Graph wants an answer within 3 seconds; the scans are queued after this, so it gets at most this much.
ECHO_BUDGET_SECONDS = 1.0
# Ids looked up per pair at most: a bigger burst is scanned (one read covers it anyway).
MAX_IDS_PER_PAIR = 100
_SKIPPABLE = ("created", "updated")

Pair = tuple[str, str]  # (mailbox, kind)


def notified_version(item: dict[str, Any]) -> tuple[str, str] | None:
    """(id, changeKey) a `created`/`updated` notification names, or None when it names no such pair."""
    if item.get("changeType") not in _SKIPPABLE:
        return None
    data = item.get("resourceData")
    if not isinstance(data, dict):
        return None
    item_id, etag = data.get("id"), data.get("@odata.etag")
    if not isinstance(item_id, str) or not item_id or not isinstance(etag, str):
        return None
    if not (etag.startswith('W/"') and etag.endswith('"')) or len(etag) < 5:
        return None
    return item_id, etag[3:-1]


class Notified:
    """What one batch notified per pair: id -> changeKeys, or None once any item of the pair cannot be
    skipped (no etag, a deletion, a resource not understood)."""

    def __init__(self) -> None:
        self._versions: dict[Pair, dict[str, set[str]] | None] = {}

    def add(self, pair: Pair, item: dict[str, Any]) -> None:
        seen = self._versions.setdefault(pair, {})
        if seen is None:
            return
        named = notified_version(item)
        if named is None:
            self._versions[pair] = None
            return
        seen.setdefault(named[0], set()).add(named[1])

    def candidates(self) -> Iterable[tuple[Pair, dict[str, set[str]]]]:
        for pair, seen in self._versions.items():
            if seen and len(seen) <= MAX_IDS_PER_PAIR:
                yield pair, seen


async def already_synced(ctx: SyncContext, notified: Notified) -> set[Pair]:
    """The pairs whose every notified item is at its link's version. Any failure or the time budget: the
    pairs not decided yet are scanned."""
    synced: set[Pair] = set()
    try:
        async with asyncio.timeout(ECHO_BUDGET_SECONDS):
            for (mailbox, kind), seen in notified.candidates():
                if kind not in ctx.kinds:
                    continue  # no links (the e-mail import): scanned
                links = await ctx.store.get_links_by_graph(kind, mailbox, sorted(seen))
                if all(
                    (link := links.get(item_id)) is not None
                    and not link.is_claim  # a creation in progress (or left by a crash): scanned
                    and bool(link.graph_version)
                    and versions == {link.graph_version}
                    for item_id, versions in seen.items()
                ):
                    synced.add((mailbox, kind))
    except TimeoutError:
        log.info("echo check out of time: the rest is scanned", extra={"skipped": len(synced)})
    except Exception as exc:  # a lookup failing must never cost a change its scan
        log.warning("echo check failed: scanned", extra={"error": type(exc).__name__})
        return set()
    return synced
