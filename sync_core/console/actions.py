"""The console's actions: each is the command line's operation (cli_ops.py, held_deletions.py, doctor/)
with the signed-in administrator as the actor, so the audit log records who did it either way."""

from __future__ import annotations

from dataclasses import dataclass, field

from sync_core.app import open_context, open_store
from sync_core.cli_ops import (
    address_of,
    audit_action,
    configured,
    pause_mailbox,
    resume_mailbox,
    resync_mailbox,
    retry_failed,
)
from sync_core.console.auth import Admin
from sync_core.doctor.model import Finding
from sync_core.doctor.names import configured_names, unknown_names
from sync_core.doctor.run import run_doctor
from sync_core.held_deletions import HeldError, approve, find_held, reject
from sync_core.runtime.queues import InProcessQueues
from sync_core.settings import Settings

ACTIONS = ("pause", "resume", "resync", "retry", "approve", "reject", "doctor")


class ActionError(Exception):
    """The action cannot be taken as asked (a message for the administrator, answered 400)."""


@dataclass
class Outcome:
    title: str
    mailbox: str
    lines: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # the doctor's


async def take(settings: Settings, admin: Admin, form: dict[str, str]) -> Outcome:
    action = form.get("action", "")
    if action not in ACTIONS:
        raise ActionError(f"unknown action {action!r}")
    address = address_of(form.get("mailbox", ""))
    if action == "retry" and form.get("mailbox") == "*":
        address = "*"
    elif "@" not in address:
        raise ActionError("the form names no mailbox address")
    kind = form.get("kind", "").strip() or None
    outcome = Outcome(title=f"{action}: {address}", mailbox=address)
    say = outcome.lines.append
    if action == "doctor":
        await _doctor(settings, admin, address, outcome)
    elif action in ("approve", "reject"):
        await _answer_hold(settings, admin, address, kind, action, outcome)
    else:
        store = open_store(settings)
        try:
            if action == "retry":
                await retry_failed(settings, store, None if address == "*" else address, admin.name, say)
                return outcome
            record = await store.get_mailbox(address)
            if record is None and not configured(settings, address):
                raise ActionError(f"mailbox {address} is not known to the sync")
            if action == "pause":
                await pause_mailbox(store, address, record, admin.name, form.get("reason", "").strip(), say)
            elif action == "resume":
                await resume_mailbox(store, address, record, admin.name, say)
            elif await resync_mailbox(settings, store, address, record, admin.name, kind, say):
                raise ActionError("; ".join(outcome.lines))
        finally:
            await store.close()
    return outcome


async def _answer_hold(
    settings: Settings, admin: Admin, address: str, kind: str | None, action: str, outcome: Outcome
) -> None:
    if kind is None:
        raise ActionError("the form names no kind")
    async with open_context(settings, InProcessQueues(), dry_run=True) as ctx:
        try:
            held = await find_held(ctx, kind, address)
        except HeldError as exc:
            raise ActionError(str(exc)) from None
        if not held.state.held:
            outcome.lines.append(f"nothing is held for {kind} in {address} (any more); nothing changed")
            return
        if action == "approve":
            await approve(ctx, held, admin.name)
            outcome.lines.append(
                f"approved by {admin.name}: the next cycle applies the {len(held.rows)} held {kind} deletion(s)"
            )
        else:
            restored = await reject(ctx, held, admin.name)
            outcome.lines.append(
                f"rejected by {admin.name}: nothing is deleted; the next cycles recreate {restored} item(s)"
                " on the side they vanished from"
            )


async def _doctor(settings: Settings, admin: Admin, address: str, outcome: Outcome) -> None:
    report = await run_doctor(settings, unknown_names(configured_names()), mailbox=address)
    outcome.findings = report.findings
    store = open_store(settings)
    try:
        await audit_action(store, "doctor-run", address, admin.name, exitCode=report.exit_code)
    finally:
        await store.close()
