"""One delta implementation for every resource the stand-in tracks: events in a calendar window
(`events_delta.py`), messages of a mail folder (`messages_delta.py`), contacts of a contact folder
(`contacts_api.py`) and To Do tasks of a list (`todo_api.py`). Each resource describes itself as a `Feed`;
rounds, pages and tokens are kept here, once.

What every delta shares, as Microsoft documents it (https://learn.microsoft.com/graph/delta-query-overview):
- A round is the pages between two delta links: `@odata.nextLink` (a `$skiptoken`) while pages remain,
  `@odata.deltaLink` (a `$deltatoken`) on the last one. The next round, from that delta link, reports what
  changed since the round that issued it: new and changed items in full, items gone as
  `{"id": ..., "@removed": {"reason": "deleted"}}`.
- Pages hold `Prefer: odata.maxpagesize` items (answered in `Preference-Applied`), else the state's page size.
- Query options a resource's delta does not take answer 400.
- Tokens are opaque base64url text. They carry the mailbox's sync generation: `expire_delta_tokens` makes
  every older token answer 410 SyncStateNotFound (the code real Exchange sends; the docs also name
  `resyncRequired`, so clients treat any 410 as "start again"). A token is bound to its resource and its
  container (folder, list): elsewhere it answers `Feed.scope_mismatch`.

Exchange's awkward parts a feed switches on: a round whose first page is empty with a nextLink
(`first_page_empty`), and pages that repeat the previous page's last item (`overlap`).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from simulators.graph.errors import GraphError, bad_request
from simulators.graph.http import GraphRequest, GraphResponse, json_response
from simulators.graph.model import Mailbox
from simulators.graph.state import GraphState

Entry = tuple[Hashable, bool]
"""(item key, removed?) in the order a round pages them out."""


@dataclass
class Snapshot:
    """What the client was given by one round: the start of the next."""

    feed: str
    mailbox_id: str
    scope: dict[str, str]
    seen: dict[Hashable, Any]
    """Item key -> the version the client was given."""
    options: dict[str, Any]
    """The round's options (a window, a filter, an expansion), kept for the rounds that follow."""
    memo: dict[str, Any]
    """What the resource keeps beside (the mailbox's change sequence, for items created and gone since)."""


@dataclass
class Round:
    feed: str
    mailbox_id: str
    scope: dict[str, str]
    entries: list[Entry]
    next_snapshot: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Feed:
    """One resource's delta, for one request."""

    name: str
    """The resource in error texts ("change tracking over events") and in its tokens."""
    type_name: str
    """The entity type: `@odata.context` is `Collection(type_name)`."""
    forbidden: tuple[str, ...]
    """Query options the resource's delta refuses with 400."""
    scope: dict[str, str]
    """The container the URL names (folder, list), bound into every token."""
    options: Callable[[GraphRequest, dict[str, Any] | None], dict[str, Any]]
    """A round's options: from its first request, or (from a delta link) carried on from the last round."""
    entries: Callable[
        [dict[str, Any], Snapshot | None], tuple[list[Entry], dict[Hashable, Any], dict[str, Any]]
    ]
    """(options, the last round's snapshot or None) -> the entries to page out, what is now seen, a memo."""
    render: Callable[[GraphRequest, list[Entry], dict[str, Any]], tuple[list[dict[str, Any]], dict[str, str]]]
    """One page's items and the headers to answer with."""
    first_page_empty: Callable[[GraphState, bool], bool] = lambda _state, _initial: False
    """(state, is this the initial round?) -> answer the round's first request with an empty page."""
    overlap: bool = False
    """Every page after the first repeats the previous page's last item (page size 2 or more)."""
    scope_mismatch: int = 410
    """The status of a token used on another container."""


def changes(now: dict[Hashable, Any], old: Snapshot | None) -> list[Entry]:
    """The plain round: everything on the first; then what changed version, and what is gone."""
    if old is None:
        return [(key, False) for key in now]
    entries: list[Entry] = [(key, False) for key, version in now.items() if old.seen.get(key) != version]
    entries += [(key, True) for key in old.seen if key not in now]
    return entries


