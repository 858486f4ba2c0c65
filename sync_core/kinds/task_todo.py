"""Microsoft To Do through the Graph client: lists, tasks, linkedResources, per-list delta, the stamp.

To Do has no extended properties and no immutable ids, so the product's stamp on a task is a
`linkedResource` (application name, the F&O key as `externalId`, a deep link into F&O). A task is
addressed by its list and its own id; the pipeline knows it by one string, `{listId}|{taskId}`
(base64 ids never contain `|`). Everything goes through `GraphClient.request_json`/`iter_delta`,
where throttling, retries and the per-mailbox limit live.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from sync_core.exchange.client import GraphClient
from sync_core.exchange.errors import GraphError, GraphNotFound
from sync_core.exchange.urls import seg, user_seg
from sync_core.kinds.exchange_feed import graph_item
from sync_core.runtime.keys import split_fno_key
from sync_core.runtime.kind import GraphItem

APPLICATION_NAME = "Dynamics 365 Finance and Operations"
# F&O's OutlookEntryId of a task activity holds "todo:<task id>": other tools (the old Outlook add-in) kept
# Outlook EntryIDs there, which must never send the product looking for a To Do task.
ENTRY_PREFIX = "todo:"
_SEPARATOR = "|"
_PAGE = 100


def compose(list_id: str, task_id: str) -> str:
    if not is_usable_id(list_id) or not is_usable_id(task_id) or ":" in list_id:
        raise ValueError("not a To Do list and task id")
    return f"{list_id}{_SEPARATOR}{task_id}"


def is_usable_id(value: object) -> bool:
    """An id that can be part of a task reference (Graph's never contain `|`; hostile input might)."""
    return isinstance(value, str) and 0 < len(value) <= 1024 and _SEPARATOR not in value


def split(graph_id: str) -> tuple[str, str]:
    """(list id, task id) of a composed id; ValueError for anything else (e.g. a pending claim)."""
    list_id, sep, task_id = graph_id.partition(_SEPARATOR)
    # ':' never occurs in Graph's base64 ids; it marks the pipeline's "pending:<key>" claims.
    if not sep or not list_id or not task_id or _SEPARATOR in task_id or ":" in list_id:
        raise ValueError("not a To Do task reference")
    return list_id, task_id


def is_task_ref(graph_id: str) -> bool:
    """Whether the pair job's id names a list and a task."""
    try:
        split(graph_id)
    except ValueError:
        return False
    return True


def _lists_path(mailbox: str) -> str:
    return f"users/{user_seg(mailbox)}/todo/lists"


def _tasks_path(mailbox: str, list_id: str) -> str:
    return f"{_lists_path(mailbox)}/{seg(list_id)}/tasks"


def _task_path(mailbox: str, list_id: str, task_id: str) -> str:
    return f"{_tasks_path(mailbox, list_id)}/{seg(task_id)}"


def delta_path(mailbox: str, list_id: str) -> str:
    return f"{_tasks_path(mailbox, list_id)}/delta"


async def _pages(graph: GraphClient, mailbox: str, path: str) -> AsyncIterator[dict[str, Any]]:
    link: str | None = path
    seen: set[str] = set()
    while link is not None:
        if link in seen:
            raise RuntimeError("Graph repeated a paging link")
        seen.add(link)
        data = await graph.request_json("GET", mailbox, link) or {}
        for item in data.get("value") or []:
            if isinstance(item, dict):
                yield item
        next_link = data.get("@odata.nextLink")
        link = next_link if isinstance(next_link, str) and next_link else None


async def list_lists(graph: GraphClient, mailbox: str) -> list[dict[str, Any]]:
    return [item async for item in _pages(graph, mailbox, _lists_path(mailbox))]


async def create_list(graph: GraphClient, mailbox: str, name: str) -> dict[str, Any]:
    return await graph.request_json("POST", mailbox, _lists_path(mailbox), body={"displayName": name}) or {}


async def iter_tasks(graph: GraphClient, mailbox: str, list_id: str) -> AsyncIterator[dict[str, Any]]:
    """Every task of a list with its linkedResources."""
    path = f"{_tasks_path(mailbox, list_id)}?$expand=linkedResources&$top={_PAGE}"
    async for item in _pages(graph, mailbox, path):
        yield item


async def get_task(graph: GraphClient, mailbox: str, list_id: str, task_id: str) -> dict[str, Any] | None:
    """The task with its linkedResources, or None when it is not in that list (deleted or moved)."""
    try:
        return await graph.request_json(
            "GET", mailbox, _task_path(mailbox, list_id, task_id) + "?$expand=linkedResources"
        )
    except GraphNotFound:
        return None
    except GraphError as exc:
        if exc.status == 400:
            return None  # not an id To Do knows at all (e.g. a value some other tool stored)
        raise


async def create_task(graph: GraphClient, mailbox: str, list_id: str, body: dict[str, Any]) -> dict[str, Any]:
    # Not retried on 503/504: a lost answer is recovered through the linkedResource, never by a second POST.
    return await graph.request_json("POST", mailbox, _tasks_path(mailbox, list_id), body=body) or {}


async def update_task(
    graph: GraphClient,
    mailbox: str,
    list_id: str,
    task_id: str,
    patch: dict[str, Any],
    *,
    if_match: str | None = None,
) -> dict[str, Any]:
    """PATCH; `if_match` (the task's `@odata.etag`) only with SYNC_TODO_WRITE_WITHOUT_READ: To Do documents
    no `If-Match` (todotask-update.md), so it may refuse a changed task (412), refuse the header (400) or
    ignore it; pipeline/reads.py reads the task again after any refusal."""
    headers = {"If-Match": if_match} if if_match else None
    path = _task_path(mailbox, list_id, task_id)
    return await graph.request_json("PATCH", mailbox, path, body=patch, headers=headers) or {}


async def delete_task(graph: GraphClient, mailbox: str, list_id: str, task_id: str) -> None:
    try:
        await graph.request_json("DELETE", mailbox, _task_path(mailbox, list_id, task_id))
    except GraphNotFound:
        return  # already gone


async def set_stamp(
    graph: GraphClient, mailbox: str, list_id: str, task: Mapping[str, Any], resource: dict[str, Any]
) -> None:
    """Point the task's linkedResource of this product at `resource`; add one when it has none."""
    path = _task_path(mailbox, list_id, str(task["id"])) + "/linkedResources"
    ours = [r for r in _resources(task) if r.get("applicationName") == APPLICATION_NAME and r.get("id")]
    if ours:
        await graph.request_json("PATCH", mailbox, f"{path}/{seg(str(ours[-1]['id']))}", body=resource)
    else:
        await graph.request_json("POST", mailbox, path, body=resource)


def stamp_of(task: Mapping[str, Any]) -> str | None:
    """The F&O key in this product's linkedResource (the last one, should a user have copied it)."""
    found: str | None = None
    for resource in _resources(task):
        if resource.get("applicationName") != APPLICATION_NAME:
            continue
        value = resource.get("externalId")
        if isinstance(value, str):
            try:
                split_fno_key(value)
            except ValueError:
                continue  # not a key this product wrote
            found = value
    return found


def linked_resource(d365_url: str, key: str) -> dict[str, Any]:
    company, number = split_fno_key(key)
    return {
        "applicationName": APPLICATION_NAME,
        "externalId": key,
        "displayName": f"Activity {number} ({company.upper()})",
        "webUrl": deep_link(d365_url, company, number),
    }


def deep_link(d365_url: str, company: str, number: str) -> str:
    """F&O's record deep link: the activities form (menu item smmActivities) filtered to one activity.

    This is the readable (unencrypted) form of the links F&O's URL generator makes; F&O opens it
    for any user allowed to open the form, who sees only what the form's own queries allow.
    """
    query = {
        "Parameters": [
            {"DataSource": "smmActivities", "FieldValues": [{"Field": "ActivityNumber", "Value": number}]}
        ]
    }
    params = {
        "cmp": company.upper(),
        "mi": "display:smmActivities",
        "q": json.dumps(query, separators=(",", ":")),
    }
    return f"{d365_url.rstrip('/')}/?{urlencode(params, quote_via=quote, safe=':')}"


def _resources(task: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = task.get("linkedResources")
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []


def list_id_of(lst: Mapping[str, Any]) -> str:
    """The list's id, or "" for one that cannot be addressed (never seen from Graph)."""
    value = lst.get("id")
    return value if isinstance(value, str) and is_usable_id(value) and ":" not in value else ""


def task_item(list_id: str, task: Mapping[str, Any], stamp: str | None = None) -> GraphItem:
    """A task of `list_id` as the pair job sees it (its version is the task's `@odata.etag`)."""
    item_id = compose(list_id, str(task["id"]))
    return graph_item(task, stamp, item_id=item_id, version_key="@odata.etag", stamp_in=stamp_of)
