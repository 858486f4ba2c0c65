"""The kinds of item the product syncs. Adding a kind means adding one module and one line here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync_core.runtime.kind import KindAdapter


def all_kinds() -> dict[str, KindAdapter]:
    from sync_core.kinds.appointment import AppointmentKind
    from sync_core.kinds.email_import import EmailImportKind
    from sync_core.kinds.task import TaskKind

    kinds: list[KindAdapter] = [AppointmentKind()]
    kinds.append(EmailImportKind())
    kinds.append(TaskKind())
    from sync_core.kinds.contact_private import PrivateContactKind
    from sync_core.kinds.contact_shared import SharedContactKind

    kinds.extend([PrivateContactKind(), SharedContactKind()])
    return {kind.name: kind for kind in kinds}
