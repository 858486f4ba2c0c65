"""Message delta per mail folder (`/mailFolders/{id}/messages/delta`), with Exchange's restrictions
(rounds, pages and tokens: `delta.py`).

- Per folder only; `$filter` only on `receivedDateTime` (one comparison, kept for the rounds that follow),
  `$select` allowed, `$expand`, `$search`, `$orderby` and `$top` refused with 400. There is no category
  filter in any delta.
- A round's first page carries changes (no empty first page, no repeated items). The next round reports new
  and changed messages in full and messages that left the folder (deleted or moved away) as `@removed`.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any

from simulators.graph import ids
from simulators.graph import messages_store as mail
from simulators.graph.delta import Entry, Feed, Snapshot, changes, serve
from simulators.graph.errors import bad_request
from simulators.graph.http import GraphRequest, GraphResponse
from simulators.graph.model import Mailbox
from simulators.graph.state import GraphState

_FORBIDDEN = ("$expand", "$search", "$orderby", "$top", "$skip", "$count")
_RECEIVED = re.compile(
    r"^\s*receivedDateTime\s+(ge|gt|le|lt|eq)\s+(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?)\s*$", re.I
)


def _condition(req: GraphRequest) -> tuple[str, str] | None:
    text = req.query.get("$filter")
    if text is None:
        return None
    match = _RECEIVED.match(text)
    if match is None:
        raise bad_request(
            "The query filter on change tracking over messages can only use receivedDateTime.",
            "ErrorInvalidUrlQuery",
        )
    return match.group(1).lower(), match.group(2)


def _passes(message: mail.Message, condition: tuple[str, str] | None) -> bool:
    if condition is None:
        return True
    op, raw = condition
    bound = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
    value = message.received
    return {
        "ge": value >= bound,
        "gt": value > bound,
        "le": value <= bound,
        "lt": value < bound,
        "eq": value == bound,
    }[op]


def delta(state: GraphState, req: GraphRequest, mb: Mailbox, folder: mail.Folder) -> GraphResponse:
    store = mail.store_for(state, mb)

    def options(req: GraphRequest, last: dict[str, Any] | None) -> dict[str, Any]:
        condition = last["condition"] if last else _condition(req)
        return {"condition": condition, "select": req.query.get("$select")}

    def entries(
        opts: dict[str, Any], old: Snapshot | None
    ) -> tuple[list[Entry], dict[Hashable, Any], dict[str, Any]]:
        now: dict[Hashable, Any] = {
            m.key: m.version
            for m in sorted(store.messages.values(), key=lambda m: (m.received, m.key))
            if m.folder == folder.key and _passes(m, opts["condition"])
        }
        return changes(now, old), now, {}

    def render(
        req: GraphRequest, chosen: list[Entry], opts: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        select = req.query.get("$select") or opts["select"]
        render_opts = mail.Render(
            immutable=req.prefer.immutable_ids,
            text_body=req.prefer.text_body,
            select=tuple(s.strip() for s in select.split(",") if s.strip()) if select else None,
        )
        value = []
        for key, removed in chosen:
            assert isinstance(key, bytes)
            message = None if removed else store.messages.get(key)
            if message is None:
                message_id = ids.encode(ids.ItemRef(key), immutable=render_opts.immutable)
                value.append(
                    {
                        "@odata.type": "#microsoft.graph.message",
                        "id": message_id,
                        "@removed": {"reason": "deleted"},
                    }
                )
            else:
                value.append(
                    {
                        "@odata.type": "#microsoft.graph.message",
                        **mail.render_message(store, message, render_opts),
                    }
                )
        return value, {}

    feed = Feed(
        name="messages",
        type_name="message",
        forbidden=_FORBIDDEN,
        scope={"folder": folder.key.hex()},
        options=options,
        entries=entries,
        render=render,
    )
    return serve(state, req, mb, feed)
