"""What the chaos test expects: the pairs it knows (seeded and made by its edits), random edits on both sides
as people make them (through the stand-ins' Python APIs, never over HTTP, so they are not product requests),
and the checks of the end state."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from simulators.graph import contacts as graph_contacts
from simulators.sample_contacts import PRIVATE_FOLDER, SHARED_FOLDER, SHARED_MAILBOX
from simulators.sample_data import CATEGORY, COMPANY
from simulators.sample_email import IMPORT
from simulators.sample_tasks import OWNERS
from sync_core.runtime.keys import stamp_of
from tests.chaos.harness import ChaosTenant

ALICE, BOB, CAROL = "alice@contoso.com", "bob@contoso.com", "carol@contoso.com"
WORKER_OF = {ALICE: "000101", BOB: "000102", CAROL: "000103"}
MAILBOX_OF = {number: mailbox for mailbox, number in WORKER_OF.items()}
IMPORTED, IMPORT_FAILED = "D365 Imported", "D365 Import failed"
NORTH_PARTY_DISTRICT = "NORTH"  # the sample shared list North takes contacts of NORTH customers

Kind = Literal["appointment", "task", "contact"]
Side = Literal["fno", "outlook"]


def fno_key(number: str) -> str:
    return f"{COMPANY}|{number}"


def _fno_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _graph_time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


@dataclass
class Pair:
    """An item the test follows: created on `origin`, edited on `edit_side` only (an edit on both sides of
    one pair between two cycles is a conflict the policy decides; this test is about losing, not deciding).
    `text` is what both sides must show at the end: the subject (appointments), title (tasks) or job title
    (contacts)."""

    kind: Kind
    origin: Side
    mailbox: str
    label: str
    text: str
    number: str | None = None  # ActivityNumber / ContactPersonId when made in F&O
    graph_id: str | None = None  # event, To Do task or contact id when made in Outlook
    list_id: str | None = None  # To Do list of an Outlook task
    edit_side: Side | None = None
    deleted: bool = False
    can_delete: bool = True  # past appointments and completed tasks are only unlinked: not deleted here

    def describe(self) -> str:
        where = self.number or (self.graph_id or "")[:16]
        return f"{self.kind} {self.label!r} ({self.origin} {where}, {self.mailbox})"


# -- reading both sides -------------------------------------------------------------------------------------


def _todo_stamp(task: dict[str, Any]) -> str | None:
    for resource in task.get("linkedResources") or []:
        value = resource.get("externalId")
        if isinstance(value, str) and value.startswith(f"{COMPANY}|"):
            return value
    return None


def _activities(tenant: ChaosTenant, category: str) -> list[dict[str, Any]]:
    return [a for a in tenant.fno.all("Activities") if a.get("Category") == category]


def _activity(tenant: ChaosTenant, number: str) -> dict[str, Any] | None:
    return tenant.fno.get("Activities", {"dataAreaId": COMPANY, "ActivityNumber": number})


def _person(tenant: ChaosTenant, contact_id: str) -> dict[str, Any] | None:
    return tenant.fno.get("ContactPersons", {"dataAreaId": COMPANY, "ContactPersonId": contact_id})


def _private(tenant: ChaosTenant, mailbox: str) -> list[dict[str, Any]]:
    return graph_contacts.list_contacts(tenant.graph, mailbox, PRIVATE_FOLDER)


def _outlook_item(tenant: ChaosTenant, pair: Pair) -> dict[str, Any] | None:
    """The Outlook side of a pair: by id if it was made in Outlook, else by the product's stamp (the first)."""
    if pair.kind == "appointment":
        events = tenant.graph.events(pair.mailbox)
        if pair.graph_id is not None:
            return next((e for e in events if e["id"] == pair.graph_id), None)
        assert pair.number is not None
        return next((e for e in events if stamp_of(e) == fno_key(pair.number)), None)
    if pair.kind == "task":
        tasks = tenant.graph.todo.tasks(pair.mailbox)
        if pair.graph_id is not None:
            return next((t for t in tasks if t["id"] == pair.graph_id), None)
        assert pair.number is not None
        return next((t for t in tasks if _todo_stamp(t) == fno_key(pair.number)), None)
    contacts = _private(tenant, pair.mailbox)
    if pair.graph_id is not None:
        return next((c for c in contacts if c["id"] == pair.graph_id), None)
    assert pair.number is not None
    return next((c for c in contacts if stamp_of(c) == fno_key(pair.number)), None)


