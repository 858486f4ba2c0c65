"""OData v4 multipart `$batch` for the F&O stand-in: plain parts and atomic changesets.

Each inner request runs through the same dispatcher as a top-level one. A changeset is all or nothing: when
one of its requests fails, the stand-in restores the data and answers that one error for the whole changeset,
as ODataLib does. Content-ID references (`$1`) are not supported.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from simulators.fno.errors import bad_request
from simulators.fno.state import FnoState

Dispatch = Callable[[Request], Awaitable[Response]]
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found"}
_REASONS |= {405: "Method Not Allowed", 412: "Precondition Failed", 429: "Too Many Requests"}


@dataclass
class _Inner:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None


def _boundary(content_type: str) -> str:
    match = _BOUNDARY.search(content_type)
    if match is None or not content_type.lower().startswith("multipart/mixed"):
        raise bad_request("The batch request must have a multipart/mixed content type with a boundary.")
    return match.group(1)


def _split_headers(block: str) -> tuple[dict[str, str], str]:
    head, _, rest = block.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _parts(body: str, boundary: str) -> list[str]:
    pieces = body.split(f"--{boundary}")
    if len(pieces) < 2 or not pieces[-1].startswith("--"):
        raise bad_request("The batch request body is not a complete multipart message.")
    return [piece.strip("\n") + "\n" for piece in pieces[1:-1]]


def _inner(part_headers: dict[str, str], content: str) -> _Inner:
    request_line, _, rest = content.partition("\n")
    words = request_line.split()
    if len(words) != 3 or not words[2].startswith("HTTP/"):
        raise bad_request(f"The batch part request line '{request_line[:80]}' is not valid.")
    headers, body = _split_headers(rest)
    return _Inner(
        words[0].upper(),
        words[1],
        list(headers.items()),
        body.rstrip("\n").encode("utf-8"),
        part_headers.get("content-id"),
    )


def parse_batch(content_type: str, raw: bytes) -> list[list[_Inner] | _Inner]:
    """Top-level items: a single request, or a list of requests forming one changeset."""
    text = raw.decode("utf-8").replace("\r\n", "\n")
    items: list[list[_Inner] | _Inner] = []
    for part in _parts(text, _boundary(content_type)):
        headers, content = _split_headers(part)
        kind = headers.get("content-type", "")
        if kind.lower().startswith("multipart/mixed"):
            changeset = [_inner(*_split_headers(sub)) for sub in _parts(content, _boundary(kind))]
            items.append(changeset)
        else:
            items.append(_inner(headers, content))
    return items


async def _run(outer: Request, inner: _Inner, dispatch: Dispatch) -> Response:
    target = urlsplit(inner.target)
    path = target.path if target.path.startswith("/") else "/data/" + target.path
    body = inner.body

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = dict(outer.scope)
    scope |= {
        "method": inner.method,
        "path": unquote(path),
        "raw_path": path.encode("latin-1", "replace"),
        "query_string": target.query.encode("latin-1", "replace"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in inner.headers]
        + [(b"authorization", outer.headers.get("authorization", "").encode("latin-1"))],
    }
    return await dispatch(Request(scope, receive))


def _render(response: Response, content_id: str | None) -> str:
    reason = _REASONS.get(response.status_code, "")
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"HTTP/1.1 {response.status_code} {reason}".rstrip()]
    lines += [f"{k}: {v}" for k, v in response.headers.items() if k.lower() != "content-length"]
    lines += ["", bytes(response.body).decode("utf-8")]
    return "\r\n".join(lines)


async def run_batch(request: Request, state: FnoState, dispatch: Dispatch) -> Response:
    items = parse_batch(request.headers.get("content-type", ""), await request.body())
    boundary = f"batchresponse_{uuid.uuid4()}"
    chunks: list[str] = []
    for item in items:
        if isinstance(item, _Inner):
            chunks.append(_render(await _run(request, item, dispatch), item.content_id))
            continue
        with state.lock:
            snapshot = state.snapshot()
            results = []
            for inner in item:
                response = await _run(request, inner, dispatch)
                if response.status_code >= 400:
                    state.restore(snapshot)
                    results = [(response, inner.content_id)]
                    break
                results.append((response, inner.content_id))
            else:
                state.commit()  # F&O emits data events after the transaction commits
        if len(results) == 1 and results[0][0].status_code >= 400:
            chunks.append(_render(*results[0]))
            continue
        inner_boundary = f"changesetresponse_{uuid.uuid4()}"
        body = "".join(f"--{inner_boundary}\r\n{_render(r, cid)}\r\n" for r, cid in results)
        chunks.append(
            f"Content-Type: multipart/mixed; boundary={inner_boundary}\r\n\r\n{body}--{inner_boundary}--"
        )
    payload = "".join(f"--{boundary}\r\n{chunk}\r\n" for chunk in chunks) + f"--{boundary}--\r\n"
    return Response(
        payload.encode("utf-8"),
        status_code=200,
        headers={"OData-Version": "4.0"},
        media_type=f"multipart/mixed; boundary={boundary}",
    )
