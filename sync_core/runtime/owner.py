"""Who holds a claim, and whether that worker is still at it.

A create is claimed in the state store before it is sent (pipeline/pair.py, email_import/claims.py). A
later attempt that finds the claim but not the item must tell "another worker is creating it right now"
(wait, or it creates a second one) from "the worker died" (its create failed, was never sent, or shows up
late: see SYNC_CREATE_OUTCOME_WAIT_SECONDS). The claim names its owner as `host:pid`; on the same host the
pid says whether that process still runs, and within this process a registry says whether the create is
in flight. An owner on another host (another Functions instance) cannot be asked: the configured wait
applies."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from datetime import timedelta

# A live owner is given at least this long (the local queue's lease: a job running longer is taken to be
# lost); a pid that was reused by an unrelated process then holds a claim no longer than this.
LIVE_OWNER_WAIT = timedelta(minutes=10)

_HOST = socket.gethostname()
_in_flight: set[str] = set()


def this_process() -> str:
    return f"{_HOST}:{os.getpid()}"


def alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, under another user
    return True


def busy(owner: str, claim: str) -> bool:
    """Whether the claim's owner is known to be working on it now."""
    host, _, pid = owner.rpartition(":")
    if host != _HOST or not pid.isdigit():
        return False  # not known here
    if int(pid) == os.getpid():
        return claim in _in_flight
    return alive(int(pid))


def wait_for(owner: str, claim: str, configured: timedelta) -> timedelta:
    """How long after the claim was made another attempt must wait before creating anew."""
    return max(configured, LIVE_OWNER_WAIT) if busy(owner, claim) else configured


@contextlib.contextmanager
def creating(claim: str) -> Iterator[None]:
    """Marks a create of this process as in flight while it runs."""
    _in_flight.add(claim)
    try:
        yield
    finally:
        _in_flight.discard(claim)
