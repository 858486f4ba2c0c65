"""Starlette app serving the Graph stand-in under /v1.0 (serve it with simulators.serve.serve)."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.graph.http import GraphRequest
from simulators.graph.pipeline import handle
from simulators.graph.state import GraphState

_METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]


def create_graph_app(state: GraphState) -> Starlette:
    async def endpoint(request: Request) -> Response:
        # raw_path keeps %2F inside an id segment; the decoded path would split the id.
        raw = request.scope.get("raw_path") or request.url.path.encode()
        path = raw.decode("latin-1").partition("?")[0].removeprefix("/v1.0")
        base_url = f"{request.url.scheme}://{request.url.netloc}/v1.0"
        # Repeated headers (two Prefer lines) are joined as HTTP allows, not reduced to the first one.
        headers = {name: ", ".join(request.headers.getlist(name)) for name in request.headers}
        graph_request = GraphRequest.build(
            request.method, path, request.url.query, headers, await request.body(), base_url
        )
        resp = await handle(state, graph_request)
        content = b"" if resp.body is None else json.dumps(resp.body).encode()
        return Response(content, resp.status, headers=resp.headers)

    return Starlette(routes=[Route("/v1.0/{rest:path}", endpoint, methods=_METHODS)])
