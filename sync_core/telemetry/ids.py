"""Correlation ids and pseudonyms: no personal data leaves the process in telemetry.

Mailbox addresses are personal data: telemetry carries `mailbox_ref`, a keyed hash that is stable for one
installation (keyed with its F&O URL) and cannot be tested against guessed addresses without that key.
`python -m sync_core.telemetry mailbox-ref ADDRESS` prints the ref of an address."""

from __future__ import annotations

import hashlib
import hmac
import re

from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def mailbox_ref(address: str, key: str) -> str:
    """16 hex digits of HMAC-SHA256(key, lower-case address); "*" (all mailboxes) and "" stay as they are."""
    address = address.strip().lower()
    if address in ("", "*", "?"):
        return address
    digest = hmac.new(key.strip().lower().encode(), address.encode(), hashlib.sha256).hexdigest()
    return digest[:16]


def cycle_context(cycle_id: str) -> Context | None:
    """A parent context whose trace id is the cycle id, so every span of one cycle (plan, scans, pairs, on
    any instance) shares one operation id in Application Insights. None for a missing or foreign id."""
    value = cycle_id.strip().lower()
    if not _HEX32.match(value) or int(value, 16) == 0:
        return None
    span_id = int(value[16:], 16) or 1  # a virtual root: the cycle itself, which has no single span
    parent = SpanContext(
        trace_id=int(value, 16),
        span_id=span_id,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return set_span_in_context(NonRecordingSpan(parent))


def reason_class(reason: str) -> str:
    """The class of a failure reason, without the free text that may quote item content.

    `describe()` in pipeline/handlers.py writes "<class or service answer>: <detail>"; keep the part before
    the colon (e.g. "F&O answered 400", "Microsoft Graph answered 404 ErrorItemNotFound", "KeyError")."""
    head = reason.split(":", 1)[0].strip()
    head = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", head)  # quoted values can be content
    return head[:120] or "unknown"
