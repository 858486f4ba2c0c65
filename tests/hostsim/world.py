"""What the sample tenant must look like after the sync converged, and random edits that keep that model
true: renames of appointments and tasks, job titles of contacts, new items on both sides.

Each item is edited on one side only (its home side) for the whole run, so the expected value does not
depend on the conflict policy however late a change arrives. Items are told apart by their title (subject,
purpose, title or name): every title is unique, so a title seen twice on one side is a duplicate."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.graph import contacts
from simulators.sample_contacts import PRIVATE_FOLDER, SHARED_FOLDER, SHARED_MAILBOX
from simulators.sample_data import CATEGORY, COMPANY
from tests.e2e.harness import Tenant

MAILBOXES = {"alice@contoso.com": "000101", "bob@contoso.com": "000102", "carol@contoso.com": "000103"}
MAILBOX_OF = {worker: mailbox for mailbox, worker in MAILBOXES.items()}
ZONES = {
    "alice@contoso.com": "W. Europe Standard Time",
    "bob@contoso.com": "Hawaiian Standard Time",
    "carol@contoso.com": "Tonga Standard Time",
}
# The sample tenant's synced items once converged (what a clean first sync of the seed gives).
SEEDED: dict[str, dict[str, tuple[str, ...]]] = {
    "appointment": {
        "alice@contoso.com": (
            "Quarterly review with Fabrikam",
            "Sales offsite",
            "Last month's visit",
            "Lunch with Litware",
        ),
        "bob@contoso.com": ("Pricing call with Litware",),
        "carol@contoso.com": ("Project kick-off", "Demo for Tailspin"),
    },
    "task": {
        "alice@contoso.com": ("Send quote to Fabrikam", "Book meeting rooms", "Check contract renewal"),
        "bob@contoso.com": ("Call back Litware",),
        "carol@contoso.com": ("Prepare Tailspin demo", "Order samples"),
    },
    "contact": {
        "alice@contoso.com": ("Jane O'Brien", "Ken Sato", "Priya Patel"),
        "bob@contoso.com": ("Maria Garcia",),
    },
}
# Contacts of the shared list "North" (customers in the sales district NORTH): seeded ones, plus every contact
# this model creates (attached to Fabrikam Retail or Northwind Traders, both NORTH).
SEEDED_SHARED = ("Priya Patel", "Jane O'Brien", "Maria Garcia", "Tom Jensen")
NOT_SHARED = ("Ken Sato",)  # Litware is a vendor, not a customer of the list
IMPORTED_EMAILS = (
    "Order 4711: delivery dates",
    "Supplier terms 2026",
    "Introduction: Tailspin Toys",
    "Re: Demo for Tailspin",
)
NORTHWIND_PARTY = "000000103"


@dataclass
class Item:
    kind: str  # appointment, task, contact
    mailbox: str
    title: str
    home: str | None = None  # "fno" or "graph": the only side this item is edited on
    job_title: str | None = None  # contacts: the last job title written (None: never edited)


@dataclass
class World:
    """The expected end state, and the edits made so far (for the report of a failing run)."""

    seed: int
    items: list[Item] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)
    counter: int = 0

    @classmethod
    def seeded(cls, seed: int) -> World:
        world = cls(seed)
        for kind, per_mailbox in SEEDED.items():
            for mailbox, titles in per_mailbox.items():
                world.items.extend(Item(kind, mailbox, title) for title in titles)
        return world

    def token(self, cycle: int) -> str:
        self.counter += 1
        return f"s{self.seed}c{cycle}n{self.counter}"

    # ---- edits ---------------------------------------------------------------------------------------

    def random_edits(self, tenant: Tenant, rng: random.Random, cycle: int, count: int) -> list[str]:
        """Apply `count` edits chosen at random (an edit with nothing to act on is replaced by another)."""
        done: list[str] = []
        operations = [
            self._rename_in_fno,
            self._rename_in_graph,
            self._create_in_fno,
            self._create_in_graph,
            self._job_title_in_fno,
            self._job_title_in_graph,
            self._contact_in_fno,
            self._contact_in_graph,
        ]
        attempts = 0
        while len(done) < count and attempts < count * 10:
            attempts += 1
            described = rng.choice(operations)(tenant, rng, cycle)
            if described:
                done.append(f"cycle {cycle}: {described}")
        self.edits.extend(done)
        return done

    def _pick(self, rng: random.Random, kinds: tuple[str, ...], side: str) -> Item | None:
        candidates = [i for i in self.items if i.kind in kinds and i.home in (None, side)]
        return rng.choice(candidates) if candidates else None

    def _rename_in_fno(self, tenant: Tenant, rng: random.Random, cycle: int) -> str | None:
        item = self._pick(rng, ("appointment", "task"), "fno")
        if item is None:
            return None
        row = _activity(tenant, item)
        if row is None:
            return None  # not (yet) on this side
        new = f"{item.title.split(' #')[0]} #{self.token(cycle)}"
        tenant.fno.update(
            "Activities", {"dataAreaId": COMPANY, "ActivityNumber": row["ActivityNumber"]}, {"Purpose": new}
        )
        old, item.title, item.home = item.title, new, "fno"
        return f"F&O: {item.kind} {old!r} renamed {new!r}"

    def _rename_in_graph(self, tenant: Tenant, rng: random.Random, cycle: int) -> str | None:
        item = self._pick(rng, ("appointment", "task"), "graph")
        if item is None:
            return None
        new = f"{item.title.split(' #')[0]} #{self.token(cycle)}"
        if item.kind == "appointment":
            event = next((e for e in _events(tenant, item.mailbox) if e["subject"] == item.title), None)
            if event is None:
                return None
            tenant.graph.update_event(item.mailbox, event["id"], {"subject": new})
        else:
            task = next((t for t in _todos(tenant, item.mailbox) if t["title"] == item.title), None)
            if task is None:
                return None
            tenant.graph.todo.update_task(item.mailbox, task["listId"], task["id"], {"title": new})
        old, item.title, item.home = item.title, new, "graph"
        return f"Outlook: {item.kind} {old!r} renamed {new!r}"

    def _create_in_fno(self, tenant: Tenant, rng: random.Random, cycle: int) -> str:
        mailbox = rng.choice(sorted(MAILBOXES))
        kind = rng.choice(("appointment", "task"))
        title = f"Hostsim {kind} {self.token(cycle)}"
        start = _hour(rng.randint(1, 20), rng.randint(7, 16))
        record: dict[str, Any] = {
            "dataAreaId": COMPANY,
            "Category": "Appointment" if kind == "appointment" else "Task",
            "Purpose": title,
            "OutlookText": f"Made by the chaos test ({title}).",
            "StartDateTime": _iso(start),
            "EndDateTime": _iso(start + (timedelta(hours=1) if kind == "appointment" else timedelta(days=2))),
            "ResponsibleWorkerPersonnelNumber": MAILBOXES[mailbox],
            "KeepSynchronized": "Yes",
            "Priority": "Normal",
        }
        if kind == "appointment":
            record.update(ShowTimeAs="Busy", Sensitivity="Normal", AllDay="No")
        else:
            record["ActivityStatus"] = "NotStarted"
        tenant.fno.add("Activities", record)
        self.items.append(Item(kind, mailbox, title, home="fno"))
        return f"F&O: new {kind} {title!r} for {mailbox}"

    def _create_in_graph(self, tenant: Tenant, rng: random.Random, cycle: int) -> str:
        mailbox = rng.choice(sorted(MAILBOXES))
        kind = rng.choice(("appointment", "task"))
        title = f"Hostsim {kind} {self.token(cycle)}"
        start = _hour(rng.randint(1, 20), rng.randint(7, 16))
        if kind == "appointment":
            tenant.graph.add_event(
                mailbox,
                {
                    "subject": title,
                    "start": _graph_time(start),
                    "end": _graph_time(start + timedelta(hours=1)),
                    "categories": [CATEGORY],
                },
            )
        else:
            due = {"dateTime": f"{start.date().isoformat()}T00:00:00.0000000", "timeZone": ZONES[mailbox]}
            tenant.graph.todo.add_task(
                mailbox, {"title": title, "dueDateTime": due, "categories": [CATEGORY]}
            )
        self.items.append(Item(kind, mailbox, title, home="graph"))
        return f"Outlook: new {kind} {title!r} in {mailbox}"

    def _job_title_in_fno(self, tenant: Tenant, rng: random.Random, cycle: int) -> str | None:
        item = self._pick(rng, ("contact",), "fno")
        if item is None:
            return None
        row = _contact_person(tenant, item.title)
        if row is None:
            return None
        value = f"Buyer {self.token(cycle)}"
        tenant.fno.update(
            "ContactPersons",
            {"dataAreaId": COMPANY, "ContactPersonId": row["ContactPersonId"]},
            {"EmploymentJobTitle": value},
        )
        item.job_title, item.home = value, "fno"
        return f"F&O: contact {item.title!r} job title {value!r}"

    def _job_title_in_graph(self, tenant: Tenant, rng: random.Random, cycle: int) -> str | None:
        item = self._pick(rng, ("contact",), "graph")
        if item is None:
            return None
        found = next((c for c in _private(tenant, item.mailbox) if c.get("displayName") == item.title), None)
        if found is None:
            return None
        value = f"Manager {self.token(cycle)}"
        contacts.user_update_contact(tenant.graph, item.mailbox, found["id"], {"jobTitle": value})
        item.job_title, item.home = value, "graph"
        return f"Outlook: contact {item.title!r} job title {value!r}"

    def _contact_in_fno(self, tenant: Tenant, rng: random.Random, cycle: int) -> str:
        mailbox = rng.choice(sorted(MAILBOXES))
        token = self.token(cycle)
        first, last = "Noor", f"Hostsim{token}"
        tenant.fno.add(
            "ContactPersons",
            {
                "dataAreaId": COMPANY,
                "ContactPersonId": f"CP-{token}",
                "FirstName": first,
                "LastName": last,
                "PrimaryEmailAddress": f"noor.{token}@northwind.com",
                "AssociatedPartyNumber": NORTHWIND_PARTY,
                "ContactPersonResponsiblePersonnelNumber": MAILBOXES[mailbox],
                "MicrosoftOutlookCategories": CATEGORY,
            },
        )
        self.items.append(Item("contact", mailbox, f"{first} {last}", home="fno"))
        return f"F&O: new contact {first} {last} for {mailbox}"

    def _contact_in_graph(self, tenant: Tenant, rng: random.Random, cycle: int) -> str:
        mailbox = rng.choice(sorted(MAILBOXES))
        token = self.token(cycle)
        first, last = "Ravi", f"Hostsim{token}"
        contacts.seed_contact(
            tenant.graph,
            mailbox,
            {
                "givenName": first,
                "surname": last,
                "companyName": "Fabrikam Retail",
                "emailAddresses": [{"address": f"ravi.{token}@fabrikam.com", "name": f"{first} {last}"}],
            },
            folder=PRIVATE_FOLDER,
        )
        self.items.append(Item("contact", mailbox, f"{first} {last}", home="graph"))
        return f"Outlook: new contact {first} {last} in {mailbox}"

    # ---- the end state -------------------------------------------------------------------------------

    def compare(self, tenant: Tenant) -> tuple[list[str], int]:
        """Differences between the model and both sides (empty when converged), and how many items were
        compared (each item on each side it must be on)."""
        problems: list[str] = []
        compared = 0
        for kind in ("appointment", "task"):
            for mailbox, worker in MAILBOXES.items():
                expected = Counter(i.title for i in self.items if i.kind == kind and i.mailbox == mailbox)
                fno = Counter(
                    str(a["Purpose"])
                    for a in tenant.fno.all("Activities")
                    if a.get("Category") == ("Appointment" if kind == "appointment" else "Task")
                    and a.get("KeepSynchronized") == "Yes"
                    and a.get("ResponsibleWorkerPersonnelNumber") == worker
                )
                if kind == "appointment":
                    graph = Counter(str(e["subject"]) for e in _events(tenant, mailbox))
                else:
                    graph = Counter(str(t["title"]) for t in _todos(tenant, mailbox))
                problems += _differences(f"{kind}s of {mailbox} in F&O", expected, fno)
                problems += _differences(f"{kind}s of {mailbox} in Outlook", expected, graph)
                compared += 2 * sum(expected.values())
        people = tenant.fno.all("ContactPersons")
        for mailbox, worker in MAILBOXES.items():
            expected = Counter(i.title for i in self.items if i.kind == "contact" and i.mailbox == mailbox)
            fno = Counter(
                _name(p)
                for p in people
                if CATEGORY in str(p.get("MicrosoftOutlookCategories", "")).split(";")
                and p.get("ContactPersonResponsiblePersonnelNumber") == worker
            )
            graph = Counter(str(c.get("displayName")) for c in _private(tenant, mailbox))
            problems += _differences(f"contacts of {mailbox} in F&O", expected, fno)
            problems += _differences(f"contacts of {mailbox} in its Outlook folder", expected, graph)
            compared += 2 * sum(expected.values())
        shared_expected = Counter(SEEDED_SHARED) + Counter(
            i.title for i in self.items if i.kind == "contact" and i.title not in SEEDED_SHARED + NOT_SHARED
        )
        shared = contacts.list_contacts(tenant.graph, SHARED_MAILBOX, SHARED_FOLDER)
        problems += _differences(
            "contacts of the shared list", shared_expected, Counter(str(c.get("displayName")) for c in shared)
        )
        compared += sum(shared_expected.values())
        for item in self.items:
            if item.job_title is None:
                continue
            person = _contact_person(tenant, item.title)
            seen = {
                "F&O": person.get("EmploymentJobTitle") if person else None,
                "Outlook": next(
                    (
                        c.get("jobTitle")
                        for c in _private(tenant, item.mailbox)
                        if c["displayName"] == item.title
                    ),
                    None,
                ),
            }
            if item.title not in NOT_SHARED:
                seen["the shared list"] = next(
                    (c.get("jobTitle") for c in shared if c["displayName"] == item.title), None
                )
            for where, value in seen.items():
                compared += 1
                if value != item.job_title:
                    problems.append(
                        f"job title of contact {item.title!r} in {where}: {value!r}, expected {item.job_title!r}"
                    )
        imported = Counter(
            str(a["Purpose"]) for a in tenant.fno.all("Activities") if a.get("Category") == "Event"
        )
        problems += _differences("activities imported from e-mail", Counter(IMPORTED_EMAILS), imported)
        compared += len(IMPORTED_EMAILS)
        return problems, compared


def _differences(where: str, expected: Counter[str], seen: Counter[str]) -> list[str]:
    problems = []
    missing = sorted((expected - seen).elements())
    duplicated = sorted(t for t, n in seen.items() if n > 1 and t in expected)
    unexpected = sorted(t for t in seen if t not in expected)
    if missing:
        problems.append(f"{where}: missing {missing}")
    if duplicated:
        problems.append(f"{where}: more than once {[(t, seen[t]) for t in duplicated]}")
    if unexpected:
        problems.append(f"{where}: unexpected {[(t, seen[t]) for t in unexpected]}")
    return problems


def _name(person: dict[str, Any]) -> str:
    return f"{person.get('FirstName', '')} {person.get('LastName', '')}".strip()


def _activity(tenant: Tenant, item: Item) -> dict[str, Any] | None:
    category = "Appointment" if item.kind == "appointment" else "Task"
    return next(
        (
            a
            for a in tenant.fno.all("Activities")
            if a.get("Category") == category
            and a.get("Purpose") == item.title
            and a.get("ResponsibleWorkerPersonnelNumber") == MAILBOXES[item.mailbox]
        ),
        None,
    )


def _contact_person(tenant: Tenant, name: str) -> dict[str, Any] | None:
    return next((p for p in tenant.fno.all("ContactPersons") if _name(p) == name), None)


def _events(tenant: Tenant, mailbox: str) -> list[dict[str, Any]]:
    return [e for e in tenant.graph.events(mailbox) if CATEGORY in (e.get("categories") or [])]


def _todos(tenant: Tenant, mailbox: str) -> list[dict[str, Any]]:
    return [t for t in tenant.graph.todo.tasks(mailbox) if CATEGORY in (t.get("categories") or [])]


def _private(tenant: Tenant, mailbox: str) -> list[dict[str, Any]]:
    return contacts.list_contacts(tenant.graph, mailbox, PRIVATE_FOLDER)


def _hour(days: int, hour: int) -> datetime:
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=days, hours=hour)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _graph_time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}
