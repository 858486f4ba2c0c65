"""The Graph calls of the e-mail import: list marked messages, read one, write its categories and stamp."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sync_core.exchange.errors import GraphNotFound
from sync_core.exchange.urls import odata_string, seg, user_seg
from sync_core.runtime.context import SyncContext
from sync_core.runtime.keys import STAMP_PROPERTY_ID

# Ask for HTML: the import converts it to text itself, the same way for every mailbox (sync_core.model.email).
HTML_BODY = {"Prefer": 'outlook.body-content-type="html"'}
LIST_PAGE = 100
_MAX_PAGES = 1000
_LIST_FIELDS = "id,internetMessageId,categories"
_READ_FIELDS = ",".join(
    (
        "id", "internetMessageId", "subject", "body", "receivedDateTime", "sentDateTime", "createdDateTime",
        "sender", "from", "toRecipients", "ccRecipients", "categories", "isDraft", "changeKey",
    )
)  # fmt: skip


def _query(**params: str) -> str:
    return "&".join(f"${name}={quote(value, safe=',()')}" for name, value in params.items())


def category_filter(category: str) -> str:
    """`categories/any(c:c eq 'X')` with the name as an escaped OData literal (a quote cannot end it)."""
    return f"categories/any(c:c eq {odata_string(category)})"


async def list_marked(ctx: SyncContext, mailbox: str, category: str) -> list[dict[str, Any]]:
    """Messages in any folder of the mailbox that carry `category` (id, internetMessageId, categories).

    One request per mailbox and cycle (plus one per further 100 marked messages): a category filter on the
    mailbox-wide message list, instead of a delta round per folder, which has no category filter."""
    link: str | None = f"users/{user_seg(mailbox)}/messages?" + _query(
        filter=category_filter(category), select=_LIST_FIELDS, top=str(LIST_PAGE)
    )
    found: list[dict[str, Any]] = []
    pages = 0
    while link is not None and pages < _MAX_PAGES:
        pages += 1
        page = await ctx.graph.request_json("GET", mailbox, link) or {}
        value = page.get("value")
        if isinstance(value, list):
            found.extend(item for item in value if isinstance(item, dict) and isinstance(item.get("id"), str))
        next_link = page.get("@odata.nextLink")
        link = next_link if isinstance(next_link, str) and next_link else None
    return found


async def get_message(ctx: SyncContext, mailbox: str, message_id: str) -> dict[str, Any] | None:
    """The message with the fields the import needs, its body as HTML and the product's stamp expanded."""
    path = f"users/{user_seg(mailbox)}/messages/{seg(message_id)}?" + _query(
        select=_READ_FIELDS,
        expand=f"singleValueExtendedProperties($filter=id eq {odata_string(STAMP_PROPERTY_ID)})",
    )
    try:
        return await ctx.graph.request_json("GET", mailbox, path, headers=HTML_BODY)
    except GraphNotFound:
        return None


async def write_categories(
    ctx: SyncContext, mailbox: str, message_id: str, categories: list[str], stamp: str | None = None
) -> None:
    """PATCH only the category list (and the product's own stamp): nothing else of the message changes."""
    body: dict[str, Any] = {"categories": categories}
    if stamp is not None:
        body["singleValueExtendedProperties"] = [{"id": STAMP_PROPERTY_ID, "value": stamp}]
    path = f"users/{user_seg(mailbox)}/messages/{seg(message_id)}"
    await ctx.graph.request_json("PATCH", mailbox, path, body=body)
