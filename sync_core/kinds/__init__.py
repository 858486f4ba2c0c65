"""The kinds of item the product syncs, and the one-way feeds scheduled beside them. Adding a kind means
adding one module and one line here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync_core.runtime.feed import OneWayFeed
    from sync_core.runtime.kind import Kind


# The order the planner queues scans in (runtime/context.py SyncContext.schedule), as when the e-mail
# import was planned as a kind: the jobs of one cycle run in this order.
SCHEDULE = ("appointment", "email", "task", "contact", "shared_contact")


def all_kinds() -> dict[str, Kind]:
    from sync_core.kinds.appointment import appointment_kind
    from sync_core.kinds.contact_private import private_contact_kind
    from sync_core.kinds.contact_shared import shared_contact_kind
    from sync_core.kinds.task import task_kind

    kinds = [appointment_kind(), task_kind(), private_contact_kind(), shared_contact_kind()]
    return {kind.name: kind for kind in kinds}


def all_feeds() -> dict[str, OneWayFeed]:
    from sync_core.email_import.feed import EmailImportFeed

    feeds: list[OneWayFeed] = [EmailImportFeed()]
    return {feed.name: feed for feed in feeds}
