"""Correlation ids and pseudonyms."""

from __future__ import annotations

import uuid

from opentelemetry.trace import get_current_span

from sync_core.telemetry.ids import cycle_context, mailbox_ref, reason_class

KEY = "https://contoso.operations.dynamics.com"


def test_mailbox_ref_is_stable_case_insensitive_and_not_the_address() -> None:
    ref = mailbox_ref("Alice@Contoso.com", KEY)
    assert ref == mailbox_ref(" alice@contoso.com ", KEY)
    assert len(ref) == 16 and int(ref, 16) >= 0
    assert "alice" not in ref and "@" not in ref
    assert ref != mailbox_ref("bob@contoso.com", KEY)


def test_mailbox_ref_depends_on_the_installation_key() -> None:
    """Without the installation's key a guessed address does not give the same ref."""
    assert mailbox_ref("alice@contoso.com", KEY) != mailbox_ref("alice@contoso.com", "https://other.example")


def test_placeholders_stay_readable() -> None:
    assert mailbox_ref("*", KEY) == "*"
    assert mailbox_ref("", KEY) == ""


def test_cycle_context_makes_the_cycle_id_the_trace_id() -> None:
    cycle_id = uuid.uuid4().hex
    context = cycle_context(cycle_id)
    assert context is not None
    parent = get_current_span(context).get_span_context()
    assert parent.trace_id == int(cycle_id, 16)
    assert parent.is_remote and parent.trace_flags.sampled and parent.span_id != 0


def test_foreign_cycle_ids_start_a_new_trace() -> None:
    for value in ("", "not-hex", "0" * 32, "abc", "g" * 32, uuid.uuid4().hex + "00"):
        assert cycle_context(value) is None


def test_reason_class_drops_free_text() -> None:
    assert reason_class("F&O answered 400: Purpose 'Dinner with Jane' is too long") == "F&O answered 400"
    assert reason_class("Microsoft Graph answered 404 ErrorItemNotFound") == (
        "Microsoft Graph answered 404 ErrorItemNotFound"
    )
    assert reason_class("ValueError: bad time zone for alice@contoso.com") == "ValueError"
    assert reason_class("mailbox time zone 'Mars/Olympus' is not recognised") == (
        "mailbox time zone '…' is not recognised"
    )
    assert reason_class("") == "unknown"
    assert len(reason_class("x" * 500)) == 120