def _fno_item(tenant: ChaosTenant, pair: Pair) -> dict[str, Any] | None:
    """The F&O side of a pair: by number if it was made in F&O, else through the Outlook side's link."""
    if pair.number is not None:
        return _person(tenant, pair.number) if pair.kind == "contact" else _activity(tenant, pair.number)
    assert pair.graph_id is not None
    if pair.kind == "contact":
        contact = _outlook_item(tenant, pair)
        stamp = stamp_of(contact) if contact is not None else None
        return _person(tenant, stamp.partition("|")[2]) if stamp else None
    entry = pair.graph_id if pair.kind == "appointment" else f"todo:{pair.graph_id}"
    return next((a for a in tenant.fno.all("Activities") if a.get("OutlookEntryId") == entry), None)


def _outlook_text(pair: Pair, item: dict[str, Any]) -> str:
    if pair.kind == "appointment":
        return str(item.get("subject") or "")
    if pair.kind == "task":
        return str(item.get("title") or "")
    return str(item.get("jobTitle") or "")


def _fno_text(pair: Pair, row: dict[str, Any]) -> str:
    return str(row.get("EmploymentJobTitle" if pair.kind == "contact" else "Purpose") or "")


# -- the world: pairs and edits ------------------------------------------------------------------------------


@dataclass
class World:
    tenant: ChaosTenant
    rng: random.Random
    seed: int
    pairs: list[Pair] = field(default_factory=list)
    edits_made: int = 0
    messages: list[tuple[str, str]] = field(default_factory=list)  # (mailbox, internetMessageId) made here
    errand_marked: bool = False
    _counter: int = 0

    @classmethod
    def seeded(cls, tenant: ChaosTenant, rng: random.Random, seed: int) -> World:
        world = cls(tenant, rng, seed)
        h, tasks, contacts = tenant.handles, tenant.handles["tasks"], tenant.handles["contacts"]

        def fno_pair(kind: Kind, handle: str, mailbox: str, **extra: Any) -> None:
            row = _person(tenant, handle) if kind == "contact" else _activity(tenant, handle)
            assert row is not None
            text = _fno_text(Pair(kind, "fno", mailbox, "", ""), row)
            world.pairs.append(Pair(kind, "fno", mailbox, text or handle, text, number=handle, **extra))

        for handle, mailbox in (("review", ALICE), ("offsite", ALICE), ("pricing", BOB), ("kickoff", CAROL)):
            fno_pair("appointment", h[handle], mailbox)
        fno_pair("appointment", h["past"], ALICE, can_delete=False)
        for handle, mailbox in (("task_quote", ALICE), ("task_callback", BOB), ("task_demo", CAROL)):
            fno_pair("task", tasks[handle], mailbox)
        fno_pair("task", tasks["task_rooms"], ALICE, can_delete=False)
        for contact_id, mailbox in (("CP-0001", ALICE), ("CP-0002", ALICE), ("CP-0003", BOB)):
            fno_pair("contact", contact_id, mailbox, can_delete=False)
        for handle, mailbox in (("lunch", ALICE), ("demo", CAROL)):
            event = tenant.graph.get_event(mailbox, h[handle])
            assert event is not None
            world.pairs.append(
                Pair(
                    "appointment", "outlook", mailbox, event["subject"], event["subject"], graph_id=h[handle]
                )
            )
        for handle, mailbox in (("todo_renewal", ALICE), ("todo_samples", CAROL)):
            [task] = [t for t in tenant.graph.todo.tasks(mailbox) if t["id"] == tasks[handle]]
            world.pairs.append(
                Pair(
                    "task",
                    "outlook",
                    mailbox,
                    task["title"],
                    task["title"],
                    graph_id=task["id"],
                    list_id=task["listId"],
                )
            )
        [priya] = [c for c in _private(tenant, ALICE) if c["id"] == contacts["priya"]]
        world.pairs.append(
            Pair(
                "contact",
                "outlook",
                ALICE,
                "Priya Patel",
                str(priya.get("jobTitle") or ""),
                graph_id=priya["id"],
                can_delete=False,
            )
        )
        return world

    # ---- edits -------------------------------------------------------------------------------------------

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _text(self, what: str) -> str:
        return f"Chaos {self.seed}.{self._next()} {what}"

    def _future(self) -> datetime:
        day = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        return day + timedelta(days=self.rng.randint(1, 60), hours=self.rng.randint(0, 8))

    def edit_round(self, count: int) -> list[str]:
        """`count` random edits on both sides; returns what was done (for the summary)."""
        done: list[str] = []
        edits: list[tuple[int, Callable[[], str | None]]] = [
            (3, self.new_event),
            (3, self.new_fno_appointment),
            (2, self.new_todo),
            (2, self.new_fno_task),
            (1, self.mark_errand),
            (1, self.new_fno_contact),
            (1, self.new_outlook_contact),
            (1, self.new_mail),
            (8, self.edit_text),
            (1, self.delete_one),
        ]
        weights = [w for w, _ in edits]
        attempts = 0
        while len(done) < count and attempts < count * 10:
            attempts += 1
            [(_, edit)] = self.rng.choices(edits, weights=weights)
            what = edit()
            if what is not None:
                done.append(what)
                self.edits_made += 1
        return done

    def new_event(self) -> str:
        mailbox = self.rng.choice([ALICE, BOB, CAROL])
        subject, start = self._text("meeting (Outlook)"), self._future()
        event = self.tenant.graph.add_event(
            mailbox,
            {
                "subject": subject,
                "start": _graph_time(start),
                "end": _graph_time(start + timedelta(hours=1)),
                "categories": [CATEGORY],
            },
        )
        self.pairs.append(Pair("appointment", "outlook", mailbox, subject, subject, graph_id=event["id"]))
        return f"new marked event {subject!r} in {mailbox}"

    def new_fno_appointment(self) -> str:
        mailbox = self.rng.choice([ALICE, BOB, CAROL])
        purpose, start = self._text("appointment (F&O)"), self._future()
        row = self.tenant.fno.add(
            "Activities",
            {
                "dataAreaId": COMPANY,
                "Category": "Appointment",
                "Purpose": purpose,
                "StartDateTime": _fno_time(start),
                "EndDateTime": _fno_time(start + timedelta(hours=1)),
                "ResponsibleWorkerPersonnelNumber": WORKER_OF[mailbox],
                "KeepSynchronized": "Yes",
                "AllDay": "No",
            },
        )
        number = str(row["ActivityNumber"])
        self.pairs.append(Pair("appointment", "fno", mailbox, purpose, purpose, number=number))
        return f"new F&O appointment {number} {purpose!r} for {mailbox}"

    def new_todo(self) -> str:
        mailbox = self.rng.choice([ALICE, BOB, CAROL])
        title = self._text("to-do (To Do)")
        due = (datetime.now(UTC) + timedelta(days=self.rng.randint(1, 20))).date()
        task = self.tenant.graph.todo.add_task(
            mailbox,
            {
                "title": title,
                "categories": [CATEGORY],
                "dueDateTime": {
                    "dateTime": f"{due.isoformat()}T00:00:00.0000000",
                    "timeZone": OWNERS[mailbox][1],
                },
            },
        )
        list_id = self.tenant.graph.todo.default_list_id(mailbox)
        self.pairs.append(
            Pair("task", "outlook", mailbox, title, title, graph_id=task["id"], list_id=list_id)
        )
        return f"new marked To Do task {title!r} in {mailbox}"

    def new_fno_task(self) -> str:
        mailbox = self.rng.choice([ALICE, BOB, CAROL])
        purpose, due = self._text("task (F&O)"), self._future()
        row = self.tenant.fno.add(
            "Activities",
            {
                "dataAreaId": COMPANY,
                "Category": "Task",
                "Purpose": purpose,
                "StartDateTime": _fno_time(due - timedelta(days=1)),
                "EndDateTime": _fno_time(due),
                "ResponsibleWorkerPersonnelNumber": WORKER_OF[mailbox],
                "KeepSynchronized": "Yes",
                "ActivityStatus": "NotStarted",
                "Priority": "Normal",
            },
        )
        number = str(row["ActivityNumber"])
        self.pairs.append(Pair("task", "fno", mailbox, purpose, purpose, number=number))
        return f"new F&O task {number} {purpose!r} for {mailbox}"

    def mark_errand(self) -> str | None:
        if self.errand_marked:
            return None
        task_id = self.tenant.handles["tasks"]["todo_errand"]
        [task] = [t for t in self.tenant.graph.todo.tasks(BOB) if t["id"] == task_id]
        self.tenant.graph.todo.update_task(BOB, task["listId"], task_id, {"categories": [CATEGORY]})
        self.errand_marked = True
        self.pairs.append(
            Pair(
                "task", "outlook", BOB, task["title"], task["title"], graph_id=task_id, list_id=task["listId"]
            )
        )
        return f"marked To Do task {task['title']!r} in {BOB}"

    def new_fno_contact(self) -> str:
        mailbox = self.rng.choice([ALICE, BOB])
        n = self._next()
        contact_id, job = f"CP-9{self.seed % 100:02d}{n:03d}", f"Buyer {self.seed}.{n}"
        party = self.rng.choice(["000000101", "000000201"])  # Fabrikam (on the shared list North) or Litware
        self.tenant.fno.add(
            "ContactPersons",
            {
                "dataAreaId": COMPANY,
                "ContactPersonId": contact_id,
                "FirstName": "Chaos",
                "LastName": f"Person{self.seed}x{n}",
                "PrimaryEmailAddress": f"chaos.{self.seed}.{n}@fabrikam.com",
                "EmploymentJobTitle": job,
                "AssociatedPartyNumber": party,
                "ContactPersonResponsiblePersonnelNumber": WORKER_OF[mailbox],
                "MicrosoftOutlookCategories": CATEGORY,
            },
        )
        self.pairs.append(
            Pair(
                "contact",
                "fno",
                mailbox,
                f"Chaos Person{self.seed}x{n}",
                job,
                number=contact_id,
                can_delete=False,
            )
        )
        return f"new F&O contact person {contact_id} for {mailbox}"

    def new_outlook_contact(self) -> str:
        n = self._next()
        job = f"Manager {self.seed}.{n}"
        contact = graph_contacts.seed_contact(
            self.tenant.graph,
            ALICE,
            {
                "givenName": "Chaos",
                "surname": f"Outlook{self.seed}x{n}",
                "companyName": "Fabrikam Retail",
                "jobTitle": job,
                "emailAddresses": [{"address": f"outlook.{self.seed}.{n}@fabrikam.com"}],
            },
            folder=PRIVATE_FOLDER,
        )
        label = f"Chaos Outlook{self.seed}x{n}"
        self.pairs.append(
            Pair("contact", "outlook", ALICE, label, job, graph_id=contact["id"], can_delete=False)
        )
        return f"new Outlook contact {label!r} in {ALICE}"

    def new_mail(self) -> str:
        mailbox = self.rng.choice([ALICE, CAROL])
        n = self._next()
        message_id = f"<chaos-{self.seed}-{n}@fabrikam.com>"
        sender = {"emailAddress": {"address": "jane.o'brien@fabrikam.com", "name": "Jane O'Brien"}}
        self.tenant.graph.add_message(
            mailbox,
            {
                "subject": f"Chaos mail {self.seed}.{n}",
                "internetMessageId": message_id,
                "body": {"contentType": "text", "content": "Please confirm."},
                "sender": sender,
                "from": sender,
                "toRecipients": [{"emailAddress": {"address": mailbox}}],
                "receivedDateTime": _fno_time(datetime.now(UTC)),
                "categories": [IMPORT],
            },
        )
        self.messages.append((mailbox, message_id))
        return f"new e-mail {message_id} marked for import in {mailbox}"

    def edit_text(self) -> str | None:
        live = [p for p in self.pairs if not p.deleted]
        pair = self.rng.choice(live)
        side: Side = pair.edit_side or ("fno" if self.rng.random() < 0.5 else "outlook")
        text = self._text({"appointment": "subject", "task": "title", "contact": "job"}[pair.kind])
        if side == "fno":
            row = _fno_item(self.tenant, pair)
            if row is None:
                return None  # not in F&O yet: edit it later
            if pair.kind == "contact":
                key = {"dataAreaId": COMPANY, "ContactPersonId": row["ContactPersonId"]}
                self.tenant.fno.update("ContactPersons", key, {"EmploymentJobTitle": text})
            else:
                key = {"dataAreaId": COMPANY, "ActivityNumber": row["ActivityNumber"]}
                self.tenant.fno.update("Activities", key, {"Purpose": text})
        else:
            item = _outlook_item(self.tenant, pair)
            if item is None:
                return None  # not in Outlook yet
            if pair.kind == "appointment":
                self.tenant.graph.update_event(pair.mailbox, item["id"], {"subject": text})
            elif pair.kind == "task":
                self.tenant.graph.todo.update_task(pair.mailbox, item["listId"], item["id"], {"title": text})
            else:
                graph_contacts.user_update_contact(
                    self.tenant.graph, pair.mailbox, item["id"], {"jobTitle": text}
                )
        pair.edit_side, pair.text = side, text
        return f"{side} edit of {pair.describe()} to {text!r}"

    def delete_one(self) -> str | None:
        candidates = [p for p in self.pairs if not p.deleted and p.can_delete]
        if not candidates:
            return None
        pair = self.rng.choice(candidates)
        side = pair.edit_side or pair.origin
        if side == "fno":
            row = _fno_item(self.tenant, pair)
            if row is None:
                return None
            self.tenant.fno.delete(
                "Activities", {"dataAreaId": COMPANY, "ActivityNumber": row["ActivityNumber"]}
            )
        else:
            item = _outlook_item(self.tenant, pair)
            if item is None:
                return None
            if pair.kind == "appointment":
                self.tenant.graph.delete_event(pair.mailbox, item["id"])
            else:
                self.tenant.graph.todo.delete_task(pair.mailbox, item["listId"], item["id"])
        pair.deleted = True
        return f"deleted in {side}: {pair.describe()}"

    # ---- checks --------------------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Everything that is wrong with the end state (empty: all is well)."""
        return [
            *self.check_pairs(),
            *check_appointments(self.tenant),
            *check_tasks(self.tenant),
            *check_contacts(self.tenant),
            *check_email(self.tenant),
        ]

    def check_pairs(self) -> list[str]:
        problems: list[str] = []
        for pair in self.pairs:
            outlook, fno = _outlook_item(self.tenant, pair), _fno_item(self.tenant, pair)
            if pair.deleted:
                if outlook is not None:
                    problems.append(
                        f"deleted {pair.describe()} is still in Outlook ({_outlook_text(pair, outlook)!r})"
                    )
                if fno is not None:
                    problems.append(f"deleted {pair.describe()} is still in F&O ({_fno_text(pair, fno)!r})")
                continue
            if outlook is None:
                problems.append(f"{pair.describe()} is missing in Outlook")
            elif _outlook_text(pair, outlook) != pair.text:
                problems.append(
                    f"{pair.describe()}: Outlook shows {_outlook_text(pair, outlook)!r}, expected {pair.text!r}"
                    f" ({'edit lost' if pair.edit_side == 'fno' else 'edit overwritten'})"
                )
            if fno is None:
                problems.append(f"{pair.describe()} is missing in F&O")
            elif _fno_text(pair, fno) != pair.text:
                problems.append(
                    f"{pair.describe()}: F&O shows {_fno_text(pair, fno)!r}, expected {pair.text!r}"
                    f" ({'edit lost' if pair.edit_side == 'outlook' else 'edit overwritten'})"
                )
        return problems

    def sanity(self) -> list[str]:
        """The test itself did something: edits were made and the end state holds what they made."""
        problems = []
        if self.edits_made == 0:
            problems.append("no edit was made")
        if len(self.pairs) < 17:  # the seeded ones
            problems.append(f"only {len(self.pairs)} pairs followed")
        return problems


