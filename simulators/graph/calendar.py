"""Calendar operations shared by the HTTP handlers and the seeding API (so both behave alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulators.graph import events, ids
from simulators.graph.errors import not_found
from simulators.graph.model import Instance, Mailbox, StoredEvent

if TYPE_CHECKING:
    from simulators.graph.state import GraphState

_INSPECT = events.RenderOptions(ext_filter=lambda _p: True)


def whole(ev: StoredEvent) -> Instance:
    return Instance(ev, ev, None, ev.start, ev.end)


def inspect(mb: Mailbox, inst: Instance) -> dict[str, Any]:
    return events.render(mb, inst, _INSPECT)


def _touch(mb: Mailbox, ev: StoredEvent) -> None:
    mb.seq += 1
    ev.seq = mb.seq


def _record(
    state: GraphState, mb: Mailbox, inst: Instance, kind: str, attendees: list[dict[str, Any]]
) -> None:
    if not attendees:
        return
    state.sent_meeting_messages.append(
        {
            "mailbox": mb.user.mail,
            "event_id": ids.encode(events.instance_ref(inst), immutable=True),
            "kind": kind,
            "attendees": [a["emailAddress"]["address"] for a in attendees],
        }
    )


def create_event(
    state: GraphState, mb: Mailbox, body: object, *, notify: bool = True
) -> tuple[Instance, bool]:
    """POST semantics; a repeated transactionId returns the existing event (Graph answers 201 again)."""
    txn = body.get("transactionId") if isinstance(body, dict) else None
    if isinstance(txn, str) and txn in mb.transactions and mb.transactions[txn] in mb.events:
        return whole(mb.events[mb.transactions[txn]]), False
    ev = events.create(body, state.new_key(), state.clock())
    _touch(mb, ev)
    mb.events[ev.key] = ev
    if isinstance(txn, str):
        mb.transactions[txn] = ev.key
    inst = whole(ev)
    if notify:
        _record(state, mb, inst, "request", ev.fields["attendees"])
    return inst, True


def _resolve(mb: Mailbox, event_id: str) -> tuple[ids.ItemRef, Instance]:
    ref = ids.decode(event_id)
    inst = events.find(mb, ref) if ref else None
    if ref is None or inst is None:
        raise not_found()
    return ref, inst


def update_event(state: GraphState, mb: Mailbox, event_id: str, body: object) -> Instance:
    ref, inst = _resolve(mb, event_id)
    master, now = inst.master, state.clock()
    before = list(inst.record.fields["attendees"])
    if ref.occurrence is None:
        changed = events.patch(master, body, now, is_occurrence=False)
    else:
        exception = master.exceptions.get(ref.occurrence)
        if exception is None:
            exception = events.readable_copy(master)
            exception.start, exception.end, exception.created = inst.start, inst.end, now
        changed = events.patch(exception, body, now, is_occurrence=True)
        master.exceptions[ref.occurrence] = exception
    _touch(mb, master)
    updated = events.find(mb, ref)
    assert updated is not None
    if changed:
        after = updated.record.fields["attendees"]
        kept = {a["emailAddress"]["address"].lower() for a in after}
        _record(state, mb, updated, "update", after)
        _record(
            state,
            mb,
            updated,
            "cancel",
            [a for a in before if a["emailAddress"]["address"].lower() not in kept],
        )
    return updated


def delete_event(state: GraphState, mb: Mailbox, event_id: str) -> None:
    ref, inst = _resolve(mb, event_id)
    master = inst.master
    if ref.occurrence is None:
        del mb.events[master.key]
        mb.seq += 1
        mb.tombstones[master.key] = mb.seq
    else:
        master.cancelled.add(ref.occurrence)
        master.exceptions.pop(ref.occurrence, None)
        _touch(mb, master)
    _record(state, mb, inst, "cancel", inst.record.fields["attendees"])