def serve(state: GraphState, req: GraphRequest, mb: Mailbox, feed: Feed) -> GraphResponse:
    for name in feed.forbidden:
        if name in req.query:
            raise bad_request(
                f"The query parameter '{name}' is not supported with change tracking over {feed.name}."
            )
    if "$skiptoken" in req.query:
        data = _read_token(req.query["$skiptoken"], mb, feed, "skip")
        rnd = state.delta_rounds.get(data["r"])
        if not isinstance(rnd, Round) or not _ours(rnd, feed, mb):
            raise _gone()
        return _page(state, req, mb, feed, rnd, data["r"], data["o"])
    old: Snapshot | None = None
    if "$deltatoken" in req.query:
        data = _read_token(req.query["$deltatoken"], mb, feed, "delta")
        found = state.delta_snapshots.get(data["r"])
        if not isinstance(found, Snapshot) or not _ours(found, feed, mb):
            raise _gone()
        old = found
    options = feed.options(req, old.options if old else None)
    entries, seen, memo = feed.entries(options, old)
    snapshot_id, round_id = uuid.uuid4().hex, uuid.uuid4().hex
    state.delta_snapshots[snapshot_id] = Snapshot(feed.name, mb.user.id, feed.scope, seen, options, memo)
    rnd = Round(feed.name, mb.user.id, feed.scope, entries, snapshot_id, options)
    state.delta_rounds[round_id] = rnd
    if feed.first_page_empty(state, old is None):
        value, headers = feed.render(req, [], options)
        return _answer(req, feed, value, headers, "nextLink", _token(feed, "skip", round_id, mb))
    return _page(state, req, mb, feed, rnd, round_id, 0)


def _page(
    state: GraphState, req: GraphRequest, mb: Mailbox, feed: Feed, rnd: Round, round_id: str, offset: int
) -> GraphResponse:
    size = req.prefer.max_page_size or state.page_size
    repeat = feed.overlap and offset > 0 and size >= 2  # clients must tolerate repeats
    take = size - 1 if repeat else size
    chosen = rnd.entries[offset - 1 if repeat else offset : offset + take]
    value, headers = feed.render(req, chosen, rnd.options)
    if offset + take < len(rnd.entries):
        token = _token(feed, "skip", round_id, mb, offset + take)
        return _answer(req, feed, value, headers, "nextLink", token)
    return _answer(req, feed, value, headers, "deltaLink", _token(feed, "delta", rnd.next_snapshot, mb))


def _answer(
    req: GraphRequest,
    feed: Feed,
    value: list[dict[str, Any]],
    headers: dict[str, str],
    link_kind: str,
    token: str,
) -> GraphResponse:
    name = "$skiptoken" if link_kind == "nextLink" else "$deltatoken"
    body = {
        "@odata.context": f"{req.base_url}/$metadata#Collection({feed.type_name})",
        f"@odata.{link_kind}": req.link(*req.segments[:-1], "delta", query=f"{name}={token}"),
        "value": value,
    }
    if req.prefer.max_page_size:
        applied = [headers.get("Preference-Applied"), f"odata.maxpagesize={req.prefer.max_page_size}"]
        headers = {**headers, "Preference-Applied": ", ".join(filter(None, applied))}
    return json_response(200, body, headers)


def _ours(found: Snapshot | Round, feed: Feed, mb: Mailbox) -> bool:
    return found.feed == feed.name and found.mailbox_id == mb.user.id and found.scope == feed.scope


def _gone() -> GraphError:
    return GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")


def _token(feed: Feed, kind: str, ref: str, mb: Mailbox, offset: int = 0) -> str:
    data = {"k": kind, "n": feed.name, "r": ref, "g": mb.sync_generation, "o": offset, "s": feed.scope}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _read_token(raw: str, mb: Mailbox, feed: Feed, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if (
            not isinstance(data, dict)
            or data.get("k") != kind
            or data.get("n") != feed.name
            or not isinstance(data.get("r"), str)
            or not isinstance(data.get("o"), int)
        ):
            raise ValueError("not a token of this feed")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise bad_request("The delta or skip token is not valid.", "ErrorInvalidUrlQuery") from exc
    if data.get("s") != feed.scope:
        if feed.scope_mismatch == 410:
            raise _gone()
        raise bad_request("The delta or skip token belongs to another container.", "ErrorInvalidUrlQuery")
    if data.get("g") != mb.sync_generation:
        raise GraphError(
            410,
            "SyncStateNotFound",
            f"The sync state generation is not found; generation={data.get('g')};"
            f"[highest={mb.sync_generation}].",
        )
    return data
