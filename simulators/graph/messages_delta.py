"""Message delta per mail folder (`/mailFolders/{id}/messages/delta`), with Exchange's restrictions.

- Per folder only; `$filter` only on `receivedDateTime` (one comparison), `$select` allowed, `$expand`,
  `$search`, `$orderby` and `$top` refused with 400. There is no category filter in any delta.
- A round is the pages between two delta links (`Prefer: odata.maxpagesize`, else the state's page size).
  The next round reports new and changed messages in full and messages that left the folder (deleted or
  moved away) as `@removed`. Tokens carry the mailbox's sync generation: `expire_delta_tokens` makes them
  answer 410 SyncStateNotFound.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simulators.graph import ids
from simulators.graph import messages_store as mail
from simulators.graph.errors import GraphError, bad_request
from simulators.graph.http import GraphRequest, GraphResponse, json_response
from simulators.graph.model import Mailbox
from simulators.graph.state import GraphState

_FORBIDDEN = ("$expand", "$search", "$orderby", "$top", "$skip", "$count")
_RECEIVED = re.compile(
    r"^\s*receivedDateTime\s+(ge|gt|le|lt|eq)\s+(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?)\s*$", re.I
)


@dataclass
class _Snapshot:
    folder: bytes
    condition: tuple[str, str] | None
    seen: dict[bytes, int]
    """Message key -> version the client was given."""


@dataclass
class _Round:
    folder: bytes
    entries: list[tuple[bytes, bool]]
    next_snapshot: str
    select: str | None


def _token(kind: str, ref: str, mb: Mailbox, offset: int = 0) -> str:
    data = {"k": kind, "r": ref, "g": mb.sync_generation, "o": offset}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _read_token(raw: str, mb: Mailbox, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(data, dict) or data.get("k") != kind:
            raise ValueError("wrong token kind")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise bad_request("The delta or skip token is not valid.", "ErrorInvalidUrlQuery") from exc
    if data.get("g") != mb.sync_generation:
        raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")
    return data


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
    for name in _FORBIDDEN:
        if name in req.query:
            raise bad_request(
                f"The query parameter '{name}' is not supported with change tracking over messages."
            )
    store = mail.store_for(state, mb)
    if "$skiptoken" in req.query:
        return _page(state, req, mb, store, _read_token(req.query["$skiptoken"], mb, "skip"))
    old: _Snapshot | None = None
    if "$deltatoken" in req.query:
        data = _read_token(req.query["$deltatoken"], mb, "delta")
        found = store.delta_snapshots.get(data["r"])
        if not isinstance(found, _Snapshot) or found.folder != folder.key:
            raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")
        old = found
    condition = old.condition if old else _condition(req)
    current = {
        m.key: m.version
        for m in sorted(store.messages.values(), key=lambda m: (m.received, m.key))
        if m.folder == folder.key and _passes(m, condition)
    }
    if old is None:
        entries = [(key, False) for key in current]
    else:
        entries = [(key, False) for key, version in current.items() if old.seen.get(key) != version]
        entries += [(key, True) for key in old.seen if key not in current]
    snapshot_id = uuid.uuid4().hex
    store.delta_snapshots[snapshot_id] = _Snapshot(folder.key, condition, current)
    round_id = uuid.uuid4().hex
    store.delta_rounds[round_id] = _Round(folder.key, entries, snapshot_id, req.query.get("$select"))
    return _page(state, req, mb, store, {"r": round_id, "o": 0})


def _page(
    state: GraphState, req: GraphRequest, mb: Mailbox, store: mail.MailStore, data: dict[str, Any]
) -> GraphResponse:
    rnd = store.delta_rounds.get(data["r"])
    if not isinstance(rnd, _Round):
        raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")
    select = req.query.get("$select") or rnd.select
    opts = mail.Render(
        immutable=req.prefer.immutable_ids,
        text_body=req.prefer.text_body,
        select=tuple(s.strip() for s in select.split(",") if s.strip()) if select else None,
    )
    size = req.prefer.max_page_size or state.page_size
    offset = int(data["o"])
    chosen = rnd.entries[offset : offset + size]
    value = []
    for key, removed in chosen:
        message_id = ids.encode(ids.ItemRef(key), immutable=opts.immutable)
        message = None if removed else store.messages.get(key)
        if message is None:
            value.append(
                {
                    "@odata.type": "#microsoft.graph.message",
                    "id": message_id,
                    "@removed": {"reason": "deleted"},
                }
            )
        else:
            value.append(
                {"@odata.type": "#microsoft.graph.message", **mail.render_message(store, message, opts)}
            )
    segments = req.segments if req.segments[-1] == "delta" else [*req.segments[:-1], "delta"]
    body: dict[str, Any] = {"@odata.context": f"{req.base_url}/$metadata#Collection(message)", "value": value}
    if offset + size < len(rnd.entries):
        token = _token("skip", data["r"], mb, offset + size)
        body["@odata.nextLink"] = req.link(*segments, query="$skiptoken=" + token)
    else:
        body["@odata.deltaLink"] = req.link(
            *segments, query="$deltatoken=" + _token("delta", rnd.next_snapshot, mb)
        )
    headers = {"Preference-Applied": f"odata.maxpagesize={size}"} if req.prefer.max_page_size else {}
    return json_response(200, body, headers)
