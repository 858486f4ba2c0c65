"""Fault injection for the stand-ins: an ASGI middleware that wraps the Graph or the F&O app.

Nothing here changes a stand-in; a test wraps the app it serves::

    faults = Faults(seed=7)
    faults.fail("POST", r"^/data/Activities$", status=503, count=3)        # refused, not applied
    faults.lose_answer("POST", r"/events$", skip=2, count=1)               # applied, answer lost
    faults.answer_late("PATCH", r"^/data/Activities\\(", seconds=105)     # applied, answered late
    faults.on_applied_write(lambda write: print(write.method, write.path))  # right after a write
    with serve(FaultInjector(create_fno_app(fno_state), faults, service="fno")) as server:
        ...

(`simulators.serve.serve` takes any ASGI app, so serving a wrapped stand-in needs no change there; an
unwrapped app, or a `Faults` without rules and hooks, behaves exactly as before.)

Rules
    Each rule matches on the HTTP method (a regular expression matched in full, case-insensitive; `None` or
    "*" for any) and the path (a regular expression searched in the request's *decoded* path, e.g.
    `/data/Activities` or `/v1.0/users/alice@contoso.com/events`; the query string is not part of it), and
    optionally the service name given to the wrapper. It fires only

    - after the first `skip` matching requests (they pass untouched),
    - at most `count` times (`None`: no limit),
    - with `probability` (drawn from the `Faults`' own random generator, seeded, so runs repeat),
    - inside `window` = (start, end) seconds since `Faults.epoch` (the creation of the `Faults`, or the
      last `restart_clock()`).

    Rules are tried in the order they were added; the first one that fires decides. Matching, counting and
    the probability draw happen atomically under a lock, so one `Faults` may serve several stand-ins in
    several server threads.

Effects
    `Fail`       answer `status` with `body` without passing the request to the stand-in (nothing applied;
                 the stand-in's request_log does not see it). E.g. 503 with a JSON error, 502 with an HTML
                 page as a gateway sends it, 429 with Retry-After.
    `LoseAnswer` pass the request to the stand-in (it is applied and logged as usual), then break the
                 connection: the response start goes out with a Content-Length one byte larger than the body
                 that follows, and the connection is closed. An httpx client sees the status line and
                 headers and then `httpx.RemoteProtocolError` ("peer closed connection without sending
                 complete message body") while reading the body, i.e. from `client.request(...)`: no answer.
    `LateAnswer` pass the request to the stand-in (applied), then wait `seconds` before sending its answer.
                 A client whose timeout is shorter sees `httpx.ReadTimeout`; a patient one gets the answer.

Hooks
    `on_applied_write(hook)` calls `hook(AppliedWrite)` for every write (POST, PATCH, PUT, DELETE) the
    stand-in answered with 2xx, right after the stand-in applied it and *before* its answer is sent (an
    F&O or Graph `$batch` counts as one write). The hook runs on the stand-in's event loop thread, so keep it
    short (an `os.kill` is fine). If it returns `LOSE_ANSWER`, the answer is lost as with `LoseAnswer`: the
    chaos test kills the sync process there, so the process dies between "applied" and "answered".

A client that goes away while the stand-in reads its request (a killed process) gets no answer and causes
no traceback in the server's log.

Everything that fired is recorded in `Faults.log` (`Fired` entries), and `Faults.applied_writes` counts the
writes seen by the hooks, so a test can assert that its faults really happened.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.requests import ClientDisconnect

__all__ = [
    "BAD_GATEWAY_HTML",
    "LOSE_ANSWER",
    "WRITE_METHODS",
    "AppliedWrite",
    "Effect",
    "Fail",
    "FaultInjector",
    "Faults",
    "Fired",
    "LateAnswer",
    "LoseAnswer",
    "RequestInfo",
    "Rule",
    "json_error",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WRITE_METHODS: Final = frozenset({"POST", "PATCH", "PUT", "DELETE"})
LOSE_ANSWER: Final = "lose-answer"

BAD_GATEWAY_HTML: Final = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><h1>502 Bad Gateway</h1><p>The server, while acting as a gateway or proxy, received an invalid "
    "response from the upstream server.</p></body></html>\n"
)


def json_error(code: str, message: str) -> dict[str, Any]:
    """An error body both Graph and F&O clients read (`{"error": {"code", "message"}}`)."""
    return {"error": {"code": code, "message": message}}


# -- effects ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fail:
    """Answer this instead of passing the request on (nothing is applied)."""

    status: int = 503
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LoseAnswer:
    """Apply the request, then break the connection before the answer is complete."""


@dataclass(frozen=True)
class LateAnswer:
    """Apply the request, then wait `seconds` before answering."""

    seconds: float


Effect = Fail | LoseAnswer | LateAnswer


# -- what rules and hooks see -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestInfo:
    service: str
    method: str
    path: str
    query: str


@dataclass(frozen=True)
class AppliedWrite:
    """A write the stand-in applied (2xx), seen right before its answer is sent."""

    service: str
    method: str
    path: str
    query: str
    status: int
    number: int  # 1-based count of applied writes seen by this Faults (all services together)
    answer: bytes = b""  # the answer the stand-in gave (e.g. the created item), whether or not it is sent


@dataclass(frozen=True)
class Fired:
    """One effect that happened: a rule's effect, or a hook's verdict (`rule` is None then)."""

    at: float  # seconds since Faults.epoch
    service: str
    method: str
    path: str
    effect: Effect
    rule: Rule | None
    status: int | None = None  # the stand-in's status for effects that let the request through


@dataclass(eq=False)
class Rule:
    effect: Effect
    method: re.Pattern[str] | None
    path: re.Pattern[str]
    service: str | None = None
    count: int | None = None
    probability: float = 1.0
    window: tuple[float, float] | None = None
    skip: int = 0
    matched: int = field(default=0, init=False)  # requests that matched method, path and service
    fired: int = field(default=0, init=False)

    def matches(self, request: RequestInfo) -> bool:
        if self.service is not None and self.service != request.service:
            return False
        if self.method is not None and not self.method.fullmatch(request.method):
            return False
        return self.path.search(request.path) is not None


# -- the registry ------------------------------------------------------------------------------------------


class Faults:
    """Rules and hooks shared by any number of `FaultInjector`s (thread-safe)."""

    def __init__(self, *, seed: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._clock = clock
        self.epoch = clock()
        self._rules: list[Rule] = []
        self._hooks: list[Callable[[AppliedWrite], object]] = []
        self.log: list[Fired] = []
        self.applied_writes = 0

    # ---- adding and removing -------------------------------------------------------------------------

    def add(
        self,
        effect: Effect,
        method: str | None,
        path: str,
        *,
        service: str | None = None,
        count: int | None = None,
        probability: float = 1.0,
        window: tuple[float, float] | None = None,
        skip: int = 0,
    ) -> Rule:
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if (count is not None and count < 0) or skip < 0:
            raise ValueError("count and skip must not be negative")
        method_re = None if method in (None, "*") else re.compile(str(method), re.IGNORECASE)
        rule = Rule(
            effect,
            method_re,
            re.compile(path),
            service=service,
            count=count,
            probability=probability,
            window=window,
            skip=skip,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def fail(
        self,
        method: str | None,
        path: str,
        *,
        status: int = 503,
        body: bytes | str | dict[str, Any] | list[Any] | None = None,
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        **when: Any,
    ) -> Rule:
        """Answer `status` without applying. `body`: a dict or list is sent as JSON, a str starting with "<"
        as an HTML page, other text as plain text; default: a JSON error naming the status."""
        if body is None:
            body = json_error(
                "ServiceUnavailable" if status == 503 else f"Http{status}", f"injected {status}"
            )
        if isinstance(body, dict | list):
            data, kind = json.dumps(body).encode(), "application/json"
        elif isinstance(body, str):
            data = body.encode()
            kind = (
                "text/html; charset=utf-8" if body.lstrip().startswith("<") else "text/plain; charset=utf-8"
            )
        else:
            data, kind = body, "application/octet-stream"
        effect = Fail(status, data, content_type or kind, tuple(headers))
        return self.add(effect, method, path, **when)

    def unavailable(
        self, method: str | None, path: str, *, retry_after: int | None = None, **when: Any
    ) -> Rule:
        """503 with a JSON error (a maintenance window, an overloaded service)."""
        headers = () if retry_after is None else (("Retry-After", str(retry_after)),)
        return self.fail(method, path, status=503, headers=headers, **when)

    def bad_gateway(self, method: str | None, path: str, **when: Any) -> Rule:
        """502 with an HTML page, as a load balancer or gateway answers."""
        return self.fail(method, path, status=502, body=BAD_GATEWAY_HTML, **when)

    def lose_answer(self, method: str | None, path: str, **when: Any) -> Rule:
        return self.add(LoseAnswer(), method, path, **when)

    def answer_late(self, method: str | None, path: str, seconds: float, **when: Any) -> Rule:
        return self.add(LateAnswer(seconds), method, path, **when)

    def on_applied_write(self, hook: Callable[[AppliedWrite], object]) -> Callable[[], None]:
        """Call `hook` after every applied write, before its answer; returns a function removing it."""
        with self._lock:
            self._hooks.append(hook)

        def remove() -> None:
            with self._lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)

        return remove

    def remove(self, rule: Rule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """No rules and no hooks any more (the log and counters stay)."""
        with self._lock:
            self._rules.clear()
            self._hooks.clear()

    def restart_clock(self) -> None:
        """Windows count from now on."""
        with self._lock:
            self.epoch = self._clock()

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    # ---- used by the middleware ------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock() - self.epoch

    def decide(self, request: RequestInfo) -> tuple[Rule, Effect] | None:
        """The rule that fires for this request, if any (counted and recorded)."""
        with self._lock:
            elapsed = self._clock() - self.epoch
            for rule in self._rules:
                if not rule.matches(request):
                    continue
                rule.matched += 1
                if rule.matched <= rule.skip:
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.window is not None and not rule.window[0] <= elapsed < rule.window[1]:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                if isinstance(rule.effect, Fail):
                    self._record(request, rule.effect, rule, rule.effect.status, elapsed)
                return rule, rule.effect
        return None

    def applied(self, request: RequestInfo, status: int, answer: bytes = b"") -> bool:
        """Run the hooks for an applied write; True if one of them wants the answer lost."""
        with self._lock:
            self.applied_writes += 1
            write = AppliedWrite(
                request.service,
                request.method,
                request.path,
                request.query,
                status,
                self.applied_writes,
                answer,
            )
            hooks = list(self._hooks)
        lose = False
        for hook in hooks:  # outside the lock: a hook may add rules or read the log
            if hook(write) == LOSE_ANSWER:
                lose = True
        if lose:
            self.record(request, LoseAnswer(), None, status)
        return lose

    def record(self, request: RequestInfo, effect: Effect, rule: Rule | None, status: int | None) -> None:
        with self._lock:
            self._record(request, effect, rule, status, self._clock() - self.epoch)

    def _record(
        self, request: RequestInfo, effect: Effect, rule: Rule | None, status: int | None, at: float
    ) -> None:
        self.log.append(Fired(at, request.service, request.method, request.path, effect, rule, status))


# -- the middleware ----------------------------------------------------------------------------------------

# Set while a request's answer is deliberately broken, so the server's complaint about it stays quiet.
_BREAKING: contextvars.ContextVar[bool] = contextvars.ContextVar("simulators_faults_breaking", default=False)
_INCOMPLETE = "ASGI callable returned without completing response."
_filter_lock = threading.Lock()
_filter_installed = False


class _QuietBrokenAnswers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (_BREAKING.get() and record.getMessage() == _INCOMPLETE)


def _install_filter() -> None:
    global _filter_installed
    with _filter_lock:
        if not _filter_installed:
            logging.getLogger("uvicorn.error").addFilter(_QuietBrokenAnswers())
            _filter_installed = True


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


class FaultInjector:
    """ASGI middleware applying a `Faults`' rules and hooks to one stand-in app (`service` names it in
    rules, hooks and the log: "graph", "fno", ...)."""

    def __init__(self, app: AsgiApp, faults: Faults, *, service: str = "") -> None:
        self.app = app
        self.faults = faults
        self.service = service
        _install_filter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = RequestInfo(
            self.service,
            str(scope["method"]).upper(),
            str(scope["path"]),
            bytes(scope.get("query_string", b"")).decode("latin-1"),
        )
        decided = self.faults.decide(request)
        rule, effect = decided if decided is not None else (None, None)
        if isinstance(effect, Fail):
            await _drain(receive)
            headers = [
                (b"content-type", effect.content_type.encode("latin-1")),
                (b"content-length", str(len(effect.body)).encode()),
                *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in effect.headers),
            ]
            await send({"type": "http.response.start", "status": effect.status, "headers": headers})
            await send({"type": "http.response.body", "body": effect.body, "more_body": False})
            return
        is_write = request.method in WRITE_METHODS
        if effect is None and not is_write:
            await self._app(scope, receive, send)  # the common case: untouched
            return

        # Hold the answer until it is complete, then decide what becomes of it.
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = dict(message)
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
            else:  # pragma: no cover - nothing else is sent over HTTP
                await send(message)

        if not await self._app(scope, receive, hold) or start is None:
            return
        status = int(start["status"])
        body = b"".join(chunks)
        lose = isinstance(effect, LoseAnswer)
        if is_write and 200 <= status < 300 and self.faults.applied(request, status, body):
            lose = True
        if isinstance(effect, LoseAnswer | LateAnswer):
            assert rule is not None
            self.faults.record(request, effect, rule, status)
        if lose:
            await self._break(send, start, body)
            return
        if isinstance(effect, LateAnswer):
            await asyncio.sleep(effect.seconds)
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Run the stand-in; False when the client went away while it read the request (a killed process):
        there is nobody to answer, and the server's traceback about it would only be noise."""
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            return False
        return True

    async def _break(self, send: Send, start: Message, body: bytes) -> None:
        """Promise one byte more than is sent, then return: the server closes the connection mid-answer."""
        _BREAKING.set(True)
        headers = [(k, v) for k, v in start.get("headers", []) if bytes(k).lower() != b"content-length"]
        headers.append((b"content-length", str(len(body) + 1).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": True})
