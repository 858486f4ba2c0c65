"""The shared state of one limited resource (a mailbox for Graph, the app's F&O user) and the pure steps
on it; `gate.py` reads, changes and writes it back with an ETag, so every step is atomic across instances.

One small JSON document per resource:

- `holders`: per worker process, how many of the resource's concurrency units it holds and until when.
  A holder renews while it works and gives its units back when idle; a crashed one's units expire.
- `waiting`: processes that found no free unit, until when; holders then keep only their fair share.
- `grants`: tokens handed out, per time bucket. A process takes a block of tokens at once and spends it
  locally, so Storage is asked once per block, not once per request. A block may be spent during
  `block_seconds` after its grant, so a grant counts against the limit for window + block_seconds (plus
  its bucket's width): any window of the service then sees at most `limit` requests from all instances.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Spec:
    """What the service allows for one resource, across every instance of the app."""

    capacity: int  # requests in flight at once
    limit: int  # requests per window
    window: float  # seconds
    block: int  # tokens handed out at once

    @property
    def bucket(self) -> float:
        return self.window / 30


@dataclass
class Holding:
    units: int
    expires: float


@dataclass
class Doc:
    holders: dict[str, Holding] = field(default_factory=dict)
    waiting: dict[str, float] = field(default_factory=dict)
    grants: dict[int, int] = field(default_factory=dict)  # bucket number -> tokens granted in it

    @classmethod
    def loads(cls, text: str | None) -> Doc:
        if not text:
            return cls()
        raw = json.loads(text)
        return cls(
            holders={k: Holding(int(v[0]), float(v[1])) for k, v in raw.get("h", {}).items()},
            waiting={k: float(v) for k, v in raw.get("w", {}).items()},
            grants={int(k): int(v) for k, v in raw.get("g", {}).items()},
        )

    def dumps(self) -> str:
        raw: dict[str, Any] = {
            "h": {k: [v.units, round(v.expires, 3)] for k, v in self.holders.items()},
            "w": {k: round(v, 3) for k, v in self.waiting.items()},
            "g": {str(k): v for k, v in self.grants.items()},
        }
        return json.dumps(raw, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class Outcome:
    units: int  # the caller's units after the step
    tokens: int  # tokens granted by the step
    bucket: int  # where they were counted (to give unused ones back)
    wait: float  # with no unit or no token granted: seconds until one may free up (a hint)


def prune(doc: Doc, spec: Spec, now: float, block_seconds: float) -> None:
    """Drop expired holders, waiters and grants that no longer count."""
    doc.holders = {k: v for k, v in doc.holders.items() if v.expires > now}
    doc.waiting = {k: v for k, v in doc.waiting.items() if v > now}
    oldest = math.floor((now - spec.window - block_seconds) / spec.bucket) - 1
    doc.grants = {k: v for k, v in doc.grants.items() if k > oldest and v > 0}


def used(doc: Doc) -> int:
    return sum(doc.grants.values())


def fair_share(doc: Doc, spec: Spec) -> int:
    """Units each process may keep while others wait for one (at least one each)."""
    parties = len(set(doc.holders) | set(doc.waiting))
    return max(1, spec.capacity // max(parties, 1))


def step(
    doc: Doc,
    spec: Spec,
    holder: str,
    *,
    units: int,
    tokens: int,
    now: float,
    ttl: float,
    give_back: tuple[int, int] | None = None,
    renew: bool = False,
) -> Outcome:
    """Set `holder`'s units to at most `units` (0 releases them) and grant up to `tokens` tokens; with
    `give_back` (bucket, count), unspent tokens of an earlier grant no longer count; `renew` extends the
    holder's lease even when it has long to run."""
    prune(doc, spec, now, ttl)
    if give_back is not None:
        bucket, count = give_back
        if bucket in doc.grants:
            doc.grants[bucket] = max(0, doc.grants[bucket] - count)
    others = sum(v.units for k, v in doc.holders.items() if k != holder)
    granted_units = max(0, min(units, spec.capacity - others))
    if granted_units:
        held = doc.holders.get(holder)
        if renew or held is None or held.units != granted_units or held.expires < now + ttl / 2:
            doc.holders[holder] = Holding(granted_units, now + ttl)  # else unchanged: nothing to write
        doc.waiting.pop(holder, None)
    else:
        doc.holders.pop(holder, None)
        if not units:
            doc.waiting.pop(holder, None)
        elif doc.waiting.get(holder, 0.0) < now + ttl / 2:
            doc.waiting[holder] = now + ttl  # renewed only now and then: a waiter's poll is a read only
    bucket = math.floor(now / spec.bucket)
    granted_tokens = max(0, min(tokens, spec.limit - used(doc))) if granted_units else 0
    if granted_tokens:
        doc.grants[bucket] = doc.grants.get(bucket, 0) + granted_tokens
    doc.grants = {k: v for k, v in doc.grants.items() if v > 0}
    wait = 0.0
    if units and not granted_units:
        wait = min((v.expires - now for v in doc.holders.values()), default=0.0)
    elif tokens and not granted_tokens and granted_units:
        oldest = min(doc.grants, default=bucket)
        wait = (oldest + 1) * spec.bucket + spec.window + ttl - now
    return Outcome(granted_units, granted_tokens, bucket, max(wait, 0.0))
