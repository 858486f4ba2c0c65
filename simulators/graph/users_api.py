"""Directory and mailbox-settings endpoints: users, group members, mailboxSettings, masterCategories."""

from __future__ import annotations

import uuid
from typing import Any

from simulators.graph import odata
from simulators.graph.errors import GraphError, bad_request
from simulators.graph.http import GraphRequest, GraphResponse, encode_query, json_response
from simulators.graph.model import Category, Mailbox, User
from simulators.graph.state import GraphState

_USER_PROPS = {
    "id", "displayName", "mail", "userPrincipalName", "givenName", "surname", "businessPhones", "jobTitle",
    "mobilePhone", "officeLocation", "preferredLanguage", "accountEnabled", "mailboxSettings",
}  # fmt: skip
_COLORS = {"none", *(f"preset{n}" for n in range(25))}


def user_not_found(key: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key[:100]}' does not exist or one of its queried reference-property objects are not present.",
    )


def _user_json(user: User) -> dict[str, Any]:
    given, _, surname = user.display_name.partition(" ")
    return {
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": given or None,
        "jobTitle": None,
        "mail": user.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": surname or None,
        "userPrincipalName": user.mail,
        "id": user.id,
    }


def _select(req: GraphRequest, item: dict[str, Any], mb: Mailbox | None = None) -> dict[str, Any]:
    if "$select" not in req.query:
        return item
    names = odata.parse_select(req.query["$select"], _USER_PROPS, "user")
    full = {**item, "accountEnabled": True}
    if mb is not None:
        full["mailboxSettings"] = _settings_json(mb)
    return {name: full[name] for name in names if name in full}


def get_user(state: GraphState, req: GraphRequest, key: str) -> GraphResponse:
    mb = state.find_mailbox(key)
    if mb is None:
        raise user_not_found(key)
    # mailboxSettings is "Returned only on $select" of a single user (resources/user.md, user-get.md).
    body = _select(req, _user_json(mb.user), mb)
    context = f"{req.base_url}/$metadata#users/$entity"
    return json_response(200, {"@odata.context": context, **body})


def group_members(
    state: GraphState, req: GraphRequest, group_id: str, relation: str, cast: str | None
) -> GraphResponse:
    """`relation` is members or transitiveMembers; `cast` the type-cast segment as sent, if any."""
    members = state.groups.get(group_id.lower())
    if members is None:
        raise user_not_found(group_id)
    top = _int_option(req, "$top", state.page_size)
    skip = _skip_token(req)
    page = members[skip : skip + top]
    value = []
    for uid in page:
        user = state.users[uid.lower()]
        item = _select(req, _user_json(user))
        value.append(item if cast else {"@odata.type": "#microsoft.graph.user", **item})
    body: dict[str, Any] = {"@odata.context": f"{req.base_url}/$metadata#users", "value": value}
    if skip + top < len(members):
        tail = [cast] if cast else []
        options = {"$top": str(top), "$skiptoken": f"RFNwdAIAAQAAA{skip + top:08d}"}
        if "$select" in req.query:
            options["$select"] = req.query["$select"]
        body["@odata.nextLink"] = req.link("groups", group_id, relation, *tail, query=encode_query(options))
    return json_response(200, body)


def _int_option(req: GraphRequest, name: str, default: int) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 999:
        raise bad_request(f"Invalid value '{raw[:20]}' for query option {name}.")
    return int(raw)


def _skip_token(req: GraphRequest) -> int:
    raw = req.query.get("$skiptoken")
    if raw is None:
        return 0
    if not raw.startswith("RFNwdAIAAQAAA") or not raw[13:].isdigit():
        raise bad_request("Invalid paging token.", "Directory_ExpiredPageToken")
    return int(raw[13:])


def mailbox_settings(req: GraphRequest, mb: Mailbox, only_time_zone: bool) -> GraphResponse:
    user_ctx = f"{req.base_url}/$metadata#users('{mb.user.id}')/mailboxSettings"
    if only_time_zone:
        return json_response(200, {"@odata.context": f"{user_ctx}/timeZone", "value": mb.user.time_zone})
    return json_response(200, {"@odata.context": user_ctx, **_settings_json(mb)})


def _settings_json(mb: Mailbox) -> dict[str, Any]:
    return {
        "archiveFolder": "AQMkAGI2TAAAA",
        "timeZone": mb.user.time_zone,
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "all",
            "internalReplyMessage": "",
            "externalReplyMessage": "",
            "scheduledStartDateTime": {"dateTime": "2020-01-01T00:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2020-01-02T00:00:00.0000000", "timeZone": "UTC"},
        },
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": mb.user.time_zone},
        },
        "userPurpose": "user",
        "dateFormat": "M/d/yyyy",
        "timeFormat": "h:mm tt",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
    }


def _category_json(cat: Category) -> dict[str, Any]:
    return {"id": cat.id, "displayName": cat.display_name, "color": cat.color}


def list_categories(req: GraphRequest, mb: Mailbox) -> GraphResponse:
    context = f"{req.base_url}/$metadata#users('{mb.user.id}')/outlook/masterCategories"
    return json_response(
        200, {"@odata.context": context, "value": [_category_json(c) for c in mb.categories]}
    )


def create_category(state: GraphState, req: GraphRequest, mb: Mailbox) -> GraphResponse:
    body = req.json()
    name = body.get("displayName") if isinstance(body, dict) else None
    color = body.get("color", "none") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise bad_request("The displayName property is required.", "ErrorInvalidParameter")
    if not isinstance(color, str) or color not in _COLORS:
        raise bad_request(
            "Cannot convert the literal to the expected type 'microsoft.graph.categoryColor'.",
            "RequestBodyRead",
        )
    if any(c.display_name.lower() == name.lower() for c in mb.categories):
        raise GraphError(409, "ErrorItemAlreadyExists", "An object with the same name already exists.")
    category = Category(str(uuid.UUID(bytes=state.new_key("category"))), name, color)
    mb.categories.append(category)
    context = f"{req.base_url}/$metadata#users('{mb.user.id}')/outlook/masterCategories/$entity"
    return json_response(201, {"@odata.context": context, **_category_json(category)})
