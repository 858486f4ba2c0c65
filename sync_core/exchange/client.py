"""Microsoft Graph client for the sync: raw Graph JSON in and out, one place for throttling and retries.

Transport and auth are the msgraph-sdk stack (see ``transport.py`` for why we send kiota
``RequestInformation`` objects and read the native response instead of using the generated models).

What this class guarantees:

- Every request carries ``Prefer: IdType="ImmutableId", outlook.timezone="UTC",
  outlook.body-content-type="text"`` (one header, callers' preferences of the same name win); delta rounds
  add ``odata.maxpagesize``.
- At most ``max_concurrency_per_mailbox`` requests per mailbox are in flight (Graph allows 4). A slot is held
  only while a request is on the wire, never while waiting to retry. A ``$batch`` call takes one slot.
  The limits are the gate's (sync_core/limits): with Azure Storage they hold across every instance of
  the app, without it (or while Storage does not answer) within this process.
- At most ``rate_limit_per_mailbox`` requests (``$batch`` items counted) per ``rate_window_seconds`` per
  mailbox (``pacing.py``): the client keeps under Exchange's 10,000 per 10 minutes instead of learning it
  from 429s. A 429 (for instance the concurrency limit of another instance) delays only its own request.
- Retries live here and nowhere else (the SDK ``RetryHandler`` is removed from the middleware): 429 always,
  503/504 unless the request is a non-idempotent POST, and network errors before the request was sent
  (or any network error for idempotent requests). The wait is ``Retry-After`` (fractional seconds allowed)
  or capped exponential backoff with jitter, through the injectable ``sleep``. Event creates count as
  idempotent because they carry a ``transactionId`` (Graph's duplicate guard) plus the F&O stamp.
- ``stats``: ``requests`` (HTTP requests sent), ``throttled`` (429 answers, batch items included) and
  ``retries`` (requests or batch items sent again).
- Logs carry methods, statuses, counts and delays only: URLs hold mailbox addresses and are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from sync_core.auth import TokenSource
from sync_core.limits.gate import LimitGate, resource_key
from sync_core.limits.ledger import Spec
from sync_core.model import hostile_json
from sync_core.service_errors import GRAPH, Breaker, host_of, transport_reason, warn_network_retry

from . import prefer
from .batching import normalise_items, retry_subset, split_calls
from .errors import (
    DeltaTokenExpired,
    GraphError,
    GraphNotFound,
    GraphUnusable,
    error_from_response,
    parse_error_body,
)
from .pacing import MailboxPacer
from .retry import BASE_DELAY, RETRY_STATUSES, backoff, delay_for, retry_after_of
from .transport import GraphTransport, RawResponse
from .urls import GraphUrls, graph_datetime, odata_string, seg, user_seg

log = logging.getLogger(__name__)

_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAX_PAGES = 100_000


@dataclass(frozen=True)
class DeltaPage:
    items: list[dict[str, Any]]
    next_link: str | None
    delta_link: str | None


@dataclass(frozen=True)
class GraphUser:
    id: str
    mail: str
    user_principal_name: str
    display_name: str


def _query(**params: str) -> str:
    return "&".join(f"${name}={quote(value, safe=',()')}" for name, value in params.items())


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _invalid(status: int, what: str) -> GraphError:
    return GraphError(status, "InvalidResponse", what)


class GraphClient:
    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        *,
        max_concurrency_per_mailbox: int = 4,
        rate_limit_per_mailbox: int = 9_500,
        rate_window_seconds: float = 600.0,
        max_attempts: int = 6,
        page_size: int = 100,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        network_retry_seconds: float = BASE_DELAY,
        limits: LimitGate | None = None,
    ) -> None:
        if max_concurrency_per_mailbox < 1 or max_attempts < 1 or page_size < 1:
            raise ValueError("concurrency, attempts and page size must be at least 1")
        self._urls = GraphUrls(base_url)
        self._transport = GraphTransport(self._urls.base, tokens, transport=transport)
        self._max_attempts = max_attempts
        self._page_size = page_size
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._network_retry = network_retry_seconds
        self.host = host_of(self._urls.base)
        # Open once Graph is unreachable after every retry or refuses the token (service_errors.py).
        self.breaker = Breaker()
        self._rate = (rate_limit_per_mailbox, rate_window_seconds)
        # Shared with the F&O client and owned by whoever passed it; otherwise this process's own.
        self._own_gate = limits is None
        self._gate = limits or LimitGate(None)
        self._spec = Spec(
            capacity=max_concurrency_per_mailbox,
            limit=rate_limit_per_mailbox,
            window=rate_window_seconds,
            block=max(1, rate_limit_per_mailbox // 100),
        )
        self._pacers: dict[str, MailboxPacer] = {}
        self.stats: dict[str, int] = {"requests": 0, "throttled": 0, "retries": 0}

    async def close(self) -> None:
        await self._transport.close()
        if self._own_gate:
            await self._gate.close()

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- the one place that sends, throttles and retries ----

    def _limit(self, mailbox: str | None, weight: int) -> AbstractAsyncContextManager[None]:
        """The mailbox's unit of concurrency and `weight` of its rate, across instances (limits/gate.py)."""
        return self._gate.request(resource_key("graph", mailbox or ""), self._spec, weight=weight)

    def _pacer(self, mailbox: str | None) -> MailboxPacer:
        key = (mailbox or "").casefold()
        pacer = self._pacers.get(key)
        if pacer is None:
            pacer = self._pacers[key] = MailboxPacer(*self._rate, sleep=self._sleep)
        return pacer

    async def _wait(self, delay: float, reason: str, attempt: int, count: int = 1) -> None:
        self.stats["retries"] += count
        log.info("graph retry after %s (attempt %d, waiting %.3fs)", reason, attempt, delay)
        await self._sleep(delay)

    async def _after_transport_error(self, exc: httpx.TransportError, attempt: int, *, retry: bool) -> None:
        """Wait before the next attempt (with a warning the administrator sees), or raise: GraphUnusable
        once every attempt failed, a plain GraphError when the request must not be sent again."""
        why = transport_reason(exc)
        if not retry:
            raise GraphError(0, "TransportError", f"no answer from {self.host} ({why})") from exc
        if attempt >= self._max_attempts:
            problem = f"not reachable ({why}) after {attempt} attempts"
            raise self.breaker.trip(GraphUnusable(0, "TransportError", self.host, problem)) from exc
        delay = backoff(attempt, self._rng, self._network_retry)
        self.stats["retries"] += 1
        warn_network_retry(log, GRAPH, self.host, why, delay, attempt, self._max_attempts)
        await self._sleep(delay)

    async def _send(
        self,
        method: str,
        mailbox: str | None,
        url_or_path: str,
        *,
        body: Any = None,
        extra_prefer: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        weight: int = 1,
    ) -> RawResponse:
        url = self._urls.absolute(url_or_path)
        method = method.upper()
        if idempotent is None:
            idempotent = method != "POST"
        sent_headers = {k: v for k, v in (headers or {}).items() if k.lower() != "prefer"}
        given = next((v for k, v in (headers or {}).items() if k.lower() == "prefer"), "")
        sent_headers["Prefer"] = prefer.combine(
            prefer.OUTLOOK_DEFAULTS, list(extra_prefer), prefer.split_prefer(given)
        )
        content = None if body is None else json.dumps(body, allow_nan=False).encode("utf-8")
        attempt = 0
        while True:
            attempt += 1
            self.breaker.check()
            try:
                async with self._pacer(mailbox).slot(weight), self._limit(mailbox, weight):
                    self.stats["requests"] += 1
                    response = await self._transport.send(method, url, sent_headers, content)
            except httpx.TransportError as exc:
                retryable = idempotent or isinstance(exc, _NOT_SENT_ERRORS)
                await self._after_transport_error(exc, attempt, retry=retryable)
                continue
            status = response.status
            if status == 401:
                # The token is not accepted: no request can succeed, so later ones fail at once.
                code = parse_error_body(response.content)[0] or "Unauthorized"
                problem = f"refused the app's token (HTTP 401 {code})"
                request_id = response.headers.get("request-id", "")
                raise self.breaker.trip(GraphUnusable(401, code, self.host, problem, request_id=request_id))
            if status == 429:
                self.stats["throttled"] += 1
            retryable = status == 429 or (status in RETRY_STATUSES and idempotent)
            if not retryable or attempt >= self._max_attempts:
                return response
            await self._wait(delay_for(response.headers, attempt, self._rng), f"{method} {status}", attempt)

    async def _json(
        self,
        method: str,
        mailbox: str | None,
        url_or_path: str,
        *,
        delta: bool = False,
        **send_args: Any,
    ) -> dict[str, Any] | None:
        """Send and decode; raises the matching GraphError for any status of 400 and above."""
        response = await self._send(method, mailbox, url_or_path, **send_args)
        if response.status >= 400:
            raise error_from_response(
                response.status,
                response.content,
                response.headers,
                delta=delta,
                retry_after=retry_after_of(response.headers),
            )
        if response.status == 204 or not response.content.strip():
            return None
        # Every string Graph sends is repaired here, once (a lone surrogate in a subject, bad UTF-8 -> U+FFFD):
        # one such item must not fail every later step that serialises it, nor its whole mailbox.
        try:
            data = hostile_json.loads(response.content)
        except hostile_json.UnreadableJson as exc:
            raise _invalid(response.status, "body is not JSON") from exc
        if not isinstance(data, dict):
            raise _invalid(response.status, "body is not a JSON object")
        return data

    async def _object(
        self, method: str, mailbox: str | None, url_or_path: str, **args: Any
    ) -> dict[str, Any]:
        data = await self._json(method, mailbox, url_or_path, **args)
        if data is None:
            raise _invalid(200, "empty body")
        return data

    # ---- paging ----

    def _link(self, data: Mapping[str, Any], key: str) -> str | None:
        link = data.get(key)
        if link is None:
            return None
        if not isinstance(link, str):
            raise _invalid(200, f"{key} is not a string")
        try:
            return self._urls.absolute(link)
        except ValueError as exc:
            raise GraphError(200, "ForeignLink", f"{key} points outside the Graph root") from exc

    async def _pages(
        self, mailbox: str | None, url_or_path: str, *, delta: bool, extra_prefer: Sequence[str] = ()
    ) -> AsyncIterator[DeltaPage]:
        link: str | None = url_or_path
        seen: set[str] = set()
        while link is not None:
            if link in seen or len(seen) >= _MAX_PAGES:
                raise GraphError(200, "PagingLoop", "the service repeated a paging link")
            seen.add(link)
            data = await self._object("GET", mailbox, link, delta=delta, extra_prefer=extra_prefer)
            value = data.get("value", [])
            if not isinstance(value, list):
                raise _invalid(200, "value is not a list")
            items = [item for item in value if isinstance(item, dict)]
            next_link = self._link(data, "@odata.nextLink")
            delta_link = None if next_link else self._link(data, "@odata.deltaLink")
            if delta and next_link is None and delta_link is None:
                raise _invalid(200, "delta page without nextLink or deltaLink")
            yield DeltaPage(items, next_link, delta_link)
            link = next_link

    async def _collect(self, mailbox: str | None, url_or_path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        async for page in self._pages(mailbox, url_or_path, delta=False):
            items.extend(page.items)
        return items

    async def iter_delta(self, mailbox: str, url_or_link: str) -> AsyncIterator[DeltaPage]:
        """Any delta round (tasks, contacts, messages): pages until the one with ``delta_link``.

        Raises DeltaTokenExpired when Graph no longer knows the sync state, or when a stored link does not
        point at the configured Graph root (a changed ``GRAPH_URL`` makes old tokens useless).
        """
        try:
            start = self._urls.absolute(url_or_link)
        except ValueError as exc:
            raise DeltaTokenExpired(0, "ForeignDeltaLink", "stored link is not under the Graph root") from exc
        extra = [prefer.max_page_size(self._page_size)]
        async for page in self._pages(mailbox, start, delta=True, extra_prefer=extra):
            yield page

    # ---- users, groups, mailbox settings, categories ----

    async def get_user(self, mailbox: str) -> GraphUser | None:
        path = f"users/{user_seg(mailbox)}?" + _query(select="id,mail,userPrincipalName,displayName")
        try:
            data = await self._object("GET", mailbox, path)
        except GraphNotFound:
            return None
        user_id = _text(data.get("id"))
        if not user_id:
            raise _invalid(200, "user without id")
        return GraphUser(
            id=user_id,
            mail=_text(data.get("mail")),
            user_principal_name=_text(data.get("userPrincipalName")),
            display_name=_text(data.get("displayName")),
        )

    async def list_group_member_mails(self, group_id: str) -> list[str]:
        """Mail addresses of the group's user members (groups, devices and contacts are skipped).

        No `/microsoft.graph.user` cast: group-list-members.md documents a cast only with
        `ConsistencyLevel: eventual` and `$count` (an advanced query); the plain list with `$select` and
        `$top` is its basic form, and members that are not users are skipped by their `@odata.type`."""
        path = f"groups/{seg(group_id)}/members?" + _query(select="id,mail,userPrincipalName", top="999")
        mails: list[str] = []
        for member in await self._collect(None, path):
            kind = member.get("@odata.type")
            if kind is not None and kind != "#microsoft.graph.user":
                continue
            mail = _text(member.get("mail")).strip()
            if mail:
                mails.append(mail)
        return mails

    async def get_mailbox_time_zone(self, mailbox: str) -> str:
        data = await self._object("GET", mailbox, f"users/{user_seg(mailbox)}/mailboxSettings/timeZone")
        zone = _text(data.get("value")) or _text(data.get("timeZone"))
        if not zone:
            raise _invalid(200, "mailbox settings without time zone")
        return zone

    async def ensure_category(self, mailbox: str, name: str, color: str = "preset4") -> bool:
        """Create the master category unless one of that name exists; True when this call created it."""
        path = f"users/{user_seg(mailbox)}/outlook/masterCategories"
        wanted = name.casefold()
        for category in await self._collect(mailbox, path):
            if _text(category.get("displayName")).casefold() == wanted:
                return False
        try:
            await self._json(
                "POST", mailbox, path, body={"displayName": name, "color": color}, idempotent=True
            )
        except GraphError as exc:
            if exc.status == 409:  # created meanwhile by another worker
                return False
            raise
        return True

    # ---- events ----

    async def iter_event_delta(
        self, mailbox: str, *, delta_link: str | None, start: datetime, end: datetime
    ) -> AsyncIterator[DeltaPage]:
        """calendarView delta in the window, or the next round from ``delta_link``; streams page by page."""
        if delta_link:
            url = delta_link
        else:
            url = (
                f"users/{user_seg(mailbox)}/calendarView/delta"
                f"?startDateTime={quote(graph_datetime(start))}&endDateTime={quote(graph_datetime(end))}"
            )
        async for page in self.iter_delta(mailbox, url):
            yield page

    def _event_path(self, mailbox: str, event_id: str) -> str:
        return f"users/{user_seg(mailbox)}/events/{seg(event_id)}"

    async def get_event(
        self, mailbox: str, event_id: str, *, stamp_property_id: str | None = None
    ) -> dict[str, Any] | None:
        path = self._event_path(mailbox, event_id)
        if stamp_property_id:
            path += "?" + _query(
                expand=f"singleValueExtendedProperties($filter=id eq {odata_string(stamp_property_id)})"
            )
        try:
            return await self._object("GET", mailbox, path)
        except GraphNotFound:
            return None

    async def find_events_by_property(
        self, mailbox: str, property_id: str, value: str
    ) -> list[dict[str, Any]]:
        """Events stamped with ``value`` in the extended property; the property is expanded on each."""
        prop = odata_string(property_id)
        query = _query(
            filter=f"singleValueExtendedProperties/any(ep: ep/id eq {prop} and ep/value eq {odata_string(value)})",
            expand=f"singleValueExtendedProperties($filter=id eq {prop})",
        )
        return await self._collect(mailbox, f"users/{user_seg(mailbox)}/events?{query}")

    async def create_event(self, mailbox: str, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("transactionId"):
            raise ValueError("event creates must carry a transactionId so that retries cannot duplicate them")
        return await self._object(
            "POST", mailbox, f"users/{user_seg(mailbox)}/events", body=body, idempotent=True
        )

    async def update_event(
        self, mailbox: str, event_id: str, patch: dict[str, Any], *, if_match: str | None = None
    ) -> dict[str, Any]:
        """PATCH exactly ``patch``: keys set to None go out as JSON null (clears the field in Graph). With
        ``if_match`` (the event's ``@odata.etag``) a changed event answers 412 and nothing is written."""
        headers = {"If-Match": if_match} if if_match else None
        data = await self._json(
            "PATCH", mailbox, self._event_path(mailbox, event_id), body=patch, headers=headers
        )
        return data or {}

    async def delete_event(self, mailbox: str, event_id: str) -> None:
        try:
            await self._json("DELETE", mailbox, self._event_path(mailbox, event_id))
        except GraphNotFound:
            log.info("graph delete: event already gone")

    # ---- generic ----

    async def request_json(
        self,
        method: str,
        mailbox: str | None,
        url_or_path: str,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any] | None:
        """Any Graph call: path relative to the Graph root (ids already encoded with ``urls.seg``) or an
        absolute link under it. Returns the JSON object, None for an empty answer; raises GraphError
        (GraphNotFound on 404). ``idempotent`` (default: not POST) allows retrying 503/504 and network
        errors."""
        return await self._json(
            method, mailbox, url_or_path, body=body, headers=headers, idempotent=idempotent
        )

    # ---- $batch ----

    async def batch(self, mailbox: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """JSON batch: items ``{id?, method, url, headers?, body?, dependsOn?}`` (``depends_on`` accepted;
        ids inside ``url`` must already be encoded with ``urls.seg``).

        Split into calls of at most 20 (``dependsOn`` groups kept together); throttled items (429, and
        503/504 unless POST) are sent again, with their failed dependents (424), after the longest
        ``Retry-After``, until every item is settled or ``max_attempts`` rounds in a row settle nothing.
        The batch call takes one of the mailbox's concurrency slots; Graph itself limits its items. Returns the raw response items (``id``, ``status``, ``headers``, ``body``) in the
        order of ``requests``; items still failing after the last attempt keep their error answer.
        """
        items = normalise_items(requests, self._urls)
        results: dict[str, dict[str, Any]] = {}
        for call in split_calls(items):
            results.update(await self._batch_call(mailbox, call))
        return [results[item["id"]] for item in items]

    async def _batch_call(self, mailbox: str, call: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        pending = call
        # Graph runs batch items concurrently, so items beyond the mailbox's 4 concurrent requests come back
        # 429. Only a round that settles nothing counts as a failed attempt: a batch that makes progress
        # each round is never cut short by max_attempts.
        stalls = 0
        while pending:
            idempotent = all(item["method"] != "POST" for item in pending)
            data = await self._object(
                "POST",
                mailbox,
                "$batch",
                body={"requests": pending},
                idempotent=idempotent,
                weight=len(pending),  # Graph's rate limit counts every item
            )
            answers = _batch_answers(data, pending)
            retry_ids = _batch_retry_ids(pending, answers)
            self.stats["throttled"] += sum(1 for answer in answers.values() if answer["status"] == 429)
            stalls = stalls + 1 if len(retry_ids) == len(pending) else 0
            if stalls >= self._max_attempts:
                retry_ids = set()
            results.update(
                {item_id: answer for item_id, answer in answers.items() if item_id not in retry_ids}
            )
            if not retry_ids:
                break
            waits = [retry_after_of(_headers(answers[i])) for i in retry_ids]
            given = [w for w in waits if w is not None]
            delay = max(given) if given else backoff(max(stalls, 1), self._rng)
            await self._wait(delay, "throttled batch items", stalls, count=len(retry_ids))
            pending = retry_subset(pending, retry_ids)
        return results


def _headers(answer: Mapping[str, Any]) -> dict[str, str]:
    headers = answer.get("headers")
    if not isinstance(headers, dict):
        return {}
    return {str(k): str(v) for k, v in headers.items()}


def _status(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _batch_answers(
    data: Mapping[str, Any], pending: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Answers by item id; an item Graph did not answer gets a synthetic 500 so callers always see one."""
    responses = data.get("responses")
    if not isinstance(responses, list):
        raise _invalid(200, "batch answer without responses")
    wanted = {item["id"] for item in pending}
    answers: dict[str, dict[str, Any]] = {}
    for answer in responses:
        if isinstance(answer, dict) and str(answer.get("id")) in wanted:
            answer = dict(answer)
            answer["id"] = str(answer["id"])
            answer["status"] = _status(answer.get("status"))
            answers[answer["id"]] = answer
    for item_id in wanted - answers.keys():
        error = {"error": {"code": "MissingBatchResponse", "message": "no answer for this item"}}
        answers[item_id] = {"id": item_id, "status": 500, "headers": {}, "body": error}
    return answers


def _batch_retry_ids(
    pending: Sequence[Mapping[str, Any]], answers: Mapping[str, Mapping[str, Any]]
) -> set[str]:
    retry = {
        item["id"]
        for item in pending
        if answers[item["id"]]["status"] == 429
        or (answers[item["id"]]["status"] in RETRY_STATUSES and item["method"] != "POST")
    }
    # Dependents that failed only because their dependency was throttled (424) go again with it.
    grew = True
    while grew:
        grew = False
        for item in pending:
            if item["id"] in retry or answers[item["id"]]["status"] != 424:
                continue
            if any(dep in retry for dep in item.get("dependsOn", [])):
                retry.add(item["id"])
                grew = True
    return retry
