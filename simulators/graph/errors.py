"""Graph's error envelope: {"error": {"code", "message", "innerError": {...}}}."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


class GraphError(Exception):
    """Raised by handlers; rendered as Graph's JSON error body with the given status."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(code: str, message: str, client_request_id: str | None = None) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                # Graph writes this date without fraction or offset.
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id or request_id,
            },
        }
    }


def not_found(what: str = "The specified object was not found in the store.") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", what)


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def check_if_match(
    headers: dict[str, str], current_etag: str, code: str = "ErrorIrresolvableConflict"
) -> None:
    """A write carrying `If-Match` lands only on the version it names (Outlook: the item's `@odata.etag`,
    `W/"<changeKey>"`); otherwise 412 and nothing changes, as Exchange answers a stale change key."""
    wanted = next((v for k, v in headers.items() if k.lower() == "if-match"), None)
    if wanted is None or wanted.strip() in ("*", current_etag):
        return
    raise GraphError(
        412,
        code,
        "The send or update operation could not be performed because the change key passed in the request "
        "does not match the current change key for the item.",
    )
