"""One HTTP exchange with Graph through the msgraph-sdk stack, without retries.

Why this shape (see docs/spec.md §7, "msgraph-sdk for Python"):

- Transport and auth are the SDK's: an httpx client built by ``msgraph_core.GraphClientFactory`` with Graph
  middleware, msgraph's ``GraphRequestAdapter``, and kiota's ``BaseBearerTokenAuthenticationProvider`` with an
  ``AccessTokenProvider`` over our ``TokenSource`` (allowed-hosts check included).
- Requests are kiota ``RequestInformation`` objects with raw JSON bytes as content, and the answer comes back
  through ``NativeResponseHandler`` as the raw ``httpx.Response``. The mapping layer works on Graph JSON as
  documented, so we never go through the generated models: those drop fields set to ``None`` (an explicit
  null must reach Graph in a PATCH), write ``depends_on`` in ``$batch`` and lose batch item bodies, and
  ``PageIterator`` loses the deltaLink after an empty delta page. With the raw response we also see status,
  ``Retry-After`` and the error envelope of every answer.
- The SDK's default middleware includes ``RetryHandler``, which retries 429/503/504 for every method,
  POST included, and sleeps on its own clock. The middleware list here is the default one **without**
  ``RetryHandler`` (and without ``UrlReplaceHandler``, only needed for ``/me``), so the client's single retry
  loop (``client.py``) is the only place that retries or sleeps.
- Tokens go only to the configured Graph host, and only over https unless that host is a loopback
  stand-in (``http://127.0.0.1:PORT/v1.0``): kiota's azure provider makes the same loopback exception.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.method import Method
from kiota_abstractions.native_response_handler import NativeResponseHandler
from kiota_abstractions.request_information import RequestInformation
from kiota_abstractions.request_option import RequestOption
from kiota_http.middleware import (
    BaseMiddleware,
    HeadersInspectionHandler,
    ParametersNameDecodingHandler,
    RedirectHandler,
)
from kiota_http.middleware.options import ResponseHandlerOption
from kiota_http.middleware.user_agent_handler import UserAgentHandler
from msgraph._version import VERSION as MSGRAPH_VERSION
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph_core import APIVersion, GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler
from msgraph_core.middleware.options import GraphTelemetryHandlerOption

from sync_core.auth import GRAPH_SCOPE, TokenSource

_LOOPBACK_NAMES = frozenset({"localhost"})
_TIMEOUT = httpx.Timeout(100.0, connect=30.0)


class InsecureGraphUrl(ValueError):
    """A Graph URL that would carry a bearer token over plain http to a non-loopback host."""


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: httpx.Headers
    content: bytes


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url_security(url: str) -> None:
    """Raise InsecureGraphUrl unless ``url`` is https, or http to a loopback host."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    raise InsecureGraphUrl("Graph URLs must use https (plain http only to a loopback stand-in)")


def scope_for(base_url: str) -> str:
    """Token scope for a Graph root: the cloud's own ``/.default`` (loopback stand-ins: global Graph)."""
    host = urlsplit(base_url).hostname or ""
    return GRAPH_SCOPE if is_loopback(host) else f"https://{host}/.default"


class TokenSourceAccessTokenProvider(AccessTokenProvider):
    """kiota access-token provider over a TokenSource, limited to the Graph host."""

    def __init__(self, tokens: TokenSource, base_url: str) -> None:
        check_url_security(base_url)
        host = urlsplit(base_url).hostname or ""
        self._tokens = tokens
        self._scope = scope_for(base_url)
        self._validator = AllowedHostsValidator([host])

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        if not self._validator.is_url_host_valid(uri):
            return ""  # another host never sees our token; it answers 401 instead
        check_url_security(uri)
        return await self._tokens.get_token(self._scope)

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._validator


def _middleware() -> list[BaseMiddleware]:
    telemetry = GraphTelemetryHandlerOption(api_version=APIVersion.v1, sdk_version=MSGRAPH_VERSION)
    # The SDK default list minus RetryHandler (we retry in one place) and UrlReplaceHandler (/me only).
    return [
        RedirectHandler(),
        ParametersNameDecodingHandler(),
        UserAgentHandler(),
        HeadersInspectionHandler(),
        GraphTelemetryHandler(options=telemetry),
    ]


class GraphTransport:
    """Sends one request through the SDK request adapter and hands back the raw answer."""

    def __init__(
        self, base_url: str, tokens: TokenSource, *, transport: httpx.AsyncBaseTransport | None
    ) -> None:
        check_url_security(base_url)
        if transport is None:
            client = httpx.AsyncClient(timeout=_TIMEOUT, http2=True)
        else:
            client = httpx.AsyncClient(timeout=_TIMEOUT, transport=transport)
        self._http = GraphClientFactory.create_with_custom_middleware(middleware=_middleware(), client=client)
        auth = BaseBearerTokenAuthenticationProvider(TokenSourceAccessTokenProvider(tokens, base_url))
        self.adapter = GraphRequestAdapter(auth, client=self._http)
        self.adapter.base_url = base_url

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> RawResponse:
        request = RequestInformation(Method(method.upper()))
        request.url = url
        for name, value in headers.items():
            request.headers.add(name, value)
        if body is not None:
            request.set_stream_content(body, "application/json")
        options: list[RequestOption] = [ResponseHandlerOption(NativeResponseHandler())]
        request.add_request_options(options)
        response = await self.adapter.send_primitive_async(request, "bytes", None)
        if not isinstance(response, httpx.Response):
            raise TypeError("the request adapter did not hand back the native response")
        return RawResponse(response.status_code, response.headers, response.content)

    async def close(self) -> None:
        await self._http.aclose()
