"""Microsoft To Do in the Graph stand-in: lists, tasks and linkedResources, stored per mailbox.

What it keeps of the real service (see README.md in this folder):
- Every mailbox has a default list ("Tasks", `wellknownListName` defaultList) and a "Flagged Emails" list.
- `startDateTime` and `dueDateTime` keep the date only: the date of the wall-clock time in the zone it
  was written with. They come back as midnight of that date in that zone, as a UTC instant (so a
  date written in UTC+13 reads as 11:00 UTC the day before). `Prefer: outlook.timezone` is ignored.
- `completedDateTime` is midnight UTC of the day the task was completed (a known Graph quirk).
- No extended properties, no immutable ids: a task that moves to another list gets a new id there and
  leaves an `@removed` in the old list's delta.

`TodoTenant` is attached to `GraphState` as `state.todo`: the HTTP handlers and the tests' seeding and
inspection methods use it under the state's lock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from simulators.graph.errors import GraphError, bad_request, check_if_match, not_found
from simulators.graph.timezones import format_offset, parse_local, resolve_zone

if TYPE_CHECKING:
    from simulators.graph.model import Mailbox
    from simulators.graph.state import GraphState

STATUSES = ("notStarted", "inProgress", "completed", "waitingOnOthers", "deferred")
IMPORTANCES = ("low", "normal", "high")
TASK_PROPS = {
    "id", "body", "bodyLastModifiedDateTime", "categories", "completedDateTime", "createdDateTime",
    "dueDateTime", "hasAttachments", "importance", "isReminderOn", "lastModifiedDateTime", "recurrence",
    "reminderDateTime", "startDateTime", "status", "title", "linkedResources",
}  # fmt: skip
_WRITABLE = {
    "body", "categories", "completedDateTime", "dueDateTime", "importance", "isReminderOn", "recurrence",
    "reminderDateTime", "startDateTime", "status", "title", "linkedResources",
}  # fmt: skip
_READ_ONLY = TASK_PROPS - _WRITABLE
_RESOURCE_PROPS = ("applicationName", "displayName", "externalId", "webUrl")
# What To Do does with `If-Match` on a task PATCH or DELETE: Microsoft does not say (todotask-update.md and
# todotask-delete.md name no such header), so `TodoTenant.if_match` picks one behaviour.
IfMatchMode = Literal["honour", "ignore", "reject"]
_TASK_PREFIX, _TASK_MAGIC = "AAMkAD", b"TD"
_LIST_PREFIX, _LIST_MAGIC = "AQMkAD", b"TL"


def _encode(prefix: str, magic: bytes, key: bytes) -> str:
    # Standard base64: some ids contain '/' and '+', which clients must encode in URLs.
    return prefix + base64.b64encode(magic + key).decode()


def _decode(prefix: str, magic: bytes, value: str) -> bytes | None:
    if not value.startswith(prefix) or len(value) > 200:
        return None
    try:
        raw = base64.b64decode(value[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw[2:] if len(raw) == 18 and raw[:2] == magic else None


def task_id(key: bytes) -> str:
    return _encode(_TASK_PREFIX, _TASK_MAGIC, key)


def list_id(key: bytes) -> str:
    return _encode(_LIST_PREFIX, _LIST_MAGIC, key)


def _etag(key: bytes, version: int) -> str:
    digest = hashlib.sha256(key + version.to_bytes(4, "big")).digest()[:16]
    return 'W/"' + base64.b64encode(digest).decode() + '"'


@dataclass
class LinkedResource:
    id: str
    values: dict[str, str | None]


@dataclass
class StoredTask:
    key: bytes
    fields: dict[str, Any]
    """title, body, importance, status, isReminderOn, categories (Graph-shaped)."""
    created: datetime
    modified: datetime
    body_modified: datetime
    start: tuple[date, str] | None = None
    """The date kept and the zone it was written in."""
    due: tuple[date, str] | None = None
    reminder: datetime | None = None
    completed: date | None = None
    linked: list[LinkedResource] = field(default_factory=list)
    version: int = 1


@dataclass
class TodoList:
    key: bytes
    display_name: str
    wellknown: str
    tasks: dict[bytes, StoredTask] = field(default_factory=dict)
    version: int = 1


@dataclass
class MailboxTodo:
    lists: dict[bytes, TodoList] = field(default_factory=dict)


def _read_error(message: str) -> GraphError:
    return bad_request(message, "RequestBodyRead")


def _date_value(value: object, name: str) -> tuple[date, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise _read_error(f"'{name}' must be a dateTimeTimeZone object.")
    zone_name, zone = _zone(value)
    try:
        # The date of the wall-clock text in its own zone; the time of day is dropped.
        parse_local(value["dateTime"], zone)
        day = date.fromisoformat(value["dateTime"].strip()[:10])
    except ValueError as exc:
        raise _read_error(f"Cannot convert the literal '{str(value['dateTime'])[:40]}' to a date.") from exc
    return day, zone_name


def _instant_value(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise _read_error(f"'{name}' must be a dateTimeTimeZone object.")
    _name, zone = _zone(value)
    try:
        return parse_local(value["dateTime"], zone)
    except ValueError as exc:
        raise _read_error(f"Cannot convert the literal '{str(value['dateTime'])[:40]}' to a date.") from exc


def _zone(value: dict[str, Any]) -> tuple[str, tzinfo]:
    name = str(value.get("timeZone") or "UTC")
    zone = resolve_zone(name)
    if zone is None:
        raise bad_request(
            "A valid TimeZone value must be specified. The following TimeZone value is not supported: "
            f"'{name[:100]}'.",
            "TimeZoneNotSupportedException",
        )
    return name, zone


def _midnight_utc(kept: tuple[date, str]) -> datetime:
    day, zone_name = kept
    zone = resolve_zone(zone_name) or UTC
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)


def _utc_value(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def linked_resource(body: object, resource_id: str) -> LinkedResource:
    if not isinstance(body, dict):
        raise _read_error("A linkedResource must be an object.")
    values: dict[str, str | None] = {}
    for name, value in body.items():
        if name.startswith("@odata.") or name == "id":
            continue
        if name not in _RESOURCE_PROPS:
            raise _read_error(
                f"The property '{name[:60]}' does not exist on type 'microsoft.graph.linkedResource'."
            )
        if value is not None and not isinstance(value, str):
            raise _read_error(f"'{name}' must be a string.")
        values[name] = value
    return LinkedResource(resource_id, values)


def apply_fields(task: StoredTask, body: object, now: datetime, *, creating: bool) -> None:
    """Validate a POST/PATCH body and apply it (raises GraphError before changing anything)."""
    if not isinstance(body, dict):
        raise _read_error("The request body must be a todoTask object.")
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@odata."):
            continue
        if name in _READ_ONLY:
            continue  # Graph ignores read-only properties sent back to it
        if name not in _WRITABLE:
            # e.g. singleValueExtendedProperties: To Do items have none.
            raise _read_error(
                f"The property '{name[:60]}' does not exist on type 'microsoft.graph.todoTask'."
            )
        if name == "linkedResources" and not creating:
            raise bad_request(
                "linkedResources cannot be changed with PATCH; use the linkedResources collection."
            )
        changes[name] = value
    parsed: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "title":
            if value is not None and not isinstance(value, str):
                raise _read_error("'title' must be a string.")
            parsed[name] = value or ""
        elif name == "body":
            parsed[name] = _body(value)
        elif name == "status":
            if value not in STATUSES:
                raise _read_error(
                    f"Cannot convert the literal '{str(value)[:40]}' to 'microsoft.graph.taskStatus'."
                )
            parsed[name] = value
        elif name == "importance":
            if value not in IMPORTANCES:
                raise _read_error(
                    f"Cannot convert the literal '{str(value)[:40]}' to 'microsoft.graph.importance'."
                )
            parsed[name] = value
        elif name == "isReminderOn":
            if not isinstance(value, bool):
                raise _read_error("'isReminderOn' must be a boolean.")
            parsed[name] = value
        elif name == "categories":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise _read_error("'categories' must be a collection of strings.")
            parsed[name] = list(value)
        elif name in ("startDateTime", "dueDateTime"):
            parsed[name] = _date_value(value, name)
        elif name == "reminderDateTime":
            parsed[name] = _instant_value(value, name)
        elif name == "completedDateTime":
            instant = _instant_value(value, name)
            parsed[name] = instant.date() if instant else None
        elif name == "recurrence":
            if value is not None:
                raise bad_request("Recurring tasks are not emulated by this stand-in.", "NotSupported")
        elif name == "linkedResources":
            if not isinstance(value, list):
                raise _read_error("'linkedResources' must be a collection.")
            parsed[name] = [linked_resource(item, "") for item in value]
    was_completed = task.fields.get("status") == "completed"
    for name, value in parsed.items():
        if name == "startDateTime":
            task.start = value
        elif name == "dueDateTime":
            task.due = value
        elif name == "reminderDateTime":
            task.reminder = value
        elif name == "completedDateTime":
            task.completed = value
        elif name == "linkedResources":
            task.linked.extend(value)
        else:
            task.fields[name] = value
    if task.fields.get("status") == "completed" and not was_completed and "completedDateTime" not in parsed:
        task.completed = now.astimezone(UTC).date()
    elif task.fields.get("status") != "completed":
        task.completed = None
    if "body" in parsed:
        task.body_modified = now
    task.modified = now
    if not creating:
        task.version += 1


def _body(value: object) -> dict[str, str]:
    if value is None:
        return {"content": "", "contentType": "text"}
    if not isinstance(value, dict):
        raise _read_error("'body' must be an itemBody object.")
    kind = str(value.get("contentType") or "text").lower()
    content = value.get("content") or ""
    if kind not in ("text", "html") or not isinstance(content, str):
        raise _read_error("Cannot convert the literal to the expected type 'microsoft.graph.bodyType'.")
    return {"content": content, "contentType": kind}


def render_task(task: StoredTask, *, expand_linked: bool = False) -> dict[str, Any]:
    """The task as Graph answers: DateTimeOffsets with 7 digits and Z, dates as UTC dateTimeTimeZone."""
    body: dict[str, Any] = {
        "@odata.etag": _etag(task.key, task.version),
        "importance": task.fields.get("importance", "normal"),
        "isReminderOn": bool(task.fields.get("isReminderOn", False)),
        "status": task.fields.get("status", "notStarted"),
        "title": task.fields.get("title", ""),
        "createdDateTime": format_offset(task.created),
        "lastModifiedDateTime": format_offset(task.modified),
        "bodyLastModifiedDateTime": format_offset(task.body_modified),
        "hasAttachments": False,
        "categories": list(task.fields.get("categories", [])),
        "id": task_id(task.key),
        "body": dict(task.fields.get("body") or {"content": "", "contentType": "text"}),
    }
    if task.start is not None:
        body["startDateTime"] = _utc_value(_midnight_utc(task.start))
    if task.due is not None:
        body["dueDateTime"] = _utc_value(_midnight_utc(task.due))
    if task.reminder is not None:
        body["reminderDateTime"] = _utc_value(task.reminder)
    if task.completed is not None:
        body["completedDateTime"] = _utc_value(datetime.combine(task.completed, time(0), tzinfo=UTC))
    if expand_linked:
        body["linkedResources"] = [render_resource(r) for r in task.linked]
    return body


def render_resource(resource: LinkedResource) -> dict[str, Any]:
    return {"id": resource.id, **{name: resource.values.get(name) for name in _RESOURCE_PROPS}}


def render_list(todo_list: TodoList) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.todoTaskList",
        "@odata.etag": _etag(todo_list.key, todo_list.version),
        "id": list_id(todo_list.key),
        "displayName": todo_list.display_name,
        "isOwner": True,
        "isShared": False,
        "wellknownListName": todo_list.wellknown,
    }


class TodoTenant:
    """To Do data of every mailbox of one GraphState, and the seeding/inspection API tests use."""

    def __init__(self, state: GraphState) -> None:
        self._state = state
        self._mailboxes: dict[str, MailboxTodo] = {}
        # "ignore" (the default) promises nothing Microsoft does not document: the write lands whatever
        # etag it names. "honour": a stale etag answers 412; "reject": any If-Match answers 400.
        self.if_match: IfMatchMode = "ignore"

    # ---- used by the HTTP layer (caller holds the state lock) -------------------------------------------

    def of(self, mb: Mailbox) -> MailboxTodo:
        key = mb.user.id.lower()
        found = self._mailboxes.get(key)
        if found is None:
            found = self._mailboxes[key] = MailboxTodo()
            for name, wellknown in (("Tasks", "defaultList"), ("Flagged Emails", "flaggedEmails")):
                self.new_list(mb, name, wellknown)
        return found

    def new_list(self, mb: Mailbox, display_name: str, wellknown: str = "none") -> TodoList:
        todo_list = TodoList(self._state.new_key("todo-list"), display_name, wellknown)
        self.of(mb).lists[todo_list.key] = todo_list
        return todo_list

    def find_list(self, mb: Mailbox, raw_id: str) -> TodoList:
        key = _decode(_LIST_PREFIX, _LIST_MAGIC, raw_id)
        found = self.of(mb).lists.get(key) if key else None
        if found is None:
            raise not_found()
        return found

    def check_if_match(self, headers: dict[str, str], task: StoredTask) -> None:
        """Before a PATCH or DELETE of `task`: refuse it as `if_match` says (nothing is written then)."""
        if self.if_match == "ignore" or not any(k.lower() == "if-match" for k in headers):
            return
        if self.if_match == "reject":
            raise bad_request("The If-Match header is not supported on this resource.")
        check_if_match(headers, _etag(task.key, task.version), "PreconditionFailed")

    def find_task(self, todo_list: TodoList, raw_id: str) -> StoredTask:
        key = _decode(_TASK_PREFIX, _TASK_MAGIC, raw_id)
        found = todo_list.tasks.get(key) if key else None
        if found is None:
            raise not_found()
        return found

    def create_task(self, todo_list: TodoList, body: object) -> StoredTask:
        now = self._state.clock()
        task = StoredTask(
            key=self._state.new_key("todo-task"),
            fields={"title": "", "importance": "normal", "status": "notStarted", "isReminderOn": False,
                    "categories": [], "body": {"content": "", "contentType": "text"}},
            created=now,
            modified=now,
            body_modified=now,
        )  # fmt: skip
        apply_fields(task, body, now, creating=True)
        for resource in task.linked:
            resource.id = self.new_resource_id()
        todo_list.tasks[task.key] = task
        return task

    def new_resource_id(self) -> str:
        raw = self._state.new_key("linked-resource")
        return "-".join((raw[:4].hex(), raw[4:6].hex(), raw[6:8].hex(), raw[8:10].hex(), raw[10:16].hex()))

    def clock(self) -> datetime:
        return self._state.clock()

    def touch(self, task: StoredTask) -> None:
        task.modified = self._state.clock()
        task.version += 1

    # ---- seeding, inspection and "the user works in To Do" ------------------------------------------------

    def lists(self, mailbox: str) -> list[dict[str, Any]]:
        with self._state.lock:
            return [render_list(lst) for lst in self.of(self._mailbox(mailbox)).lists.values()]

    def default_list_id(self, mailbox: str) -> str:
        with self._state.lock:
            lists = self.of(self._mailbox(mailbox)).lists.values()
            return list_id(next(lst.key for lst in lists if lst.wellknown == "defaultList"))

    def add_list(self, mailbox: str, display_name: str) -> str:
        with self._state.lock:
            return list_id(self.new_list(self._mailbox(mailbox), display_name).key)

    def add_task(self, mailbox: str, body: dict[str, Any], list_ref: str | None = None) -> dict[str, Any]:
        """Create a task as the user would in the To Do app (default list unless `list_ref`)."""
        with self._state.lock:
            mb = self._mailbox(mailbox)
            todo_list = self.find_list(mb, list_ref or self.default_list_id(mailbox))
            return render_task(self.create_task(todo_list, body), expand_linked=True)

    def tasks(self, mailbox: str, list_ref: str | None = None) -> list[dict[str, Any]]:
        """Tasks with their linkedResources, of one list or (None) of every list, each with `listId`."""
        with self._state.lock:
            found: list[dict[str, Any]] = []
            for lst in self.of(self._mailbox(mailbox)).lists.values():
                if list_ref is not None and list_id(lst.key) != list_ref:
                    continue
                found.extend(
                    {**render_task(t, expand_linked=True), "listId": list_id(lst.key)}
                    for t in lst.tasks.values()
                )
            return found

    def update_task(
        self, mailbox: str, list_ref: str, task_ref: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        with self._state.lock:
            task = self.find_task(self.find_list(self._mailbox(mailbox), list_ref), task_ref)
            apply_fields(task, patch, self._state.clock(), creating=False)
            return render_task(task, expand_linked=True)

    def delete_task(self, mailbox: str, list_ref: str, task_ref: str) -> None:
        with self._state.lock:
            todo_list = self.find_list(self._mailbox(mailbox), list_ref)
            del todo_list.tasks[self.find_task(todo_list, task_ref).key]

    def move_task(self, mailbox: str, list_ref: str, task_ref: str, target_list: str) -> dict[str, Any]:
        """Drag a task to another list: it gets a new id there; the old id is gone (no immutable ids)."""
        with self._state.lock:
            mb = self._mailbox(mailbox)
            source, target = self.find_list(mb, list_ref), self.find_list(mb, target_list)
            task = self.find_task(source, task_ref)
            del source.tasks[task.key]
            task.key = self._state.new_key("todo-task")
            self.touch(task)
            target.tasks[task.key] = task
            return render_task(task, expand_linked=True)

    def delete_list(self, mailbox: str, list_ref: str) -> None:
        with self._state.lock:
            mb = self._mailbox(mailbox)
            todo_list = self.find_list(mb, list_ref)
            if todo_list.wellknown != "none":
                raise ValueError("the default and flagged-email lists cannot be deleted")
            del self.of(mb).lists[todo_list.key]

    def _mailbox(self, mailbox: str) -> Mailbox:
        mb = self._state.find_mailbox(mailbox)
        if mb is None:
            raise KeyError("no such mailbox")
        return mb
