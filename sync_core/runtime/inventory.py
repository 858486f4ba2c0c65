"""What a side's cheap listing holds, for the periodic reconciliation (pipeline/reconcile.py); the kinds
build them (kinds/inventory.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sync_core.state.base import Link


@dataclass(frozen=True)
class Listed:
    """One item as a side's listing shows it."""

    version: str | None  # the kind's version of the item (None: not known from the listing, not compared)
    marked: bool | None  # carries the side's mark (None: not known from the listing)
    # For an item without a link: whether the pair job would create its partner (e.g. a completed task
    # dated before the window would not); a linked item keeps syncing whatever this says.
    wanted: bool = True


@dataclass(frozen=True)
class Inventory:
    items: Mapping[str, Listed]
    # Whether this listing would have listed the link's side had it been there: a linked item outside
    # what was listed (an appointment outside the window) is not missing, just not looked at.
    covers: Callable[[Link], bool]


__all__ = ["Inventory", "Listed"]
