"""JSON ``$batch`` bodies: item normalisation and splitting into calls of at most 20 items.

Items linked by ``dependsOn`` must travel in the same call, so items are grouped by dependency first and
whole groups are packed into calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import prefer
from .urls import GraphUrls

MAX_BATCH_ITEMS = 20


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def normalise_items(requests: Sequence[Mapping[str, Any]], urls: GraphUrls) -> list[dict[str, Any]]:
    """Graph-ready items: string ids, relative URLs, Outlook preferences, ``dependsOn`` spelled right."""
    items: list[dict[str, Any]] = []
    for index, request in enumerate(requests):
        raw_id = request.get("id")
        item_id = str(raw_id) if raw_id not in (None, "") else str(index + 1)
        headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
        given_prefer = _header(headers, "prefer") or ""
        headers = {k: v for k, v in headers.items() if k.lower() != "prefer"}
        headers["Prefer"] = prefer.combine(prefer.OUTLOOK_DEFAULTS, prefer.split_prefer(given_prefer))
        item: dict[str, Any] = {
            "id": item_id,
            "method": str(request["method"]).upper(),
            "url": urls.relative(str(request["url"])),
            "headers": headers,
        }
        if request.get("body") is not None:
            item["body"] = request["body"]
            if _header(headers, "content-type") is None:
                headers["Content-Type"] = "application/json"
        depends = request.get("dependsOn", request.get("depends_on"))
        if depends:
            item["dependsOn"] = [str(d) for d in depends]
        items.append(item)
    ids = [item["id"] for item in items]
    if len(set(ids)) != len(ids):
        raise ValueError("batch request ids must be unique")
    known = set(ids)
    for item in items:
        if not set(item.get("dependsOn", [])) <= known:
            raise ValueError("dependsOn names a request that is not in the batch")
    return items


def _dependency_groups(items: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    parent = list(range(len(items)))
    position = {item["id"]: index for index, item in enumerate(items)}

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for index, item in enumerate(items):
        for target in item.get("dependsOn", []):
            parent[root(index)] = root(position[target])
    groups: dict[int, list[int]] = {}
    for index in range(len(items)):
        groups.setdefault(root(index), []).append(index)
    return sorted(groups.values(), key=lambda group: group[0])


def split_calls(items: Sequence[dict[str, Any]], limit: int = MAX_BATCH_ITEMS) -> list[list[dict[str, Any]]]:
    """Pack items into calls of at most ``limit``, never splitting a dependency group."""
    calls: list[list[int]] = []
    current: list[int] = []
    for group in _dependency_groups(items):
        if len(group) > limit:
            raise ValueError(f"a dependsOn chain of {len(group)} requests exceeds {limit} per batch")
        if len(current) + len(group) > limit:
            calls.append(current)
            current = []
        current.extend(group)
    if current:
        calls.append(current)
    return [[items[index] for index in sorted(call)] for call in calls]


def retry_subset(items: Sequence[dict[str, Any]], retry_ids: set[str]) -> list[dict[str, Any]]:
    """Items to send again; ``dependsOn`` keeps only targets that are sent again too."""
    subset = []
    for item in items:
        if item["id"] not in retry_ids:
            continue
        copy = dict(item)
        depends = [d for d in item.get("dependsOn", []) if d in retry_ids]
        if depends:
            copy["dependsOn"] = depends
        else:
            copy.pop("dependsOn", None)
        subset.append(copy)
    return subset
