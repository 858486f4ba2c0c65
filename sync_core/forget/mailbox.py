"""`forget --clean-mailbox`: take out of one mailbox what the product left there.

- Linked events, contacts and To Do tasks (found through the links, before they are removed): the product's
  categories (the sync and contact categories, the contacts' company problem categories) come off and its stamp goes (the extended property set to null, the To Do task's
  linkedResource deleted). The items themselves stay: they are the user's.
- Messages the e-mail import marked (the imported and failed categories): those categories and the stamp go.
  The import category itself is the user's request and stays.
- The contact folders the product made (SYNC_CONTACT_FOLDER, a shared list's folder): deleted when empty.
- The Graph subscriptions the product made for the mailbox: deleted.

Every call is one Graph request the tests send against the stand-in (docs/wire.md). An item that is gone
already counts as done; a refusal is counted and named by kind, never by subject."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sync_core.contacts.graph import find_folder
from sync_core.contacts.registry import shared_list_for
from sync_core.email_import.graph import category_filter
from sync_core.exchange.client import GraphClient
from sync_core.exchange.errors import GraphError, GraphNotFound
from sync_core.exchange.urls import seg, user_seg
from sync_core.kinds import task_todo as todo
from sync_core.kinds.contact import PROBLEM_CATEGORIES
from sync_core.notifications.subscriptions import Stored
from sync_core.runtime.keys import STAMP_PROPERTY_ID
from sync_core.settings import Settings
from sync_core.state.base import Link

log = logging.getLogger(__name__)
_PAGE = 100
_MAX_PAGES = 1000
# Setting a single-value extended property to null removes it: documented on the beta To Do page "Update
# singleValueExtendedProperties" ("To delete an extended property, set the value ... to null"); relied on
# for events, messages and contacts, and harmless if ignored (docs/microsoft.md).
_REMOVE_STAMP = [{"id": STAMP_PROPERTY_ID, "value": None}]
# Kind -> the Graph collection its linked items live in (by their immutable id).
_ITEM_COLLECTIONS = {"appointment": "events", "contact": "contacts", "shared_contact": "contacts"}


@dataclass
class Cleaned:
    items: int = 0  # linked items whose categories and stamp were taken off
    gone: int = 0  # linked items no longer in the mailbox
    messages: int = 0  # imported (or failed) messages whose marks were taken off
    subscriptions: int = 0
    folders_deleted: list[str] = field(default_factory=list)
    folders_kept: list[str] = field(default_factory=list)  # not empty: the contacts in it are the user's
    refused: dict[str, int] = field(default_factory=dict)  # kind -> items Graph refused to change

    def lines(self) -> list[str]:
        out = [
            f"items cleaned: {self.items} (gone already: {self.gone})",
            f"e-mails cleaned: {self.messages}",
            f"subscriptions deleted: {self.subscriptions}",
        ]
        out += [f"contact folder deleted: {name}" for name in self.folders_deleted]
        out += [f"contact folder kept (not empty): {name}" for name in self.folders_kept]
        out += [f"Graph refused to change {n} {kind} item(s)" for kind, n in sorted(self.refused.items())]
        return out


def product_categories(settings: Settings) -> set[str]:
    """The categories the product sets or reads as marks (compared case-insensitively, as Outlook does)."""
    names = {settings.category, *settings.contact_categories}
    names |= {settings.imported_category, settings.import_failed_category, *PROBLEM_CATEGORIES}
    return {name.casefold() for name in names}


def _without(categories: Any, ours: set[str]) -> list[str]:
    if not isinstance(categories, list):
        return []
    return [c for c in categories if isinstance(c, str) and c.casefold() not in ours]


class MailboxCleaner:
    def __init__(self, graph: GraphClient, settings: Settings, mailbox: str) -> None:
        self.graph, self.settings, self.mailbox = graph, settings, mailbox
        self.user = user_seg(mailbox)
        self.ours = product_categories(settings)
        self.done = Cleaned()

    async def clean(self, links: list[Link], subscriptions: list[str]) -> Cleaned:
        for link in links:
            if link.claimed_side == "graph" or link.mailbox != self.mailbox:
                continue  # a claim: no Exchange item was made (or it is found by its stamp, not here)
            try:
                await self._item(link)
            except GraphNotFound:
                self.done.gone += 1
            except GraphError as exc:
                if exc.status in (0, 401, 403, 429, 503, 504):
                    raise  # Graph unusable: the command stops and says so; run it again later
                self.done.refused[link.kind] = self.done.refused.get(link.kind, 0) + 1
                log.warning("item not cleaned", extra={"kind": link.kind, "status": exc.status})
        await self._messages()
        for subscription_id in subscriptions:
            await self._subscription(subscription_id)
        await self._folders()
        return self.done

    async def _item(self, link: Link) -> None:
        if link.kind == "task":
            await self._task(link.graph_id)
            return
        collection = _ITEM_COLLECTIONS.get(link.kind)
        if collection is None:
            return
        path = f"users/{self.user}/{collection}/{seg(link.graph_id)}"
        select = "categories,type" if collection == "events" else "categories"
        item = await self.graph.request_json("GET", self.mailbox, f"{path}?$select={select}") or {}
        if item.get("type") == "occurrence":
            # Changing an occurrence would make it an exception: its series master's change covers it.
            return
        body = {"categories": _without(item.get("categories"), self.ours)}
        await self.graph.request_json(
            "PATCH", self.mailbox, path, body={**body, "singleValueExtendedProperties": _REMOVE_STAMP}
        )
        self.done.items += 1

    async def _task(self, graph_id: str) -> None:
        try:
            list_id, task_id = todo.split(graph_id)
        except ValueError:
            return
        task = await todo.get_task(self.graph, self.mailbox, list_id, task_id)
        if task is None:
            raise GraphNotFound(404, "ErrorItemNotFound")
        kept = _without(task.get("categories"), self.ours)
        if kept != task.get("categories"):
            await todo.update_task(self.graph, self.mailbox, list_id, task_id, {"categories": kept})
        for resource in task.get("linkedResources") or []:
            if isinstance(resource, dict) and resource.get("applicationName") == todo.APPLICATION_NAME:
                resource_id = resource.get("id")
                if isinstance(resource_id, str) and resource_id:
                    path = f"users/{self.user}/todo/lists/{seg(list_id)}/tasks/{seg(task_id)}"
                    await self.graph.request_json(
                        "DELETE", self.mailbox, f"{path}/linkedResources/{seg(resource_id)}"
                    )
        self.done.items += 1

    async def _messages(self) -> None:
        for category in (self.settings.imported_category, self.settings.import_failed_category):
            for message in await self._marked(category):
                path = f"users/{self.user}/messages/{seg(str(message['id']))}"
                body = {
                    "categories": _without(message.get("categories"), self.ours),
                    "singleValueExtendedProperties": _REMOVE_STAMP,
                }
                try:
                    await self.graph.request_json("PATCH", self.mailbox, path, body=body)
                except GraphNotFound:
                    continue
                self.done.messages += 1

    async def _marked(self, category: str) -> list[dict[str, Any]]:
        query = f"$filter={quote(category_filter(category), safe=',()')}&$select=id,categories&$top={_PAGE}"
        return await self._all(f"users/{self.user}/messages?{query}")

    async def _all(self, link: str | None) -> list[dict[str, Any]]:
        """Every item of a listing, all read before any is changed (a change moves an item out of the
        filter, which would shift the pages)."""
        found: list[dict[str, Any]] = []
        pages = 0
        while link is not None and pages < _MAX_PAGES:
            pages += 1
            page = await self.graph.request_json("GET", self.mailbox, link) or {}
            value = page.get("value")
            if isinstance(value, list):
                found.extend(m for m in value if isinstance(m, dict) and isinstance(m.get("id"), str))
            next_link = page.get("@odata.nextLink")
            link = next_link if isinstance(next_link, str) and next_link else None
        return found

    async def _subscription(self, subscription_id: str) -> None:
        try:
            await self.graph.request_json(
                "DELETE", None, f"subscriptions/{seg(subscription_id)}", idempotent=True
            )
        except GraphNotFound:
            return  # expired or removed already
        self.done.subscriptions += 1

    async def _folders(self) -> None:
        names = [self.settings.contact_folder]
        shared = shared_list_for(self.settings, self.mailbox)
        if shared is not None:
            names.append(shared.folder)
        for name in dict.fromkeys(names):
            folder = await find_folder(self.graph, self.mailbox, name)
            if folder is None:
                continue
            # Contacts the product could not import carry a problem category and no link: found by it.
            for folder_id in dict.fromkeys(f for f in (folder.id, folder.parent_id) if f):
                await self._problem_contacts(folder_id)
            path = f"users/{self.user}/contactFolders/{seg(folder.id)}"
            page = await self.graph.request_json("GET", self.mailbox, f"{path}/contacts?$select=id&$top=1")
            if (page or {}).get("value"):
                self.done.folders_kept.append(name)
                continue
            try:
                await self.graph.request_json("DELETE", self.mailbox, path)
            except GraphNotFound:
                continue
            self.done.folders_deleted.append(name)

    async def _problem_contacts(self, folder_id: str) -> None:
        for category in PROBLEM_CATEGORIES:
            query = (
                f"$filter={quote(category_filter(category), safe=',()')}&$select=id,categories&$top={_PAGE}"
            )
            path = f"users/{self.user}/contactFolders/{seg(folder_id)}/contacts?{query}"
            for contact in await self._all(path):
                kept = _without(contact.get("categories"), self.ours)
                contact_path = f"users/{self.user}/contacts/{seg(str(contact['id']))}"
                try:
                    await self.graph.request_json(
                        "PATCH", self.mailbox, contact_path, body={"categories": kept}
                    )
                except GraphNotFound:
                    continue
                self.done.items += 1


def subscription_ids(values: list[str]) -> list[str]:
    """The subscription ids in the stored subscription records (unreadable records have none)."""
    out: list[str] = []
    for value in values:
        stored = Stored.parse(value)
        if stored is not None:
            out.append(stored.id)
    return out
