"""The safety valve rule (docs/spec.md §4): whether one mailbox's deletions of one kind look like an accident.

Pure: the pipeline counts, this decides. "Deletions" are the linked pairs whose one side vanished, whether
the deletion rule would then delete the partner or only unlink it: both lose the user's link.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeletionCount:
    links: int  # settled links of the mailbox and kind
    gone: int  # links whose F&O or Exchange side vanished (counted once)
    fno_gone: int  # links whose F&O side vanished
    graph_gone: int  # links whose Exchange side vanished


def valve_reason(count: DeletionCount, *, max_share: float, min_items: int) -> str | None:
    """Why the deletions must wait for an operator, or None when they may go ahead.

    - A side that suddenly lists nothing: every link (two or more) lost the same side. One lonely link
      going is an ordinary deletion; all of several going at once is what an outage or a lost
      permission looks like.
    - Too many at once: at least `min_items`, and more than `max_share` of the links.
    """
    if count.gone <= 0:
        return None
    if count.links >= 2:
        if count.fno_gone >= count.links:
            return f"F&O no longer lists any of the {count.links} linked items of this mailbox"
        if count.graph_gone >= count.links:
            return f"Exchange no longer lists any of the {count.links} linked items of this mailbox"
    if count.gone >= min_items and count.gone > max_share * count.links:
        return (
            f"{count.gone} of {count.links} linked items would be deleted or unlinked at once "
            f"(more than {max_share:.0%})"
        )
    return None
