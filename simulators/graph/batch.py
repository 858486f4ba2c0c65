"""JSON $batch: at most 20 items; independent items run "at the same time" (so they count against the
mailbox concurrency limit together), dependsOn chains run after their dependencies, answers come back in
reverse order so clients cannot rely on ordering."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from simulators.graph.errors import GraphError, bad_request
from simulators.graph.http import GraphRequest, GraphResponse, json_response
from simulators.graph.pipeline import admit, execute, finish
from simulators.graph.state import GraphState

MAX_ITEMS = 20


def _validate(payload: object) -> list[dict[str, Any]]:
    requests = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(requests, list) or not requests:
        raise bad_request("Invalid batch payload format.")
    if len(requests) > MAX_ITEMS:
        raise bad_request(f"The number of requests in a batch exceeds the limit of {MAX_ITEMS}.")
    seen: set[str] = set()
    for item in requests:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("id", "method", "url")
        ):
            raise bad_request("Invalid batch payload format.")
        if item["id"] in seen:
            raise bad_request("Batch request ids must be unique.")
        seen.add(item["id"])
        url = item["url"]
        if urlsplit(url).scheme or url.startswith("//"):
            raise bad_request("Batch request urls must be relative.")
        headers = item.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise bad_request("Invalid batch payload format.")
        if "body" in item and not any(k.lower() == "content-type" for k in headers):
            raise bad_request(
                f"Write request id : {item['id'][:40]} does not contain Content-Type header or body."
            )
    for item in requests:
        deps = item.get("dependsOn", [])
        if not isinstance(deps, list) or not all(isinstance(d, str) and d in seen for d in deps):
            raise bad_request("dependsOn must name requests of the same batch.")
    return requests


def _sub_request(item: dict[str, Any], base_url: str) -> GraphRequest:
    path, _, query = item["url"].partition("?")
    body = json.dumps(item["body"]).encode() if "body" in item else b""
    return GraphRequest.build(item["method"], path, query, item.get("headers", {}), body, base_url)


def _item_json(item_id: str, resp: GraphResponse) -> dict[str, Any]:
    out: dict[str, Any] = {"id": item_id, "status": resp.status, "headers": dict(resp.headers)}
    if resp.body is not None:
        out["body"] = resp.body
    return out


async def run(state: GraphState, req: GraphRequest) -> GraphResponse:
    if req.method != "POST":
        return GraphResponse.from_error(
            GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed.")
        )
    try:
        items = _validate(req.json())
    except GraphError as error:
        return GraphResponse.from_error(error)
    results: dict[str, GraphResponse] = {}
    pending = list(items)
    while pending:
        wave = [i for i in pending if all(d in results for d in i.get("dependsOn", []))]
        if not wave:
            return GraphResponse.from_error(bad_request("dependsOn contains a cycle."))
        pending = [i for i in pending if i not in wave]
        admitted = []
        for item in wave:
            failed = [d for d in item.get("dependsOn", []) if not 200 <= results[d].status < 300]
            if failed:
                dependency = GraphError(424, "FailedDependency", "A request this request depends on failed.")
                results[item["id"]] = GraphResponse.from_error(dependency)
                continue
            sub = _sub_request(item, req.base_url)
            mb, refused = admit(state, sub)
            if refused is not None:
                finish(state, sub, None, refused, batched=True)
                results[item["id"]] = refused
            else:
                admitted.append((item, sub, mb))
        for item, sub, mb in admitted:
            resp = execute(state, sub)
            finish(state, sub, mb, resp, batched=True)
            results[item["id"]] = resp
    responses = [_item_json(i["id"], results[i["id"]]) for i in reversed(items)]
    return json_response(200, {"responses": responses})
