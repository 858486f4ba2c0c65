"""Errors raised by the F&O client, with messages that are safe to log.

F&O error bodies look like `{"error": {"code": "", "message": "An error has occurred.", "innererror":
{"message": "Write failed for table row ...", "type": "...", "stacktrace": "..."}}}`. The inner message is the
useful one. Messages are built from the method, the entity set and the server's text with e-mail
addresses masked and length capped; request URLs (whose `$filter` may hold addresses) are never included.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sync_core.service_errors import FNO, ServiceUnusable

_EMAIL = re.compile(r"[^\s'\"<>(),;:]+@[^\s'\"<>(),;:]+")
_MAX_SERVER_TEXT = 300


class FnoError(Exception):
    """An F&O OData request failed. `status` is the HTTP status (0 for a transport failure)."""

    def __init__(self, status: int, message: str, *, code: str | None = None) -> None:
        super().__init__(f"F&O {status}: {message}" if status else f"F&O: {message}")
        self.status = status
        self.message = message
        self.code = code


class FnoNotFound(FnoError):
    """404: the entity set or the keyed record does not exist."""


class FnoThrottled(FnoError):
    """Still throttled (429) or unavailable (503/504) after every allowed attempt; worth retrying later."""


class InsecureFnoUrl(ValueError):
    """D365_URL is not a plain https root (the bearer token goes to it)."""


class FnoUnusable(FnoError, ServiceUnusable):
    """F&O cannot be used at all: not reachable after every retry (status 0), or the token refused (401)."""

    def __init__(self, status: int, host: str, problem: str) -> None:
        self.service, self.host, self.problem = FNO, host, problem
        self.cause = "token" if status == 401 else "unreachable"
        super().__init__(status, self.summary)

    def __str__(self) -> str:
        return self.summary


def scrub(text: str) -> str:
    """Mask e-mail addresses, flatten whitespace and cap the length of server-provided text."""
    flat = " ".join(_EMAIL.sub("<email>", text).split())
    return flat if len(flat) <= _MAX_SERVER_TEXT else flat[: _MAX_SERVER_TEXT - 3] + "..."


def _server_text(body: bytes) -> tuple[str | None, str | None]:
    """(code, message) from an OData error body; the most specific message wins."""
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return None, None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("code") if isinstance(error.get("code"), str) and error.get("code") else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    inner = error.get("innererror")
    while isinstance(inner, dict):
        if isinstance(inner.get("message"), str) and inner["message"].strip():
            message = inner["message"]
        inner = inner.get("internalexception") or inner.get("innererror")
    return code, message


def error_from_response(status: int, body: bytes, method: str, target: str) -> FnoError:
    """Build the right FnoError subclass for a failed response. `target` is the entity set (no query)."""
    code, server = _server_text(body)
    message = f"{method} {target} failed with HTTP {status}"
    if server:
        message += f": {scrub(server)}"
    if status == 404:
        return FnoNotFound(status, message, code=code)
    if status in (429, 503, 504):
        return FnoThrottled(status, message, code=code)
    return FnoError(status, message, code=code)
