"""The Function App's HTTP functions served on loopback, as the Functions host would serve them: Graph (the
stand-in) calls them over real HTTP. Query parameters are handed over decoded, as the host does."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import azure.functions as func
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.serve import serve

# FunctionApp.get_functions() may run once per process (a second call refuses the names as duplicates):
# share the table tests/e2e/test_functions.py builds.
from tests.e2e.test_functions import _USER_FUNCTIONS

Handler = Callable[[func.HttpRequest], Coroutine[Any, Any, func.HttpResponse]]
USER_FUNCTIONS: dict[str, Handler] = _USER_FUNCTIONS  # type: ignore[assignment]


def create_webhook_app(calls: list[str] | None = None) -> Starlette:
    def route(function: str) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def endpoint(request: Request) -> Response:
            if calls is not None:
                calls.append(function)
            req = func.HttpRequest(
                request.method,
                str(request.url),
                headers=dict(request.headers),
                params=dict(request.query_params),
                body=await request.body(),
            )
            answer = await USER_FUNCTIONS[function](req)
            return Response(answer.get_body(), answer.status_code, media_type=answer.mimetype)

        return endpoint

    return Starlette(
        routes=[
            Route("/api/graph/notifications", route("graph_notifications"), methods=["POST"]),
            Route("/api/graph/lifecycle", route("graph_lifecycle"), methods=["POST"]),
        ]
    )


@contextmanager
def webhook(calls: list[str] | None = None) -> Iterator[str]:
    """Serve the HTTP functions; yields the base URL (what SYNC_NOTIFICATION_URL names)."""
    with serve(create_webhook_app(calls)) as server:
        yield server.url