# -- invariants over the whole end state -------------------------------------------------------------------


def _dupes(counter: Counter[Any]) -> list[Any]:
    return sorted((value for value, n in counter.items() if n > 1), key=str)


def _in_scope(row: dict[str, Any]) -> bool:
    return row.get("KeepSynchronized") == "Yes" and row.get("ResponsibleWorkerPersonnelNumber") in MAILBOX_OF


def check_appointments(tenant: ChaosTenant) -> list[str]:
    problems: list[str] = []
    rows = _activities(tenant, "Appointment")
    by_key = {fno_key(str(a["ActivityNumber"])): a for a in rows}
    for purpose in _dupes(Counter(str(a.get("Purpose")) for a in rows)):
        numbers = [a["ActivityNumber"] for a in rows if a.get("Purpose") == purpose]
        problems.append(f"appointment: {len(numbers)} F&O activities {purpose!r}: {numbers}")
    events = {mailbox: tenant.graph.events(mailbox) for mailbox in WORKER_OF}
    for mailbox, found in events.items():
        for key in _dupes(Counter(stamp_of(e) for e in found if stamp_of(e))):
            subjects = [e["subject"] for e in found if stamp_of(e) == key]
            problems.append(f"appointment: {len(subjects)} events in {mailbox} stamped {key}: {subjects}")
        for subject in _dupes(Counter(str(e.get("subject")) for e in found)):
            stamps = [stamp_of(e) for e in found if e.get("subject") == subject]
            problems.append(f"appointment: {len(stamps)} events {subject!r} in {mailbox} (stamps {stamps})")
        for event in found:
            if CATEGORY not in (event.get("categories") or []):
                continue
            key = stamp_of(event)
            if key is None:
                problems.append(
                    f"appointment: marked event {event['subject']!r} in {mailbox} never linked (no stamp)"
                )
            elif key not in by_key:
                problems.append(
                    f"appointment: event {event['subject']!r} in {mailbox} stamped {key}, no such activity"
                )
            elif by_key[key].get("Purpose") != event.get("subject"):
                problems.append(
                    f"appointment: {key} is {by_key[key].get('Purpose')!r} in F&O, {event.get('subject')!r} in Outlook"
                )
    for row in rows:
        if not _in_scope(row):
            continue
        key, mailbox = (
            fno_key(str(row["ActivityNumber"])),
            MAILBOX_OF[str(row["ResponsibleWorkerPersonnelNumber"])],
        )
        stamped = [e for e in events[mailbox] if stamp_of(e) == key]
        if not stamped:
            problems.append(f"appointment: {key} {row.get('Purpose')!r} has no event in {mailbox}")
        entry = row.get("OutlookEntryId") or ""
        if entry:
            target = next((e for e in events[mailbox] if e["id"] == entry), None)
            if target is None:
                problems.append(
                    f"appointment: {key} {row.get('Purpose')!r} points at an event {mailbox} lacks"
                )
            elif stamp_of(target) != key:
                problems.append(
                    f"appointment: {key} {row.get('Purpose')!r} points at event {target['subject']!r}, "
                    f"which is stamped {stamp_of(target)}"
                )
    return problems


