"""The one place the product talks to F&O OData: auth, `cross-company=true`, paging, retries, concurrency.

Service protection (per user: the app's, so shared by every instance): at most `max_concurrent` requests
in flight and `rate_limit` per `rate_window` seconds across instances (sync_core/limits, with Azure
Storage; otherwise within this process), and at most `max_concurrency` from this process.

Nothing else in the product sleeps or retries F&O calls. Every request (collection reads, key reads,
writes, followed nextLinks) carries `cross-company=true`, because without it F&O silently limits reads *and
keyed writes* to the service user's default company.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from sync_core.auth import TokenSource
from sync_core.d365.errors import (
    FnoError,
    FnoNotFound,
    FnoThrottled,
    FnoUnusable,
    InsecureFnoUrl,
    error_from_response,
)
from sync_core.d365.odata import KeyValue, key_segment
from sync_core.d365.retry import BACKOFF_BASE, backoff, retry_delay
from sync_core.limits.gate import LimitGate, resource_key
from sync_core.limits.ledger import Spec
from sync_core.model import hostile_json
from sync_core.service_errors import FNO, Breaker, host_of, transport_reason, warn_network_retry

log = logging.getLogger(__name__)

CROSS_COMPANY = "cross-company"
_ENTITY_SET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Readable in a query value; `&`, `=`, `+`, `#`, `%`, `;` and spaces are always encoded.
_QUERY_SAFE = "'(),:$*@/-._~"
_IDEMPOTENT = frozenset({"GET", "PATCH", "DELETE"})
_BAD_GATEWAY = 502
# Transport failures after which the request certainly never reached F&O.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _check_root(url: str) -> None:
    """The bearer token goes to this URL: https only, plain http only to a loopback stand-in."""
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.username or not parts.hostname:
        raise InsecureFnoUrl("D365_URL must be a plain https://host root")
    if parts.scheme == "https":
        return
    host = parts.hostname
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if parts.scheme != "http" or not loopback:
        raise InsecureFnoUrl("D365_URL must use https (plain http only to a loopback stand-in)")


def _query_string(params: list[tuple[str, str]]) -> str:
    return "&".join(f"{name}={quote(value, safe=_QUERY_SAFE)}" for name, value in params)


class FnoClient:
    """Async F&O OData client. Use `async with FnoClient(...)` or call `close()`.

    `stats` counts HTTP attempts (`requests`), 429 answers (`throttled`) and resends (`retries`)."""

    def __init__(
        self,
        d365_url: str,
        tokens: TokenSource,
        *,
        parent_links_collection: str | None = "ActivityParentLinks",
        max_attempts: int = 6,
        max_concurrency: int = 16,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        page_size: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 100.0,
        network_retry_seconds: float = BACKOFF_BASE,
        max_concurrent: int = 48,
        rate_limit: int = 5_700,
        rate_window: float = 300.0,
        limits: LimitGate | None = None,
    ) -> None:
        if max_attempts < 1 or max_concurrency < 1:
            raise ValueError("max_attempts and max_concurrency must be at least 1")
        root = d365_url.strip().rstrip("/")
        _check_root(root)
        self.d365_url = root
        # None when the service publishes no usable parent-link entity (d365/preflight.py): attendees and
        # associations are then skipped.
        self.parent_links_collection = (
            None if parent_links_collection is None else self._check_entity_set(parent_links_collection)
        )
        self.stats: dict[str, int] = {"requests": 0, "throttled": 0, "retries": 0}
        self._data = httpx.URL(root + "/data/")
        self._scope = f"{root}/.default"
        self._tokens = tokens
        self._max_attempts = max_attempts
        # F&O allows 52 requests in flight and 6,000 per 5 minutes per user; the defaults keep a margin.
        self._own_gate = limits is None
        self._gate = limits or LimitGate(None)
        self._spec = Spec(
            capacity=max_concurrent, limit=rate_limit, window=rate_window, block=max(1, rate_limit // 100)
        )
        self._local_max = max_concurrency
        self._resource = resource_key("fno", root)
        self._sleep = sleep
        self._page_size = page_size
        self._network_retry = network_retry_seconds
        self.host = host_of(root)
        # Open once F&O is unreachable after every retry or refuses the token (service_errors.py).
        self.breaker = Breaker()
        self._http = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(timeout, connect=15.0), follow_redirects=False
        )

    async def __aenter__(self) -> FnoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()
        if self._own_gate:
            await self._gate.close()

    def _slot(self) -> AbstractAsyncContextManager[None]:
        """A unit of the app user's F&O concurrency and one token of its rate (limits/gate.py)."""
        return self._gate.request(self._resource, self._spec, local_max=self._local_max)

    # --- public operations -------------------------------------------------------------------------

    async def query(
        self,
        entity_set: str,
        *,
        filter: str | None = None,
        select: list[str] | None = None,
        orderby: str | None = None,
        top: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream the rows of `entity_set`, following `@odata.nextLink` page by page."""
        params: list[tuple[str, str]] = []
        if filter:
            params.append(("$filter", filter))
        if select:
            params.append(("$select", ",".join(select)))
        if orderby:
            params.append(("$orderby", orderby))
        if top is not None:
            if top < 1:
                return
            params.append(("$top", str(top)))
        url: httpx.URL | None = self._url(entity_set, params=params)
        seen = 0
        while url is not None:
            page = await self._json(await self._send("GET", url, entity_set))
            rows = page.get("value")
            if not isinstance(rows, list):
                raise FnoError(200, f"GET {entity_set}: response has no 'value' list")
            for row in rows:
                if isinstance(row, dict):
                    yield row
                    seen += 1
                    if top is not None and seen >= top:
                        return
            url = self._next_page(page.get("@odata.nextLink"), url, entity_set)

    async def get(self, entity_set: str, key: Mapping[str, KeyValue]) -> dict[str, Any] | None:
        """The record with `key` (include `dataAreaId` for company data), or None when it does not exist."""
        try:
            response = await self._send("GET", self._url(entity_set, key=key), entity_set)
        except FnoNotFound:
            return None
        return await self._json(response)

    async def create(self, entity_set: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a new record; returns the record F&O answers with (or `body` if it answers 204)."""
        response = await self._send("POST", self._url(entity_set), entity_set, body=body)
        if response.status_code == 204 or not response.content:
            return dict(body)
        return await self._json(response)

    async def update(
        self,
        entity_set: str,
        key: Mapping[str, KeyValue],
        patch: dict[str, Any],
        *,
        if_match: str | None = None,
    ) -> None:
        """PATCH the given fields of the record with `key`. Raises FnoNotFound when it is gone; with
        `if_match` (the row's `@odata.etag`) FnoError 412 when the row changed since, nothing written."""
        extra = {"If-Match": if_match} if if_match else None
        await self._send("PATCH", self._url(entity_set, key=key), entity_set, body=patch, extra_headers=extra)

    async def delete(self, entity_set: str, key: Mapping[str, KeyValue]) -> None:
        """DELETE the record with `key`; a record that is already gone counts as deleted."""
        try:
            await self._send("DELETE", self._url(entity_set, key=key), entity_set)
        except FnoNotFound:
            return

    async def read_metadata(self, feed: Callable[[bytes], None], *, limit: int) -> None:
        """Stream `{D365_URL}/data/$metadata` (the CSDL document) into `feed`, chunk by chunk, one attempt.
        More than `limit` bytes raise FnoError: the document is parsed as it arrives, never held whole."""
        attempt = 0
        while True:
            attempt += 1
            self.breaker.check()
            headers = {**await self._headers("GET"), "Accept": "application/xml"}
            headers.pop("Prefer", None)
            received = 0
            try:
                async with self._slot():
                    self.stats["requests"] += 1
                    async with self._http.stream(
                        "GET", self._data.join("$metadata"), headers=headers
                    ) as answer:
                        if answer.status_code >= 400:
                            body = await answer.aread()
                            self._refused(answer.status_code)
                            raise error_from_response(answer.status_code, body, "GET", "$metadata")
                        async for chunk in answer.aiter_bytes():
                            received += len(chunk)
                            if received > limit:
                                raise FnoError(
                                    answer.status_code, f"GET $metadata: larger than {limit} bytes"
                                )
                            feed(chunk)
                return
            except httpx.TransportError as exc:
                # Only a connection that never opened is tried again: the document was not half fed.
                await self._after_transport_error(
                    exc, attempt, retry=isinstance(exc, _NOT_SENT), what="GET $metadata"
                )

    # --- plumbing ----------------------------------------------------------------------------------

    @staticmethod
    def _check_entity_set(name: str) -> str:
        if not _ENTITY_SET.match(name):
            raise ValueError("entity set must be a plain identifier")
        return name

    def _url(
        self,
        entity_set: str,
        *,
        key: Mapping[str, KeyValue] | None = None,
        params: list[tuple[str, str]] | None = None,
    ) -> httpx.URL:
        path = self._check_entity_set(entity_set) + (key_segment(key) if key is not None else "")
        query = _query_string([(CROSS_COMPANY, "true"), *(params or [])])
        return self._data.join(f"{path}?{query}")

    def _next_page(self, link: object, current: httpx.URL, entity_set: str) -> httpx.URL | None:
        """The next page's URL, made safe: same origin as F&O (the bearer token goes with it), and still
        cross-company (F&O normally keeps the original options in nextLink; add it if one is missing)."""
        if link is None:
            return None
        if not isinstance(link, str) or not link:
            raise FnoError(200, f"GET {entity_set}: malformed @odata.nextLink")
        url = current.join(link)
        if (url.scheme, url.host, url.port) != (self._data.scheme, self._data.host, self._data.port):
            raise FnoError(200, f"GET {entity_set}: @odata.nextLink points to another host; not followed")
        if url == current:
            raise FnoError(200, f"GET {entity_set}: @odata.nextLink repeats the current page")
        if url.params.get(CROSS_COMPANY, "").lower() != "true":
            url = url.copy_remove_param(CROSS_COMPANY).copy_add_param(CROSS_COMPANY, "true")
        return url

    async def _json(self, response: httpx.Response) -> dict[str, Any]:
        # Hostile text is repaired here, once (lone surrogates, bad UTF-8 -> U+FFFD), so no row can fail
        # a later step that serialises it.
        try:
            payload = hostile_json.loads(response.content)
        except hostile_json.UnreadableJson:
            raise FnoError(response.status_code, "response is not JSON") from None
        if not isinstance(payload, dict):
            raise FnoError(response.status_code, "response JSON is not an object")
        return payload

    async def _headers(self, method: str) -> dict[str, str]:
        token = await self._tokens.get_token(self._scope)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "OData-Version": "4.0",
            "OData-MaxVersion": "4.0",
        }
        if method == "GET" and self._page_size:
            headers["Prefer"] = f"odata.maxpagesize={self._page_size}"
        return headers

    def _refused(self, status: int) -> None:
        """A 401: F&O does not accept the token, so no request can succeed; later ones fail at once."""
        if status == 401:
            raise self.breaker.trip(FnoUnusable(401, self.host, "refused the app's token (HTTP 401)"))

    async def _after_transport_error(
        self, exc: httpx.TransportError, attempt: int, *, retry: bool, what: str
    ) -> None:
        """Wait before the next attempt (with a warning the administrator sees), or raise: FnoUnusable
        once every attempt failed, a plain FnoError when the request must not be sent again."""
        why = transport_reason(exc)
        if not retry:
            raise FnoError(0, f"{what}: no answer from {self.host} ({why})") from exc
        if attempt >= self._max_attempts:
            problem = f"not reachable ({why}) after {attempt} attempts"
            raise self.breaker.trip(FnoUnusable(0, self.host, problem)) from exc
        delay = backoff(attempt, self._network_retry)
        self.stats["retries"] += 1
        warn_network_retry(log, FNO, self.host, why, delay, attempt, self._max_attempts)
        await self._sleep(delay)

    async def _send(
        self,
        method: str,
        url: httpx.URL,
        target: str,
        *,
        body: dict[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries: 429 (Retry-After), 503/504 (backoff), 502 when idempotent, transport
        failures. Raises FnoError."""
        idempotent = method in _IDEMPOTENT
        attempt = 0
        while True:
            attempt += 1
            self.breaker.check()
            headers = {**await self._headers(method), **(extra_headers or {})}
            try:
                async with self._slot():
                    self.stats["requests"] += 1
                    response = await self._http.request(method, url, headers=headers, json=body)
            except httpx.TransportError as exc:
                # A create whose response was lost may have been committed: only resend what is safe.
                safe = idempotent or isinstance(exc, _NOT_SENT)
                await self._after_transport_error(exc, attempt, retry=safe, what=f"{method} {target}")
                continue
            else:
                status = response.status_code
                if status < 400:
                    return response
                self._refused(status)
                if status == 429:
                    self.stats["throttled"] += 1
                retry_after = response.headers.get("Retry-After")
                wait = retry_delay(status, retry_after, attempt, idempotent=idempotent)
                if status == _BAD_GATEWAY and idempotent:
                    # A gateway's error page (F&O behind its load balancer): a read or keyed write is
                    # safe to send again; a create is not (it may have reached F&O).
                    wait = backoff(attempt)
                if wait is None or attempt >= self._max_attempts:
                    error = error_from_response(status, response.content, method, target)
                    if isinstance(error, FnoThrottled):
                        log.warning(
                            "F&O %s %s gave up after %d attempts (HTTP %d)", method, target, attempt, status
                        )
                    raise error
                delay = wait
            self.stats["retries"] += 1
            log.info("F&O %s %s: retry %d in %.1fs", method, target, attempt, delay)
            await self._sleep(delay)
