"""A whole service (F&O or Microsoft Graph) that cannot be used, and network failures in words.

The clients raise `ServiceUnusable` (through their own error classes, so every existing handler still
sees an FnoError or GraphError) when a request is still not answered after every retry, or when the
service answers 401: the token is not accepted, so no other request can succeed either. Texts name the
host, never a URL (URLs carry mailbox addresses).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

E = TypeVar("E", bound=Exception)
FNO, GRAPH = "F&O", "Microsoft Graph"
# What the administrator does next, by service and cause; docs/admin-guide.md sections named as they are titled.
_FIX = {
    (FNO, "unreachable"): "check D365_URL and that this machine can reach the host (proxy, firewall)",
    (GRAPH, "unreachable"): "check GRAPH_URL and that this machine can reach the host (proxy, firewall)",
    (FNO, "token"): "see docs/admin-guide.md, 'Register the identity in F&O'",
    (GRAPH, "token"): "see docs/admin-guide.md, 'Microsoft Graph (application permissions, admin consent)'",
}


class ServiceUnusable(Exception):
    """Mixed into the clients' errors: `service` at `host` cannot be used at all right now.

    `cause` is "unreachable" (no answer after every retry) or "token" (401: the token was refused)."""

    service: str = ""
    host: str = ""
    cause: str = "unreachable"
    problem: str = ""

    @property
    def summary(self) -> str:
        return f"{self.service} at {self.host} {self.problem}"

    @property
    def fix(self) -> str:
        return _FIX.get((self.service, self.cause), "see docs/admin-guide.md, 'Troubleshoot by message'")


def host_of(url: str) -> str:
    """`host[:port]` of a URL: what an administrator checks, with no path or query."""
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


def transport_reason(exc: httpx.TransportError) -> str:
    """What went wrong on the network, in words (the word "refused" is kept for 401/403 answers)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return "host name not found in DNS"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectTimeout):
        return "no answer to the connection attempt"
    if isinstance(exc, httpx.ConnectError):
        return "nothing accepts connections there"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "the connection broke"
    return f"network error ({type(exc).__name__})"


def seconds(delay: float) -> str:
    return f"{round(delay, 2):g} s"


def warn_network_retry(
    log: logging.Logger, service: str, host: str, why: str, delay: float, attempt: int, max_attempts: int
) -> None:
    """The visible line of a bounded network retry, the same for both clients (on the client's logger)."""
    log.warning(
        "%s at %s not reachable (%s), retrying in %s (%d of %d)",
        service,
        host,
        why,
        seconds(delay),
        attempt,
        max_attempts - 1,
    )


# How long a service found unusable fails every request at once (one cycle's worth); then it is tried again.
HOLD_SECONDS = 60.0


class Breaker:
    """After a service was found unusable, its later requests fail at once for `hold` seconds instead of
    each waiting through retries of its own: a cycle stops early rather than grinding through every mailbox.
    The clients live across Functions executions, so the hold ends by itself."""

    def __init__(self, hold: float = HOLD_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._hold = hold
        self._clock = clock
        self._error: Exception | None = None
        self._until = 0.0

    @property
    def error(self) -> Exception | None:
        """The error that opened the breaker, while it holds."""
        return self._error if self._error is not None and self._clock() < self._until else None

    def check(self) -> None:
        error = self.error
        if error is not None:
            raise error

    def trip(self, error: E) -> E:
        self._error, self._until = error, self._clock() + self._hold
        return error