def check_tasks(tenant: ChaosTenant) -> list[str]:
    problems: list[str] = []
    rows = _activities(tenant, "Task")
    by_key = {fno_key(str(a["ActivityNumber"])): a for a in rows}
    for purpose in _dupes(Counter(str(a.get("Purpose")) for a in rows)):
        numbers = [a["ActivityNumber"] for a in rows if a.get("Purpose") == purpose]
        problems.append(f"task: {len(numbers)} F&O task activities {purpose!r}: {numbers}")
    tasks = {mailbox: tenant.graph.todo.tasks(mailbox) for mailbox in WORKER_OF}
    for mailbox, found in tasks.items():
        for key in _dupes(Counter(_todo_stamp(t) for t in found if _todo_stamp(t))):
            titles = [t["title"] for t in found if _todo_stamp(t) == key]
            problems.append(f"task: {len(titles)} To Do tasks in {mailbox} linked to {key}: {titles}")
        for title in _dupes(Counter(str(t.get("title")) for t in found)):
            problems.append(
                f"task: {sum(t.get('title') == title for t in found)} To Do tasks {title!r} in {mailbox}"
            )
        for task in found:
            if CATEGORY not in (task.get("categories") or []):
                continue
            key = _todo_stamp(task)
            if key is None:
                problems.append(f"task: marked To Do task {task['title']!r} in {mailbox} never linked")
            elif key not in by_key:
                problems.append(
                    f"task: To Do task {task['title']!r} in {mailbox} linked to {key}, no such activity"
                )
            elif by_key[key].get("Purpose") != task.get("title"):
                problems.append(
                    f"task: {key} is {by_key[key].get('Purpose')!r} in F&O, {task.get('title')!r} in To Do"
                )
    for row in rows:
        if not _in_scope(row):
            continue
        key, mailbox = (
            fno_key(str(row["ActivityNumber"])),
            MAILBOX_OF[str(row["ResponsibleWorkerPersonnelNumber"])],
        )
        if not any(_todo_stamp(t) == key for t in tasks[mailbox]):
            problems.append(f"task: {key} {row.get('Purpose')!r} has no To Do task in {mailbox}")
        entry = str(row.get("OutlookEntryId") or "")
        if entry.startswith("todo:"):
            target = next((t for t in tasks[mailbox] if t["id"] == entry[5:]), None)
            if target is None:
                problems.append(f"task: {key} {row.get('Purpose')!r} points at a To Do task {mailbox} lacks")
            elif _todo_stamp(target) != key:
                problems.append(
                    f"task: {key} {row.get('Purpose')!r} points at To Do task {target['title']!r}, "
                    f"which is linked to {_todo_stamp(target)}"
                )
    return problems


