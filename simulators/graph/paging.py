"""`$top`/`$skip` paging of plain collections (events, calendarView, messages, contacts, To Do lists and
tasks), once. Outlook collections page by `$top` (default 10, at most 1000) and answer a nextLink that
repeats the query with the next `$skip`
(https://learn.microsoft.com/graph/paging; https://learn.microsoft.com/graph/query-parameters#top-parameter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from simulators.graph.errors import bad_request
from simulators.graph.http import GraphRequest, encode_query

DEFAULT_TOP = 10
MAX_TOP = 1000
T = TypeVar("T")


def _number(req: GraphRequest, name: str, default: int) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or (name == "$top" and not 1 <= int(raw) <= MAX_TOP):
        raise bad_request(f"Invalid value '{raw[:20]}' for query option {name}.", "ErrorInvalidUrlQuery")
    return int(raw)


def page(
    req: GraphRequest, rows: Sequence[T], segments: Sequence[str] | None = None
) -> tuple[list[T], str | None]:
    """The rows `$top`/`$skip` ask for, and the nextLink to the rest (None on the last page)."""
    top, skip = _number(req, "$top", DEFAULT_TOP), _number(req, "$skip", 0)
    chosen = list(rows[skip : skip + top])
    if skip + top >= len(rows):
        return chosen, None
    kept = {k: v for k, v in req.query.items() if k not in ("$top", "$skip")}
    query = encode_query({**kept, "$top": str(top), "$skip": str(skip + top)})
    return chosen, req.link(*(req.segments if segments is None else segments), query=query)
