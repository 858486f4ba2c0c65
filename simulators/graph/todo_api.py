"""To Do endpoints under /users/{id}/todo: lists, tasks, linkedResources and per-list task delta.

Delta (GET .../lists/{id}/tasks/delta; rounds, pages and tokens: `delta.py`) works per list, like the real
service: the first page of an
initial round is empty with a nextLink; a later round lists tasks created or changed since the
round that issued the token, and tasks deleted or moved to another list as
`{"id": ..., "@removed": {"reason": "deleted"}}`. Tokens carry the mailbox's sync generation
(`GraphState.expire_delta_tokens` makes them answer 410) and the list (a deleted list answers 404).
Delta takes `$expand=linkedResources` (kept for the whole round, in its tokens); other query options give
400. Lists and tasks accept `$top`/`$skip` (`paging.py`); task reads accept `$expand=linkedResources` and `$filter` (the
stand-in's OData subset).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from simulators.graph import odata, paging
from simulators.graph.delta import Entry, Feed, Snapshot, changes, serve
from simulators.graph.errors import GraphError, bad_request
from simulators.graph.http import GraphRequest, GraphResponse, json_response
from simulators.graph.model import Mailbox
from simulators.graph.state import GraphState
from simulators.graph.todo import (
    StoredTask,
    TodoList,
    TodoTenant,
    apply_fields,
    linked_resource,
    list_id,
    render_list,
    render_resource,
    render_task,
    task_id,
)

_DELTA_FORBIDDEN = ("$select", "$filter", "$orderby", "$search", "$top", "$skip")


def _method_not_allowed() -> GraphError:
    return GraphError(
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
    )


def _unknown(segment: str) -> GraphError:
    return bad_request(f"Resource not found for the segment '{segment[:100]}'.")


def route(state: GraphState, req: GraphRequest, mb: Mailbox, rest: list[str]) -> GraphResponse:
    """`rest` starts with "todo"."""
    todo = state.todo
    method = req.method
    if len(rest) < 2 or rest[1] != "lists":
        raise _unknown(rest[1] if len(rest) > 1 else "todo")
    if len(rest) == 2:
        if method == "GET":
            lists = [render_list(lst) for lst in todo.of(mb).lists.values()]
            return _collection(req, mb, "todo/lists", lists)
        if method == "POST":
            return _create_list(todo, req, mb)
        raise _method_not_allowed()
    todo_list = todo.find_list(mb, rest[2])
    if len(rest) == 3:
        return _one_list(todo, req, mb, todo_list)
    if rest[3] != "tasks":
        raise _unknown(rest[3])
    if len(rest) == 4:
        if method == "GET":
            return _list_tasks(req, mb, todo_list)
        if method == "POST":
            task = todo.create_task(todo_list, req.json())
            return json_response(201, _entity(req, mb, "tasks", render_task(task, expand_linked=True)))
        raise _method_not_allowed()
    if rest[4] == "delta" and len(rest) == 5:
        if method != "GET":
            raise _method_not_allowed()
        return _delta(state, req, mb, todo_list)
    task = todo.find_task(todo_list, rest[4])
    if len(rest) == 5:
        return _one_task(todo, req, mb, todo_list, task)
    if rest[5] != "linkedResources" or len(rest) > 7:
        raise _unknown(rest[5])
    return _linked_resources(todo, req, mb, task, rest[6] if len(rest) == 7 else None)


def _create_list(todo: TodoTenant, req: GraphRequest, mb: Mailbox) -> GraphResponse:
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("displayName"), str) or not body["displayName"]:
        raise bad_request("The displayName of a todoTaskList is required.", "invalidRequest")
    unknown = set(body) - {"displayName"} - {k for k in body if k.startswith("@odata.")}
    if unknown:
        raise bad_request(f"The property '{sorted(unknown)[0][:60]}' cannot be set on a todoTaskList.")
    created = todo.new_list(mb, body["displayName"])
    return json_response(201, _entity(req, mb, "todo/lists", render_list(created)))


def _one_list(todo: TodoTenant, req: GraphRequest, mb: Mailbox, todo_list: TodoList) -> GraphResponse:
    if req.method == "GET":
        return json_response(200, _entity(req, mb, "todo/lists", render_list(todo_list)))
    if req.method == "PATCH":
        body = req.json()
        name = body.get("displayName") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            raise bad_request("The displayName of a todoTaskList is required.", "invalidRequest")
        todo_list.display_name = name
        todo_list.version += 1
        return json_response(200, _entity(req, mb, "todo/lists", render_list(todo_list)))
    if req.method == "DELETE":
        if todo_list.wellknown != "none":
            raise bad_request("The default list cannot be deleted.", "invalidRequest")
        del todo.of(mb).lists[todo_list.key]
        return GraphResponse(204)
    raise _method_not_allowed()


def _list_tasks(req: GraphRequest, mb: Mailbox, todo_list: TodoList) -> GraphResponse:
    expand = _expand(req)
    rows = [render_task(t, expand_linked=True) for t in todo_list.tasks.values()]
    if "$filter" in req.query:
        predicate = odata.parse_filter(req.query["$filter"], id_paths=frozenset())
        rows = [row for row in rows if predicate(row)]
    if not expand:
        for row in rows:
            row.pop("linkedResources", None)
    if "$select" in req.query:
        names = odata.parse_select(req.query["$select"], _SELECTABLE, "todoTask")
        rows = [{k: v for k, v in row.items() if k in names or k in ("id", "@odata.etag")} for row in rows]
    return _collection(req, mb, "todo/lists/tasks", rows)


_SELECTABLE = {
    "id", "body", "bodyLastModifiedDateTime", "categories", "completedDateTime", "createdDateTime",
    "dueDateTime", "hasAttachments", "importance", "isReminderOn", "lastModifiedDateTime", "recurrence",
    "reminderDateTime", "startDateTime", "status", "title",
}  # fmt: skip


def _one_task(
    todo: TodoTenant, req: GraphRequest, mb: Mailbox, todo_list: TodoList, task: StoredTask
) -> GraphResponse:
    if req.method == "GET":
        return json_response(200, _entity(req, mb, "tasks", render_task(task, expand_linked=_expand(req))))
    if req.method == "PATCH":
        todo.check_if_match(req.headers, task)
        apply_fields(task, req.json(), todo.clock(), creating=False)
        return json_response(200, _entity(req, mb, "tasks", render_task(task)))
    if req.method == "DELETE":
        todo.check_if_match(req.headers, task)
        del todo_list.tasks[task.key]
        return GraphResponse(204)
    raise _method_not_allowed()


def _linked_resources(
    todo: TodoTenant, req: GraphRequest, mb: Mailbox, task: StoredTask, resource_id: str | None
) -> GraphResponse:
    method = req.method
    if resource_id is None:
        if method == "GET":
            return _collection(req, mb, "linkedResources", [render_resource(r) for r in task.linked])
        if method == "POST":
            resource = linked_resource(req.json(), todo.new_resource_id())
            task.linked.append(resource)
            todo.touch(task)
            return json_response(201, _entity(req, mb, "linkedResources", render_resource(resource)))
        raise _method_not_allowed()
    found = next((r for r in task.linked if r.id == resource_id), None)
    if found is None:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    if method == "GET":
        return json_response(200, _entity(req, mb, "linkedResources", render_resource(found)))
    if method == "PATCH":
        found.values.update(linked_resource(req.json(), found.id).values)
        todo.touch(task)
        return json_response(200, _entity(req, mb, "linkedResources", render_resource(found)))
    if method == "DELETE":
        task.linked.remove(found)
        todo.touch(task)
        return GraphResponse(204)
    raise _method_not_allowed()


def _expand(req: GraphRequest) -> bool:
    raw = req.query.get("$expand")
    if raw is None:
        return False
    if raw.strip() != "linkedResources":
        raise bad_request(f"Parsing OData Select and Expand failed: could not expand '{raw[:100]}'.")
    return True


def _entity(req: GraphRequest, mb: Mailbox, tail: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.context": f"{req.base_url}/$metadata#users('{mb.user.id}')/{tail}/$entity", **body}


def _collection(req: GraphRequest, mb: Mailbox, tail: str, rows: list[dict[str, Any]]) -> GraphResponse:
    chosen, next_link = paging.page(req, rows)
    body: dict[str, Any] = {
        "@odata.context": f"{req.base_url}/$metadata#users('{mb.user.id}')/{tail}",
        "value": chosen,
    }
    if next_link is not None:
        body["@odata.nextLink"] = next_link
    return json_response(200, body)


# ---- delta -------------------------------------------------------------------------------------------------


def _delta(state: GraphState, req: GraphRequest, mb: Mailbox, todo_list: TodoList) -> GraphResponse:
    # "Delta query support $select, $top, and $expand for todoTask" (todotask-delta.md); of those the
    # stand-in takes $expand=linkedResources, given on the round's first request or repeated later, and
    # kept for the rounds that follow (Graph encodes a round's query options in its tokens).
    def options(req: GraphRequest, last: dict[str, Any] | None) -> dict[str, Any]:
        return {"expand": _expand(req) or bool(last and last["expand"])}

    def entries(
        _opts: dict[str, Any], old: Snapshot | None
    ) -> tuple[list[Entry], dict[Hashable, Any], dict[str, Any]]:
        now: dict[Hashable, Any] = {key: task.version for key, task in todo_list.tasks.items()}
        return changes(now, old), now, {}

    def render(
        req: GraphRequest, chosen: list[Entry], opts: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        expand = _expand(req) or opts["expand"]
        return [_delta_item(todo_list, key, removed, expand) for key, removed in chosen], {}

    feed = Feed(
        name="tasks",
        type_name="todoTask",
        forbidden=_DELTA_FORBIDDEN,
        scope={"list": todo_list.key.hex()},
        options=options,
        entries=entries,
        render=render,
        # As often seen on a first request: an empty page that only points onwards.
        first_page_empty=lambda _state, initial: initial,
        scope_mismatch=400,
    )
    return serve(state, req, mb, feed)


def _delta_item(todo_list: TodoList, key: Hashable, removed: bool, expand: bool) -> dict[str, Any]:
    assert isinstance(key, bytes)
    task = None if removed else todo_list.tasks.get(key)
    if task is None:
        return {
            "@odata.type": "#microsoft.graph.todoTask",
            "id": task_id(key),
            "@removed": {"reason": "deleted"},
        }
    return render_task(task, expand_linked=expand)


__all__ = ["list_id", "route"]
