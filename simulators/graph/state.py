"""In-memory tenant of the Graph stand-in: users, groups, mailboxes, plus the knobs tests turn.

Handlers and the seeding methods below share one lock, so tests may seed and inspect while the server runs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from simulators.graph import ids
from simulators.graph.model import Category, Mailbox, User
from simulators.graph.timezones import resolve_zone
from simulators.graph.todo import TodoTenant

_DEFAULT_CATEGORIES = (
    ("Red category", "preset0"),
    ("Orange category", "preset1"),
    ("Yellow category", "preset3"),
    ("Green category", "preset4"),
    ("Blue category", "preset7"),
    ("Purple category", "preset8"),
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class GraphState:
    def __init__(
        self,
        token: str = "sandbox-token",
        *,
        tenant_domains: tuple[str, ...] = ("contoso.com",),
        page_size: int = 50,
        max_concurrent_per_mailbox: int = 4,
        latency: float = 0.0,
        rate_limit: int | None = None,
        rate_window: float = 600.0,
        empty_first_delta_page: bool = True,
    ) -> None:
        self.token = token
        # Graph's cost model (all off by default so tests stay fast; the benchmark turns them on):
        # seconds each call takes on the wire, and per mailbox at most `rate_limit` requests per
        # `rate_window` seconds (Exchange: 10,000 per 10 minutes), over which a call answers 429.
        self.latency = latency
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        # Real Graph often answers the first request of a delta round with an empty page and a nextLink.
        self.empty_first_delta_page = empty_first_delta_page
        # Off: the calendar delta as Microsoft documents it; on: as reported (simulators/graph/delta.py).
        self.bare_occurrences_in_delta = False
        # Exchange's mailbox scope for the app (lower-case addresses; None: every mailbox), see permissions.py.
        self.mailbox_scope: set[str] | None = None
        self.tenant_domains = tuple(d.lower() for d in tenant_domains)
        self.page_size = page_size
        self.max_concurrent_per_mailbox = max_concurrent_per_mailbox
        self.clock: Callable[[], datetime] = _utcnow
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self.groups: dict[str, list[str]] = {}
        self.sent_meeting_messages: list[dict[str, Any]] = []
        self.request_log: list[dict[str, Any]] = []
        self.delta_rounds: dict[str, Any] = {}
        self.delta_snapshots: dict[str, Any] = {}
        # Mail folders and messages per mailbox (simulators.graph.messages_store.MailStore), made on first use.
        self.mail_stores: dict[str, Any] = {}
        # Contact folders and contacts per mailbox id (simulators/graph/contacts.py owns the shape).
        self.contact_books: dict[str, Any] = {}
        self._counter = 0
        self._in_flight: dict[str, int] = {}
        # A meter for tests and the benchmark: requests on the wire per mailbox, refused ones included.
        self._offered: dict[str, int] = {}
        self.offered_peak: dict[str, int] = {}  # mailbox address -> most at once
        self._throttle: dict[str, tuple[int, float]] = {}
        self._holds: dict[str, threading.Event] = {}
        self._recent: dict[str, deque[float]] = {}
        # Microsoft To Do lists and tasks, with their seeding and inspection methods (state.todo.add_task, ...).
        self.todo = TodoTenant(self)

    # ---- seeding -------------------------------------------------------------------------------------

    def add_user(
        self, mail: str, display_name: str, *, time_zone: str = "UTC", user_id: str | None = None
    ) -> str:
        """Create a user with a mailbox; returns its object id (GUID)."""
        domain = mail.rpartition("@")[2].lower()
        if domain not in self.tenant_domains:
            raise ValueError("the user's domain is not one of the tenant's domains")
        if resolve_zone(time_zone) is None:
            raise ValueError("unknown time zone")
        with self.lock:
            if self._find_user(mail) is not None:
                raise ValueError("a user with this mail already exists")
            uid = user_id or str(uuid.UUID(bytes=self.new_key("user")))
            user = User(uid, mail, display_name, time_zone)
            self.users[uid.lower()] = user
            mailbox = Mailbox(user)
            mailbox.categories = [
                Category(str(uuid.UUID(bytes=self.new_key("category"))), name, color)
                for name, color in _DEFAULT_CATEGORIES
            ]
            self.mailboxes[uid.lower()] = mailbox
            return uid

    def add_group(self, group_id: str, member_mails: list[str]) -> None:
        with self.lock:
            members = []
            for mail in member_mails:
                user = self._find_user(mail)
                if user is None:
                    raise ValueError("group member is not a user of this tenant")
                members.append(user.id)
            self.groups[group_id.lower()] = members

    def add_event(self, mailbox: str, event: dict[str, Any]) -> dict[str, Any]:
        """Store an event as POST /users/{mailbox}/events would; returns its JSON (UTC, immutable id)."""
        from simulators.graph import calendar

        with self.lock:
            mb = self._mailbox_or_raise(mailbox)
            inst, _created = calendar.create_event(self, mb, event)
            return calendar.inspect(mb, inst)

    def receive_invitation(
        self, mailbox: str, event: dict[str, Any], organizer_mail: str, organizer_name: str = ""
    ) -> dict[str, Any]:
        """A meeting someone else organises lands in this mailbox (isOrganizer false); no message is sent."""
        from simulators.graph import calendar

        with self.lock:
            mb = self._mailbox_or_raise(mailbox)
            inst, _created = calendar.create_event(self, mb, event, notify=False)
            inst.master.invited_by = (organizer_mail, organizer_name or organizer_mail)
            return calendar.inspect(mb, inst)

    def add_message(self, mailbox: str, message: dict[str, Any], folder: str = "inbox") -> dict[str, Any]:
        """Deliver a message into a folder (id or well-known name); returns its JSON (immutable id)."""
        from simulators.graph import messages_store as mail

        with self.lock:
            mb = self._mailbox_or_raise(mailbox)
            stored = mail.add_message(self, mb, folder, message)
            everything = mail.Render(ext_filter=lambda _p: True)
            return mail.render_message(mail.store_for(self, mb), stored, everything)

    def add_mail_folder(self, mailbox: str, display_name: str, parent: str | None = None) -> str:
        """Create a mail folder (under `parent`, default the top of the mailbox); returns its id."""
        from simulators.graph import messages_store as mail

        with self.lock:
            mb = self._mailbox_or_raise(mailbox)
            return mail.folder_id(mail.add_folder(self, mb, parent, display_name))

    def messages(self, mailbox: str) -> list[dict[str, Any]]:
        """Stored messages with all their extended properties (body as stored)."""
        from simulators.graph import messages_store as mail

        with self.lock:
            mb = self._mailbox_or_raise(mailbox)
            store = mail.store_for(self, mb)
            opts = mail.Render(ext_filter=lambda _p: True)
            return [mail.render_message(store, m, opts) for m in store.messages.values()]

    def copy_message(self, mailbox: str, message_id: str, folder: str) -> dict[str, Any]:
        from simulators.graph import messages_store as mail

        with self.lock:
            mb = self._mailbox_or_raise(mailbox)
            copied = mail.copy_message(self, mb, message_id, folder)
            everything = mail.Render(ext_filter=lambda _p: True)
            return mail.render_message(mail.store_for(self, mb), copied, everything)

    def update_message(self, mailbox: str, message_id: str, patch: dict[str, Any]) -> None:
        """A user edit in Outlook (categories, read state, ...); not counted as a product PATCH."""
        from simulators.graph import messages_store as mail

        with self.lock:
            mb = self._mailbox_or_raise(mailbox)
            mail.patch_message(self, mb, message_id, patch)
            mail.store_for(self, mb).patches.pop()

    def message_patches(self, mailbox: str) -> list[dict[str, Any]]:
        """Bodies of the PATCH requests the message endpoint received for this mailbox."""
        from simulators.graph import messages_store as mail

        with self.lock:
            return list(mail.store_for(self, self._mailbox_or_raise(mailbox)).patches)

    # ---- inspection and "user edits in Outlook" ---------------------------------------------------------

    def events(self, mailbox: str) -> list[dict[str, Any]]:
        """Stored events (single events and series masters) with all their extended properties."""
        from simulators.graph import calendar

        with self.lock:
            mb = self._mailbox_or_raise(mailbox)
            return [calendar.inspect(mb, calendar.whole(ev)) for ev in mb.events.values()]

    def get_event(self, mailbox: str, event_id: str) -> dict[str, Any] | None:
        from simulators.graph import calendar, events

        with self.lock:
            mb = self._mailbox_or_raise(mailbox)
            ref = ids.decode(event_id)
            inst = events.find(mb, ref) if ref else None
            return calendar.inspect(mb, inst) if inst else None

    def exchange_ids(self, mailbox: str, event_id: str) -> dict[str, str]:
        """The event's id in every Exchange format (exchange_ids.py), e.g. to seed a predecessor's links."""
        from simulators.graph import exchange_ids

        with self.lock:
            return exchange_ids.all_formats(self._mailbox_or_raise(mailbox), event_id)

    def update_event(self, mailbox: str, event_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        from simulators.graph import calendar

        with self.lock:
            mb = self._mailbox_or_raise(mailbox)
            inst = calendar.update_event(self, mb, event_id, patch)
            return calendar.inspect(mb, inst)

    def delete_event(self, mailbox: str, event_id: str) -> None:
        from simulators.graph import calendar

        with self.lock:
            calendar.delete_event(self, self._mailbox_or_raise(mailbox), event_id)

    # ---- fault injection -------------------------------------------------------------------------------

    def expire_delta_tokens(self, mailbox: str) -> None:
        """Every delta/skip token issued so far for this mailbox answers 410 SyncStateNotFound from now on."""
        with self.lock:
            self._mailbox_or_raise(mailbox).sync_generation += 1

    def throttle_next(self, mailbox: str, count: int, retry_after: float = 1.0) -> None:
        """The next `count` requests for this mailbox get 429 with Retry-After `retry_after` seconds."""
        with self.lock:
            self._throttle[self._mailbox_or_raise(mailbox).user.id.lower()] = (count, retry_after)

    def hold_requests(self, mailbox: str) -> None:
        """Requests for this mailbox stay in flight (holding a concurrency slot) until release_requests."""
        with self.lock:
            self._holds[self._mailbox_or_raise(mailbox).user.id.lower()] = threading.Event()

    def release_requests(self, mailbox: str) -> None:
        with self.lock:
            hold = self._holds.pop(self._mailbox_or_raise(mailbox).user.id.lower(), None)
        if hold is not None:
            hold.set()

    def in_flight(self, mailbox: str) -> int:
        with self.lock:
            return self._in_flight.get(self._mailbox_or_raise(mailbox).user.id.lower(), 0)

    # ---- used by the HTTP layer --------------------------------------------------------------------------

    def new_key(self, purpose: str = "item") -> bytes:
        with self.lock:
            self._counter += 1
            return ids.new_key(f"graph-stand-in:{purpose}:{self._counter}")

    def find_mailbox(self, id_or_mail: str) -> Mailbox | None:
        with self.lock:
            user = self._find_user(id_or_mail)
            return self.mailboxes[user.id.lower()] if user else None

    def take_injected_throttle(self, mailbox: Mailbox) -> float | None:
        """Consume one injected 429 for the mailbox; returns its Retry-After or None."""
        with self.lock:
            key = mailbox.user.id.lower()
            count, retry_after = self._throttle.get(key, (0, 0.0))
            if count <= 0:
                return None
            self._throttle[key] = (count - 1, retry_after)
            return retry_after

    def take_rate_slot(self, mailbox: Mailbox) -> float | None:
        """Count one request against the mailbox's rate limit; over it, the seconds until a slot frees."""
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        with self.lock:
            recent = self._recent.setdefault(mailbox.user.id.lower(), deque())
            while recent and recent[0] <= now - self.rate_window:
                recent.popleft()
            if len(recent) >= self.rate_limit:
                return max(recent[0] + self.rate_window - now, 0.001)
            recent.append(now)
            return None

    def try_acquire(self, mailbox: Mailbox) -> bool:
        with self.lock:
            key = mailbox.user.id.lower()
            if self._in_flight.get(key, 0) >= self.max_concurrent_per_mailbox:
                return False
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            return True

    def offer(self, mailbox: Mailbox, change: int) -> None:
        with self.lock:
            key = mailbox.user.mail.lower()
            now = self._offered[key] = self._offered.get(key, 0) + change
            self.offered_peak[key] = max(self.offered_peak.get(key, 0), now)

    def release(self, mailbox: Mailbox) -> None:
        with self.lock:
            key = mailbox.user.id.lower()
            self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)

    def hold_for(self, mailbox: Mailbox) -> threading.Event | None:
        with self.lock:
            return self._holds.get(mailbox.user.id.lower())

    def _find_user(self, id_or_mail: str) -> User | None:
        key = id_or_mail.lower()
        if key in self.users:
            return self.users[key]
        return next((u for u in self.users.values() if u.mail.lower() == key), None)

    def _mailbox_or_raise(self, id_or_mail: str) -> Mailbox:
        mb = self.find_mailbox(id_or_mail)
        if mb is None:
            raise KeyError("no such mailbox")
        return mb