def _same_person(contact: dict[str, Any], person: dict[str, Any]) -> list[str]:
    differences = []
    for graph_name, fno_name in (
        ("givenName", "FirstName"),
        ("surname", "LastName"),
        ("jobTitle", "EmploymentJobTitle"),
    ):
        if str(contact.get(graph_name) or "") != str(person.get(fno_name) or ""):
            differences.append(
                f"{graph_name} {contact.get(graph_name)!r} vs {fno_name} {person.get(fno_name)!r}"
            )
    return differences


def check_contacts(tenant: ChaosTenant) -> list[str]:
    problems: list[str] = []
    people = tenant.fno.all("ContactPersons")
    by_key = {fno_key(str(p["ContactPersonId"])): p for p in people}
    for name in _dupes(Counter((str(p.get("FirstName")), str(p.get("LastName"))) for p in people)):
        ids = [p["ContactPersonId"] for p in people if (p.get("FirstName"), p.get("LastName")) == name]
        problems.append(f"contact: {len(ids)} F&O contact persons named {' '.join(name)!r}: {ids}")
    north = {
        str(c.get("PartyNumber"))
        for c in tenant.fno.all("CustomersV3")
        if c.get("SalesDistrict") == NORTH_PARTY_DISTRICT
    }
    folders = {mailbox: _private(tenant, mailbox) for mailbox in WORKER_OF}
    folders[SHARED_MAILBOX] = graph_contacts.list_contacts(tenant.graph, SHARED_MAILBOX, SHARED_FOLDER)
    for mailbox, found in folders.items():
        for key in _dupes(Counter(stamp_of(c) for c in found if stamp_of(c))):
            problems.append(
                f"contact: {sum(stamp_of(c) == key for c in found)} contacts in {mailbox} stamped {key}"
            )
        for name in _dupes(Counter(str(c.get("displayName")) for c in found)):
            problems.append(
                f"contact: {sum(c.get('displayName') == name for c in found)} contacts {name!r} in {mailbox}"
            )
        for contact in found:
            key = stamp_of(contact)
            if key is None:
                problems.append(
                    f"contact: {contact.get('displayName')!r} in {mailbox} never linked (no stamp)"
                )
            elif key not in by_key:
                problems.append(
                    f"contact: {contact.get('displayName')!r} in {mailbox} stamped {key}, no such person"
                )
            else:
                for difference in _same_person(contact, by_key[key]):
                    problems.append(f"contact: {key} in {mailbox}: {difference}")
    for person in people:
        key = fno_key(str(person["ContactPersonId"]))
        owner = MAILBOX_OF.get(str(person.get("ContactPersonResponsiblePersonnelNumber") or ""))
        marked = CATEGORY in str(person.get("MicrosoftOutlookCategories") or "")
        if owner is not None and marked and not any(stamp_of(c) == key for c in folders[owner]):
            problems.append(f"contact: {key} ({person.get('LastName')}) is not on {owner}'s list")
        listed = str(person.get("AssociatedPartyNumber")) in north and person.get("IsInactive") != "Yes"
        if listed and not any(stamp_of(c) == key for c in folders[SHARED_MAILBOX]):
            problems.append(f"contact: {key} ({person.get('LastName')}) is not on the shared list North")
    return problems


def check_email(tenant: ChaosTenant) -> list[str]:
    problems: list[str] = []
    imported = Counter(str(a.get("OutlookEntryId")) for a in _activities(tenant, "Event"))
    for mailbox in WORKER_OF:
        for message in tenant.graph.messages(mailbox):
            categories = message.get("categories") or []
            if not {IMPORT, IMPORTED, IMPORT_FAILED} & set(categories):
                continue
            message_id = str(message.get("internetMessageId"))
            if IMPORT in categories or IMPORT_FAILED in categories:
                problems.append(f"email: {message_id} in {mailbox} still marked {categories}")
            if imported[message_id] != 1:
                problems.append(
                    f"email: {message_id} in {mailbox} became {imported[message_id]} F&O activities"
                )
    for entry in _dupes(
        Counter(str(a.get("OutlookEntryId")) for a in tenant.fno.all("Activities") if a.get("OutlookEntryId"))
    ):
        numbers = [
            a["ActivityNumber"] for a in tenant.fno.all("Activities") if a.get("OutlookEntryId") == entry
        ]
        problems.append(f"{len(numbers)} F&O activities carry OutlookEntryId {entry[:40]}: {numbers}")
    return problems
