"""A one-way feed the planner schedules beside the kinds (the e-mail import, docs/spec.md §3.3).

A feed has no pairs and no links: its mailbox scan and its F&O scan queue messages of its own job. The
planner queues its `ScanMailbox` and `ScanFnoFeed` messages exactly as a kind's, under the feed's name, so
the queue messages and the state a deployed tenant holds stay as they were when it was planned as a kind."""

from __future__ import annotations

from typing import Protocol

from sync_core.runtime.context import SyncContext


class OneWayFeed(Protocol):
    name: str

    async def scan_mailbox(self, ctx: SyncContext, mailbox: str) -> None:
        """Queue the work one mailbox has for this feed."""
        ...

    async def scan_fno(self, ctx: SyncContext) -> None:
        """The feed's share of the F&O feed scan (work that belongs to no mailbox in scope)."""
        ...
