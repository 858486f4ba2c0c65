"""What happens to every request, direct or inside $batch: auth, throttling, dispatch, logging."""

from __future__ import annotations

import asyncio

from simulators.graph import permissions
from simulators.graph.errors import GraphError
from simulators.graph.http import GraphRequest, GraphResponse
from simulators.graph.model import Mailbox
from simulators.graph.router import dispatch, mailbox_for
from simulators.graph.state import GraphState

CONCURRENCY_RETRY_AFTER = 0.5
_HOLD_LIMIT = 30.0


def check_auth(state: GraphState, req: GraphRequest) -> GraphResponse | None:
    scheme, _, token = req.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip() == state.token:
        return None
    message = "Access token is empty." if not token else "Access token validation failure. Invalid audience."
    return GraphResponse.from_error(GraphError(401, "InvalidAuthenticationToken", message))


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": f"{seconds:g}"}


def admit(state: GraphState, req: GraphRequest) -> tuple[Mailbox | None, GraphResponse | None]:
    """Take a concurrency slot for the request's mailbox, or answer 429 as Exchange does."""
    mb = mailbox_for(state, req.segments)
    if mb is None:
        return None, None
    injected = state.take_injected_throttle(mb)
    if injected is not None:
        error = GraphError(429, "TooManyRequests", "Please retry again later.", _retry_after(injected))
        return None, GraphResponse.from_error(error)
    over = state.take_rate_slot(mb)
    if over is not None:
        error = GraphError(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxRequests limit.",
            _retry_after(round(over, 3)),
        )
        return None, GraphResponse.from_error(error)
    if not state.try_acquire(mb):
        error = GraphError(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
            _retry_after(CONCURRENCY_RETRY_AFTER),
        )
        return None, GraphResponse.from_error(error)
    return mb, None


def execute(state: GraphState, req: GraphRequest) -> GraphResponse:
    try:
        with state.lock:
            permissions.check(state, req)
            return dispatch(state, req)
    except GraphError as error:
        return GraphResponse.from_error(error, req.headers.get("client-request-id"))


def _preferences(req: GraphRequest) -> list[str]:
    raw = req.headers.get("prefer", "")
    return [p for p in raw.split(",") if p.strip()]


def finish(
    state: GraphState, req: GraphRequest, mb: Mailbox | None, resp: GraphResponse, *, batched: bool = False
) -> None:
    if mb is not None:
        state.release(mb)
    target = mailbox_for(state, req.segments)
    entry = {
        "method": req.method,
        "path": "/" + "/".join(req.segments),
        "mailbox": target.user.mail if target else None,
        "status": resp.status,
        # Shapes for the wire inventory (docs/wire.md): option and preference names, never their values.
        "segments": list(req.segments),  # an id may hold '/', which "path" no longer shows
        "options": sorted(req.query),
        "prefer": sorted(p.split("=", 1)[0].strip().lower() for p in _preferences(req)),
    }
    if_match = next((v for k, v in req.headers.items() if k.lower() == "if-match"), None)
    if if_match is not None:
        entry["if_match"] = if_match  # tests check which writes were conditional
    if batched:
        entry["batched"] = True  # an item inside a $batch: counted by Graph's limits, not an HTTP call
    with state.lock:
        state.request_log.append(entry)


async def _wire(state: GraphState) -> None:
    if state.latency:
        await asyncio.sleep(state.latency)  # the wire and Exchange's own work (one per HTTP call)


async def handle(state: GraphState, req: GraphRequest) -> GraphResponse:
    """One top-level HTTP request."""
    denied = check_auth(state, req)
    if denied is not None:
        finish(state, req, None, denied)
        return denied
    if req.segments[:1] == ["subscriptions"]:
        from simulators.graph import subscriptions_api  # async: creating one calls the endpoint back

        await _wire(state)
        resp = await subscriptions_api.handle(state, req)
        finish(state, req, None, resp)
        return resp
    if req.segments == ["$batch"]:
        from simulators.graph import batch

        await _wire(state)
        resp = await batch.run(state, req)
        finish(state, req, None, resp)
        return resp
    # The slot is taken on arrival, before the request's time on the wire: Exchange counts a request in
    # flight from when it arrives, so overlapping calls meet the 4-per-mailbox limit ("Outlook service
    # limits", https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
    mb, refused = admit(state, req)
    target = mailbox_for(state, req.segments)
    if target is not None:
        state.offer(target, 1)  # the meter of what the client has in flight, refused or not
    try:
        await _wire(state)  # a refusal travels the wire too
        if refused is not None:
            finish(state, req, None, refused)
            return refused
        hold = state.hold_for(mb) if mb else None
        if hold is not None:
            # Tests hold requests in flight to provoke the concurrency limit; bounded so nothing hangs.
            await asyncio.to_thread(hold.wait, _HOLD_LIMIT)
        resp = execute(state, req)
    except BaseException:
        if mb is not None:
            state.release(mb)
        raise
    finally:
        if target is not None:
            state.offer(target, -1)
    finish(state, req, mb, resp)
    return resp
