"""Errors raised by the Graph client.

Graph error messages can quote mailbox addresses or item subjects, so ``str()`` of these errors shows only
the status, the error code and the request id; the message is kept on ``.message`` for debug logging.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sync_core.service_errors import GRAPH, ServiceUnusable

_MAX_TEXT = 300
# Codes Graph uses when a delta/sync state is gone; compared case-insensitively.
_EXPIRED_DELTA_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})


class GraphError(Exception):
    """A Graph request failed. ``status`` is 0 when no HTTP answer arrived (network error)."""

    def __init__(self, status: int, code: str, message: str = "", *, request_id: str = "") -> None:
        super().__init__(status, code)
        self.status = status
        self.code = code[:_MAX_TEXT]
        self.message = message[:_MAX_TEXT]
        self.request_id = request_id[:_MAX_TEXT]

    def __str__(self) -> str:
        text = f"Graph {self.status} {self.code or 'error'}"
        return f"{text} (request-id {self.request_id})" if self.request_id else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self})"


class DeltaTokenExpired(GraphError):
    """The delta token or paging link is no longer valid: drop it and resynchronise fully."""


class GraphNotFound(GraphError):
    """404: the mailbox, item or group does not exist (or is not visible to the app)."""


class GraphThrottled(GraphError):
    """Still throttled (429) or unavailable (503/504) after the last attempt; try again later."""

    def __init__(
        self, status: int, code: str, message: str = "", *, request_id: str = "", retry_after: float | None
    ) -> None:
        super().__init__(status, code, message, request_id=request_id)
        self.retry_after = retry_after


class GraphUnusable(GraphError, ServiceUnusable):
    """Graph cannot be used at all: not reachable after every retry (status 0), or the token refused (401)."""

    def __init__(self, status: int, code: str, host: str, problem: str, *, request_id: str = "") -> None:
        super().__init__(status, code, problem, request_id=request_id)
        self.service, self.host, self.problem = GRAPH, host, problem
        self.cause = "token" if status == 401 else "unreachable"

    def __str__(self) -> str:
        return self.summary


def parse_error_body(content: bytes) -> tuple[str, str]:
    """Return (code, message) of a Graph error envelope; empty strings when the body is not one."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return "", ""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "", ""
    code = error.get("code")
    message = error.get("message")
    return (code if isinstance(code, str) else ""), (message if isinstance(message, str) else "")


def is_expired_delta(status: int, code: str) -> bool:
    return status == 410 or code.casefold() in _EXPIRED_DELTA_CODES


def error_from_response(
    status: int,
    content: bytes,
    headers: Mapping[str, str],
    *,
    delta: bool = False,
    retry_after: float | None = None,
) -> GraphError:
    """Build the most specific error for a failed answer (``delta``: the request was a delta round)."""
    code, message = parse_error_body(content)
    request_id = headers.get("request-id", "")
    if delta and is_expired_delta(status, code):
        return DeltaTokenExpired(status, code or "syncStateNotFound", message, request_id=request_id)
    if status == 404:
        return GraphNotFound(status, code or "NotFound", message, request_id=request_id)
    if status in (429, 503, 504):
        return GraphThrottled(status, code, message, request_id=request_id, retry_after=retry_after)
    return GraphError(status, code, message, request_id=request_id)
