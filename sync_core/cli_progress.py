"""Progress of `run --once` on standard error: a bar on a terminal, otherwise a line per mailbox scanned.

Mailboxes are counted, not named: standard error is where logs go, and logs carry no addresses. Standard
output (the report, or the `--json` document) never carries progress."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sync_core.pipeline.runner import CycleProgress
from sync_core.runtime.messages import AnyMessage, MessageError, ScanMailbox, decode


class _Mailboxes:
    """Counts the planned scans of each mailbox down; a mailbox is done when all its kinds are scanned."""

    def __init__(self) -> None:
        self.left: Counter[str] = Counter()
        self.cycle_id = ""
        self.total = 0
        self.done = 0

    def plan(self, messages: Sequence[AnyMessage]) -> None:
        scans = [m for m in messages if isinstance(m, ScanMailbox)]
        self.cycle_id = scans[0].cycle_id if scans else ""
        self.left = Counter(m.mailbox for m in scans)
        self.total = len(self.left)

    def finished(self, text: str) -> bool:
        """True when `text` was the last planned scan of its mailbox."""
        try:
            message = decode(text)
        except MessageError:
            return False
        if not isinstance(message, ScanMailbox) or message.cycle_id != self.cycle_id:
            return False
        if self.left[message.mailbox] <= 0:
            return False
        self.left[message.mailbox] -= 1
        if self.left[message.mailbox]:
            return False
        self.done += 1
        return True


class LineProgress:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._mailboxes = _Mailboxes()

    def planned(self, messages: Sequence[AnyMessage]) -> None:
        self._mailboxes.plan(messages)
        print(f"progress: {self._mailboxes.total} mailbox(es) to scan", file=self._stream, flush=True)

    def finished(self, text: str) -> None:
        if self._mailboxes.finished(text):
            count = self._mailboxes
            print(f"progress: mailbox {count.done} of {count.total} scanned", file=self._stream, flush=True)


class BarProgress:
    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._mailboxes = _Mailboxes()
        self._task = bar.add_task("mailboxes scanned", total=None)

    def planned(self, messages: Sequence[AnyMessage]) -> None:
        self._mailboxes.plan(messages)
        self._bar.update(self._task, total=self._mailboxes.total)

    def finished(self, text: str) -> None:
        if self._mailboxes.finished(text):
            self._bar.update(self._task, completed=self._mailboxes.done)


@contextmanager
def cycle_progress(stream: TextIO | None = None) -> Iterator[CycleProgress]:
    stream = stream or sys.stderr
    if not stream.isatty():
        yield LineProgress(stream)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(file=stream), transient=True) as bar:
        yield BarProgress(bar)
