"""Check the F&O service once per process: read `$metadata`, compare it with what the product needs.

The answer is kept for an hour (a customer who publishes the parent-link entity sees attendees sync within
the hour, without a restart); an unreadable document is asked for again after five minutes, and meanwhile
the product runs as if everything were published (a missing entity then fails the calls that use it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sync_core.d365.client import FnoClient
from sync_core.d365.errors import FnoError
from sync_core.d365.metadata import MetadataError, MetadataReader
from sync_core.d365.requirements import ServiceCheck, check_service, properties_needed

log = logging.getLogger(__name__)
# F&O's $metadata lists every public entity of the environment (tens of megabytes); far more is refused.
MAX_METADATA_BYTES = 256 * 1024 * 1024
KEEP_SECONDS = 3600.0
KEEP_UNREAD_SECONDS = 300.0

_cache: dict[tuple[str, str], tuple[float, ServiceCheck]] = {}


class ServiceSetupError(Exception):
    """A standard F&O entity the product needs is missing or different: nothing can sync."""


def forget() -> None:
    """Drop the kept answers (tests that change a stand-in's entities between cycles)."""
    _cache.clear()


async def service_check(
    fno: FnoClient, collection: str, *, clock: Callable[[], float] = time.monotonic
) -> tuple[ServiceCheck, bool]:
    """The check of `fno`'s service for the parent-link `collection`, and whether it was read just now."""
    key = (fno.d365_url, collection)
    kept = _cache.get(key)
    now = clock()
    if kept is not None and kept[0] > now:
        return kept[1], False
    check = await _read_and_check(fno, collection)
    _cache[key] = (now + (KEEP_SECONDS if check.read else KEEP_UNREAD_SECONDS), check)
    return check, True


async def _read_and_check(fno: FnoClient, collection: str) -> ServiceCheck:
    reader = MetadataReader(properties_needed(collection))
    try:
        await fno.read_metadata(reader.feed, limit=MAX_METADATA_BYTES)
        metadata = reader.finish()
    except (FnoError, MetadataError) as exc:
        reason = f"F&O $metadata could not be read: {exc}"
        log.warning("F&O $metadata could not be read; entities not checked (%s)", type(exc).__name__)
        return ServiceCheck((), read=False, reason=reason)
    return check_service(metadata, collection)


def setup_error(check: ServiceCheck) -> ServiceSetupError:
    lines = [
        f"F&O entity {e.entity_set} ({e.what_for}): {'; '.join(e.problems)}" for e in check.missing_required
    ]
    lines.append(
        "These are standard F&O data entities: make sure they are public in this environment and that the "
        "app's F&O user may read them (docs/admin-guide.md, Prerequisites: Dynamics 365 F&O)."
    )
    return ServiceSetupError("\n".join(lines))


def parent_links_warning(check: ServiceCheck) -> str | None:
    """The configuration warning a cycle reports when the parent-link entity cannot be used."""
    links = check.parent_links
    if not check.read:
        return check.reason
    if links is None or links.ok:
        return None
    return (
        f"F&O entity {links.entity_set} (SYNC_PARENT_LINKS_COLLECTION): {'; '.join(links.problems)}. "
        "Attendees and associations are skipped until it is published as docs/admin-guide.md (Prerequisites: "
        "Dynamics 365 F&O) describes; everything else syncs."
    )
