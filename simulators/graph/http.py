"""Framework-neutral request/response used by the router, so $batch items run through the same code."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from simulators.graph.errors import GraphError, bad_request, error_body
from simulators.graph.odata import Prefer, parse_prefer


@dataclass
class GraphRequest:
    method: str
    segments: list[str]
    """Path segments after /v1.0, percent-decoded one by one (an encoded '/' stays inside its segment)."""
    query: dict[str, str]
    """Query options with lower-cased names; '+' decodes to a space as in any form-encoded query."""
    headers: dict[str, str]
    body: bytes
    base_url: str
    """Absolute root for links, e.g. http://127.0.0.1:5000/v1.0."""
    prefer: Prefer = field(default_factory=Prefer)

    @classmethod
    def build(
        cls, method: str, raw_path: str, raw_query: str, headers: dict[str, str], body: bytes, base_url: str
    ) -> GraphRequest:
        segments = [_function_name(unquote(part)) for part in raw_path.strip("/").split("/") if part]
        query: dict[str, str] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query[name.lower()] = value
        lowered = {k.lower(): v for k, v in headers.items()}
        prefer = parse_prefer([lowered["prefer"]] if "prefer" in lowered else [])
        return cls(method.upper(), segments, query, lowered, body, base_url, prefer)

    def json(self) -> Any:
        if not self.body:
            raise bad_request("Empty Payload. JSON content expected.", "BadRequest")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise bad_request("Unable to read JSON request payload.", "BadRequest") from exc

    def link(self, *segments: str, query: str = "") -> str:
        path = "/".join(quote(s, safe="@'()") for s in segments)
        return f"{self.base_url}/{path}" + (f"?{query}" if query else "")


def _function_name(segment: str) -> str:
    """`delta()` is `delta`: OData calls a function with an empty parameter list, and msgraph-sdk's request
    builders send that form (`.../calendarView/delta()`); Graph documents the bare one (event-delta.md)."""
    return segment[:-2] if segment == "delta()" else segment


@dataclass
class GraphResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_error(cls, error: GraphError, client_request_id: str | None = None) -> GraphResponse:
        headers = {"Content-Type": "application/json", **error.headers}
        return cls(error.status, error_body(error.code, error.message, client_request_id), headers)


def encode_query(options: dict[str, str]) -> str:
    """Query string for links: values percent-encoded, OData punctuation kept readable."""
    return urlencode(options, quote_via=quote, safe="$'(),:/")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> GraphResponse:
    return GraphResponse(status, body, {"Content-Type": "application/json", **(headers or {})})
