"""The kinds of item the product syncs. Adding a kind means adding one module and one line here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync_core.kinds.base import KindAdapter


def all_kinds() -> dict[str, KindAdapter]:
    from sync_core.kinds.appointment import AppointmentKind

    kinds: list[KindAdapter] = [AppointmentKind()]
    return {kind.name: kind for kind in kinds}
