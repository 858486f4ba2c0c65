"""Exchange ids written by an earlier Outlook sync, translated to the ids this product uses.

Graph's `POST /users/{id}/translateExchangeIds` (api-reference/v1.0/api/user-translateexchangeids.md) takes
at most 1,000 ids of one `sourceIdType` and one mailbox and answers one convertIdResult per id: `targetId`,
or `errorDetails` when that id could not be converted (resources/convertidresult.md). The product asks for
`restImmutableEntryId`, the ids it reads everything with (`Prefer: IdType="ImmutableId"`).

What a predecessor left in `OutlookEntryId`: the AX 2012 Outlook client wrote the MAPI entry id as a hex
string; Graph takes that binary as URL-safe base64 (`entryId`, the page's encoding rules). An add-on that
synced over EWS wrote EWS ids (`ewsId`); a Graph-based one REST ids. Base64 ids do not say which they are,
so an id that is malformed as one format is tried as the next.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sync_core.exchange.client import GraphClient
from sync_core.exchange.urls import user_seg

MAX_IDS = 1000  # "Maximum size of this collection is 1000 strings."
TARGET = "restImmutableEntryId"
# Tried in this order for ids that are not hex; the product's own format last (it reads as itself).
BASE64_FORMATS = ("ewsId", "restId", "restImmutableEntryId")
ITEM_NOT_FOUND = "ErrorItemNotFound"
# A MAPI entry id is at least 24 bytes (flags and provider UID plus some id); AX 2012 wrote it as hex.
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){24,512}")
_BASE64 = re.compile(r"[A-Za-z0-9+/_=-]{16,1024}")


@dataclass(frozen=True)
class Translation:
    target: str | None  # the Graph id (restImmutableEntryId), None when not translated
    error: str = ""  # errorDetails.code of the last format tried, when not translated


def entry_id_from_hex(text: str) -> str | None:
    """A MAPI entry id kept as hex (AX 2012) in Graph's `entryId` encoding; None if it is not such hex."""
    if not _HEX.fullmatch(text):
        return None
    encoded = base64.b64encode(bytes.fromhex(text)).decode()
    stripped = encoded.rstrip("=")
    return stripped.replace("+", "-").replace("/", "_") + str(len(encoded) - len(stripped))


def may_be_base64_id(text: str) -> bool:
    return bool(_BASE64.fullmatch(text))


async def translate(
    graph: GraphClient, mailbox: str, ids: Iterable[str], source: str
) -> dict[str, Translation]:
    """Each id of one format and mailbox -> its translation, in calls of at most 1,000 ids."""
    pending = list(dict.fromkeys(ids))
    out: dict[str, Translation] = {}
    for start in range(0, len(pending), MAX_IDS):
        chunk = pending[start : start + MAX_IDS]
        body = {"inputIds": chunk, "sourceIdType": source, "targetIdType": TARGET}
        # A translation changes nothing: sending it again after a lost answer is harmless.
        answer = await graph.request_json(
            "POST", mailbox, f"users/{user_seg(mailbox)}/translateExchangeIds", body=body, idempotent=True
        )
        for result in (answer or {}).get("value") or []:
            if not isinstance(result, dict) or not isinstance(result.get("sourceId"), str):
                continue
            target = result.get("targetId")
            details = result.get("errorDetails")
            code = str(details.get("code") or "") if isinstance(details, dict) else ""
            out[result["sourceId"]] = Translation(
                target if isinstance(target, str) and target else None, code
            )
    for text in pending:
        out.setdefault(text, Translation(None, "NoResult"))  # an id the answer left out
    return out


async def translate_any(graph: GraphClient, mailbox: str, entries: Iterable[str]) -> dict[str, Translation]:
    """`OutlookEntryId` values of any format -> translations: hex as entryId, base64 ids as each format in
    turn until one takes them (an id of an item that is gone stops there: it is well-formed)."""
    out: dict[str, Translation] = {}
    hex_ids: dict[str, str] = {}
    left: list[str] = []
    for entry in dict.fromkeys(entries):
        encoded = entry_id_from_hex(entry)
        if encoded is not None:
            hex_ids[encoded] = entry
        elif may_be_base64_id(entry):
            left.append(entry)
        else:
            out[entry] = Translation(None, "ErrorInvalidIdMalformed")  # neither hex nor base64: never sent
    if hex_ids:
        for encoded, result in (await translate(graph, mailbox, hex_ids, "entryId")).items():
            out[hex_ids[encoded]] = result
    for source in BASE64_FORMATS:
        if not left:
            break
        results = await translate(graph, mailbox, left, source)
        out.update(results)
        left = [e for e in left if results[e].target is None and results[e].error != ITEM_NOT_FOUND]
    return out
