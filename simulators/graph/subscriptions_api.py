"""/v1.0/subscriptions: create (with the validation handshake), list, get, update (renew), delete."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import unquote

from simulators.graph.errors import GraphError, bad_request
from simulators.graph.http import GraphRequest, GraphResponse, json_response
from simulators.graph.model import Mailbox
from simulators.graph.state import GraphState
from simulators.graph.subscriptions import (
    APPLICATION_ID,
    CHANGE_TYPES,
    MAX_CLIENT_STATE,
    Subscription,
    book,
    check_url,
    graph_time,
)

_CREATE_FIELDS = {
    "changeType", "notificationUrl", "lifecycleNotificationUrl", "resource", "expirationDateTime",
    "clientState", "latestSupportedTlsVersion", "includeResourceData", "notificationQueryOptions",
}  # fmt: skip
_UPDATE_FIELDS = {"expirationDateTime", "notificationUrl", "lifecycleNotificationUrl"}


def _not_found() -> GraphError:
    return GraphError(404, "ResourceNotFound", "The object was not found.")


async def handle(state: GraphState, req: GraphRequest) -> GraphResponse:
    try:
        return await _route(state, req)
    except GraphError as error:
        return GraphResponse.from_error(error, req.headers.get("client-request-id"))


async def _route(state: GraphState, req: GraphRequest) -> GraphResponse:
    seg, method = req.segments, req.method
    subs = book(state)
    if len(seg) == 1:
        if method == "GET":
            context = f"{req.base_url}/$metadata#subscriptions"
            return json_response(
                200, {"@odata.context": context, "value": [_render(req, s) for s in subs.active()]}
            )
        if method == "POST":
            return await _create(state, req)
    elif len(seg) == 2:
        sub = subs.get(seg[1])
        if sub is None:
            raise _not_found()
        if method == "GET":
            return json_response(200, _render(req, sub, entity=True))
        if method == "PATCH":
            return await _update(state, req, sub)
        if method == "DELETE":
            subs.remove(sub.id)
            return GraphResponse(204)
    else:
        raise bad_request(f"Resource not found for the segment '{seg[-1][:100]}'.")
    raise GraphError(
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
    )


def _object(req: GraphRequest, allowed: set[str]) -> dict[str, Any]:
    body = req.json()
    if not isinstance(body, dict):
        raise bad_request("Invalid request body.", "InvalidRequest")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(f"Invalid property '{unknown[0][:100]}'.", "InvalidRequest")
    return body


async def _create(state: GraphState, req: GraphRequest) -> GraphResponse:
    body = _object(req, _CREATE_FIELDS)
    subs = book(state)
    change_types = _change_types(body.get("changeType"))
    url = check_url(body.get("notificationUrl"), "notificationUrl")
    lifecycle = body.get("lifecycleNotificationUrl")
    lifecycle = None if lifecycle is None else check_url(lifecycle, "lifecycleNotificationUrl")
    client_state = body.get("clientState")
    if client_state is not None and (
        not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE
    ):
        raise bad_request("clientState must be a string of at most 128 characters.", "InvalidRequest")
    if body.get("includeResourceData"):
        raise bad_request("includeResourceData needs an encryptionCertificate.", "InvalidRequest")
    resource = body.get("resource")
    mb, collection, folder_key = _resolve(state, resource)
    expiration = subs.check_expiration(body.get("expirationDateTime"))
    # The handshake runs outside the state lock: the endpoint may call Graph back meanwhile.
    await subs.validate(url)
    if lifecycle is not None:
        await subs.validate(lifecycle)
    sub = Subscription(
        id=str(uuid.uuid4()),
        resource=str(resource),
        change_types=change_types,
        notification_url=url,
        lifecycle_url=lifecycle,
        client_state=client_state,
        expiration=expiration,
        user_id=mb.user.id.lower(),
        collection=collection,
        folder_key=folder_key,
        # outlook-immutable-id.md, "Immutable ID with change notifications": the header on the create
        # decides the id format of every notification the subscription sends.
        immutable_ids=req.prefer.immutable_ids,
    )
    subs.add(sub)
    return json_response(201, _render(req, sub, entity=True))


async def _update(state: GraphState, req: GraphRequest, sub: Subscription) -> GraphResponse:
    body = _object(req, _UPDATE_FIELDS)
    subs = book(state)
    expiration = subs.check_expiration(body["expirationDateTime"]) if "expirationDateTime" in body else None
    if "notificationUrl" in body:
        url = check_url(body["notificationUrl"], "notificationUrl")
        await subs.validate(url)
        sub.notification_url = url
    if "lifecycleNotificationUrl" in body:
        lifecycle = check_url(body["lifecycleNotificationUrl"], "lifecycleNotificationUrl")
        await subs.validate(lifecycle)
        sub.lifecycle_url = lifecycle
    if expiration is not None:
        sub.expiration = expiration
    return json_response(200, _render(req, sub, entity=True))


def _change_types(value: Any) -> tuple[str, ...]:
    if not isinstance(value, str) or not value:
        raise bad_request("changeType is required.", "InvalidRequest")
    parts = tuple(p.strip() for p in value.split(","))
    if any(p not in CHANGE_TYPES for p in parts) or len(set(parts)) != len(parts):
        raise bad_request(f"Invalid changeType '{value[:100]}'.", "InvalidRequest")
    return parts


def _resolve(state: GraphState, resource: Any) -> tuple[Mailbox, str, bytes | None]:
    """users/{id}/events | /messages | /mailFolders/{id}/messages | /contacts | /contactFolders/{id}/contacts."""
    from simulators.graph import contacts, messages_store

    if not isinstance(resource, str) or not resource or len(resource) > 2048:
        raise bad_request("resource is required.", "InvalidRequest")
    parts = [unquote(p) for p in resource.strip("/").split("/")]
    if len(parts) < 3 or parts[0].lower() != "users":
        raise _unsupported(resource)
    mb = state.find_mailbox(parts[1])
    if mb is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{parts[1][:100]}' is invalid.")
    rest = [p.lower() for p in parts[2:]]
    with state.lock:
        if rest in (["events"], ["calendar", "events"]):
            return mb, "events", None
        if rest in (["messages"], ["contacts"]):
            return mb, rest[0], None
        if len(rest) == 3 and rest[0] == "mailfolders" and rest[2] == "messages":
            return (
                mb,
                "messages",
                messages_store.find_folder(messages_store.store_for(state, mb), parts[3]).key,
            )
        if len(rest) == 3 and rest[0] == "contactfolders" and rest[2] == "contacts":
            return mb, "contacts", contacts.find_folder(contacts.book(state, mb), parts[3]).key
    raise _unsupported(resource)


def _unsupported(resource: str) -> GraphError:
    return bad_request(f"Resource '{resource[:200]}' is not supported.", "InvalidRequest")


def _render(req: GraphRequest, sub: Subscription, *, entity: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if entity:
        body["@odata.context"] = f"{req.base_url}/$metadata#subscriptions/$entity"
    body.update(
        {
            "id": sub.id,
            "resource": sub.resource,
            "applicationId": APPLICATION_ID,
            "changeType": ",".join(sub.change_types),
            "clientState": sub.client_state,
            "notificationUrl": sub.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": sub.lifecycle_url,
            "expirationDateTime": graph_time(sub.expiration),
            "creatorId": APPLICATION_ID,
            "includeResourceData": None,
            "latestSupportedTlsVersion": sub.tls,
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }
    )
    return body
