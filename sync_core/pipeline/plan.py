"""Plan a cycle: resolve the mailboxes in scope, refresh the registry, queue one scan per mailbox and
kind plus one F&O feed scan per kind (one query for all mailboxes, not one per mailbox).

One failing step never stops the plan: a transient error the clients do not retry themselves
(a 500 or 502 from Graph, a 500 from F&O, an answer that is not JSON) is tried again a few times; a step
that still fails is recorded in the cycle report (`planning_problems`) and the plan goes on with what it
has. Mailboxes already in the registry keep their last record and are scanned; a mailbox never resolved
is skipped with the reason, and looked at again next cycle."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from sync_core import mailbox_company
from sync_core.contacts.registry import is_shared_only, refresh_shared_mailboxes, serves
from sync_core.d365 import entities
from sync_core.d365.errors import FnoError, FnoThrottled
from sync_core.exchange.errors import GraphError, GraphThrottled
from sync_core.mailbox_company import CompanyRules
from sync_core.model.timezones import resolve_time_zone_checked
from sync_core.notifications.subscriptions import ensure_subscriptions
from sync_core.pipeline import poll_schedule
from sync_core.pipeline.audit_retention import prune_audit
from sync_core.pipeline.pause import pause_note
from sync_core.pipeline.poll_schedule import Schedule
from sync_core.pipeline.retry import requeue_due
from sync_core.pipeline.service_failure import unusable_service
from sync_core.runtime.context import SyncContext
from sync_core.runtime.keys import fno_cursor_name
from sync_core.runtime.messages import AnyMessage, PlanMailboxes, ScanFnoFeed, ScanMailbox
from sync_core.runtime.phase import offset_seconds
from sync_core.runtime.report import PlanningProblem
from sync_core.state.base import MailboxRecord
from sync_core.telemetry import traced_plan

log = logging.getLogger(__name__)
CATEGORY_COLOR = "preset7"  # blue in Outlook's preset list
# Users, time zones, categories and the F&O worker change rarely: read them at most once a day per mailbox.
REFRESH_MAILBOX_AFTER = timedelta(hours=24)
# ... and up to this much earlier, by a stable hash of the address: mailboxes that went live
# together do not all come due in one cycle a day later, and drift apart from then on.
REFRESH_SPREAD = timedelta(hours=12)
# More mailboxes than this in scope: the timer sends them out in chunks of this many. A chunk's
# execution resolves its mailboxes and queues their scans within a few seconds when idle, and at go-live
# (every mailbox read from Graph) within about a minute, far inside the 5-minute limit.
CHUNK_MAILBOXES = 200
CHUNK_BYTES = 32 * 1024  # of addresses in one chunk message (the queue holds 48 KiB of payload)
Send = Callable[[Sequence[AnyMessage]], Awaitable[None]]
# Mailboxes whose Graph details are read at the same time (each has its own Graph limits).
REFRESH_CONCURRENCY = 8
# Waits before the second and third attempt of a planning call (short: the timer comes again anyway).
RETRY_DELAYS: tuple[float, ...] = (0.5, 2.0)
F_AND_O, GRAPH, STORE = "F&O", "Microsoft Graph", "state store"
_INVALID_ANSWER = "InvalidResponse"

T = TypeVar("T")


def _retried_by_client(exc: Exception) -> bool:
    """Failures the clients already sent again with backoff: trying more here would only stack waits."""
    if isinstance(exc, FnoThrottled | GraphThrottled):
        return True
    if isinstance(exc, FnoError):
        return exc.status in (0, 502)  # transport failures and 502 of reads (d365/client.py)
    if isinstance(exc, GraphError):
        return exc.status == 0
    return False


def is_transient(exc: Exception) -> bool:
    """Worth another try later: a server error, an outage, or an answer that was not what the service
    sends (a proxy's HTML page); a refusal (4xx) stays what it is."""
    if isinstance(exc, FnoError):
        # status 0: no answer; below 400: an answer that was not OData (e.g. a proxy's page)
        return not 400 <= exc.status < 500 or isinstance(exc, FnoThrottled)
    if isinstance(exc, GraphError):
        return (
            exc.status == 0
            or exc.status >= 500
            or exc.code == _INVALID_ANSWER
            or isinstance(exc, GraphThrottled)
        )
    return isinstance(exc, TimeoutError | ConnectionError)


async def _attempt(step: str, call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, tried again after a short wait when it fails transiently and its client did not retry."""
    attempt = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            if attempt >= len(RETRY_DELAYS) or not is_transient(exc) or _retried_by_client(exc):
                raise
            delay = RETRY_DELAYS[attempt]
            attempt += 1
            log.info(
                "planning step %s: attempt %d failed (%s); retry in %.1fs",
                step,
                attempt,
                type(exc).__name__,
                delay,
            )
            await asyncio.sleep(delay)


def _reason(exc: Exception) -> str:
    """Why, without hosts, URLs or personal data (the clients' messages are built to be safe)."""
    if isinstance(exc, FnoError):
        return (
            f"F&O answered {exc.status}: {exc.message[:200]}" if exc.status else f"F&O: {exc.message[:200]}"
        )
    if isinstance(exc, GraphError):
        return f"Microsoft Graph answered {exc.status} {exc.code}".strip()
    return type(exc).__name__  # other messages may quote URLs or paths


def planning_problem(
    ctx: SyncContext, step: str, default_service: str, exc: Exception, mailbox: str | None = None
) -> None:
    service = (
        F_AND_O if isinstance(exc, FnoError) else GRAPH if isinstance(exc, GraphError) else default_service
    )
    reason = _reason(exc)
    ctx.report.planning_problem(PlanningProblem(step=step, service=service, reason=reason, mailbox=mailbox))
    log.warning("planning step failed; the cycle goes on", extra={"step": step, "error": type(exc).__name__})


async def mailboxes_in_scope(ctx: SyncContext) -> list[str]:
    scope = {m.lower() for m in ctx.settings.mailboxes}
    group = ctx.settings.mailbox_group
    if group:
        try:
            members = await _attempt("mailbox scope", lambda: ctx.graph.list_group_member_mails(group))
        except Exception as exc:
            # The group cannot be read: keep syncing the worker mailboxes the registry knows in scope.
            planning_problem(ctx, "mailbox scope", GRAPH, exc)
            members = [
                r.mailbox
                for r in await ctx.store.list_mailboxes()
                if r.status == "ok" and not is_shared_only(r)
            ]
        scope.update(m.lower() for m in members)
    return sorted(scope)


async def refresh_registry(ctx: SyncContext, addresses: Sequence[str] | None = None) -> list[MailboxRecord]:
    """Match each mailbox (of `addresses`, or all in scope) to its worker and read its time zone; skipped
    mailboxes are recorded, not fatal. The records are read in one range read; the mailboxes due for a
    refresh are looked at a few at a time."""
    if addresses is None:
        addresses = await mailboxes_in_scope(ctx)
        ctx.registry_complete = True
    found = await ctx.store.get_mailboxes(addresses)
    previous_records = {a: found.get(a) for a in addresses}
    # Workers are looked up only for mailboxes not checked within a day, so an idle cycle's F&O calls do not
    # grow with the number of mailboxes (a changed worker is noticed within a day, as Graph details are).
    # A paused mailbox is left as it is (nothing is read for it, nothing written): an operator's pause, or
    # what `forget` leaves of a mailbox still in scope (cli_forget.py).
    paused = {a for a in addresses if (p := previous_records[a]) is not None and p.paused}
    rules = await _company_rules(ctx)
    stale = [a for a in addresses if a not in paused and not _fresh(ctx, previous_records[a], rules)]
    workers: dict[str, dict[str, object]] | None = {}
    if stale and rules is not None:
        try:
            workers = await _attempt("worker lookup", lambda: entities.workers_by_email(ctx.fno, stale))
        except Exception as exc:
            planning_problem(ctx, "worker lookup", F_AND_O, exc)
            workers = None
    else:
        workers = None if stale else {}  # a mapped group could not be read: the last good records stand
    employment = await _employment(ctx, rules, stale, workers) if workers else {}
    if employment is None:
        workers = None
    gate = asyncio.Semaphore(REFRESH_CONCURRENCY)

    async def refresh(address: str) -> MailboxRecord:
        previous = previous_records[address]
        if previous is not None and address in paused:
            return previous
        async with gate:
            company = _company_of(ctx, rules, address, previous, workers, employment or {})
            record, save = await _refresh_mailbox(ctx, address, previous, address in stale, workers, company)
            if record.first_seen_at is None:  # the stale-mailbox alert counts a never synced one from here
                record = record.model_copy(update={"first_seen_at": ctx.now()})
            if save and not ctx.dry_run and (previous is None or _differs(record, previous)):
                try:
                    record = await ctx.store.upsert_mailbox(record)
                except Exception as exc:  # used as read this cycle
                    planning_problem(ctx, "mailbox registry", STORE, exc, mailbox=address)
            return record

    # The first mailbox due goes alone: a service that is down is found by its request's retries, and the
    # others then fail at once (the clients' breakers) instead of each retrying side by side.
    done: dict[str, MailboxRecord] = {}
    if stale:
        done[stale[0]] = await refresh(stale[0])
    rest = [a for a in addresses if a not in done]
    done.update(zip(rest, await asyncio.gather(*(refresh(a) for a in rest)), strict=True))
    records = [done[a] for a in addresses]
    for address, record in zip(addresses, records, strict=True):
        if address in paused:
            ctx.registry[address] = record
            continue
        if record.status != "ok":
            ctx.report.skip_mailbox(address, record.reason)
            log.info("mailbox skipped", extra={"reason": record.reason})
        ctx.registry[address] = record
    return records


async def _refresh_mailbox(
    ctx: SyncContext,
    address: str,
    previous: MailboxRecord | None,
    stale: bool,
    workers: dict[str, dict[str, object]] | None,
    company: str,
) -> tuple[MailboxRecord, bool]:
    """The mailbox's record and whether to save it. When its worker or Graph details cannot be read this
    cycle, the last good record stands (unsaved, so it is looked at again next cycle)."""
    if not stale and previous is not None:
        worker: dict[str, object] | None = {"PersonnelNumber": previous.personnel_number}
    elif workers is None:
        reason = "the F&O worker lookup failed this cycle"
        return _last_good(address, previous, reason, company), False
    else:
        worker = workers.get(address)
    try:
        return await _attempt(
            "mailbox details", lambda: _resolve_mailbox(ctx, address, worker, previous, company)
        ), True
    except Exception as exc:
        planning_problem(ctx, "mailbox details", GRAPH, exc, mailbox=address)
        reason = "the mailbox details could not be read this cycle"
        return _last_good(address, previous, reason, company), False


def _last_good(address: str, previous: MailboxRecord | None, reason: str, company: str) -> MailboxRecord:
    if previous is not None and previous.status == "ok" and previous.company == company:
        return previous
    base = previous or MailboxRecord(mailbox=address, company=company)
    return base.model_copy(update={"status": "skipped", "reason": f"{reason}; tried again next cycle"})


def refresh_after(mailbox: str) -> timedelta:
    """How old a mailbox's Graph details and worker may get: a day, less the mailbox's share of the spread."""
    return REFRESH_MAILBOX_AFTER - timedelta(seconds=offset_seconds(mailbox, REFRESH_SPREAD))


def checked_recently(now: datetime, record: MailboxRecord) -> bool:
    return record.checked_at is not None and now - record.checked_at < refresh_after(record.mailbox)


def _fresh(ctx: SyncContext, previous: MailboxRecord | None, rules: CompanyRules | None) -> bool:
    """Checked recently (see refresh_after), for the company the rules give it (any, when a mapped group
    could not be read: the last good record then stands)."""
    return (
        previous is not None
        and previous.status == "ok"
        and (rules is None or previous.company == rules.expected(previous.mailbox, previous.company))
        and checked_recently(ctx.now(), previous)
    )


def _differs(record: MailboxRecord, previous: MailboxRecord) -> bool:
    return record.model_dump(exclude={"etag"}) != previous.model_dump(exclude={"etag"})


async def _resolve_mailbox(
    ctx: SyncContext,
    address: str,
    worker: dict[str, object] | None,
    previous: MailboxRecord | None,
    company: str,
) -> MailboxRecord:
    base = MailboxRecord(mailbox=address, company=company)
    if previous is not None:
        base = previous.model_copy(update={"company": company})
    if worker is None:
        return base.model_copy(
            update={"status": "skipped", "reason": "no F&O worker has this address as PrimaryContactEmail"}
        )
    personnel_number = str(worker.get("PersonnelNumber") or "")
    now = ctx.now()
    if (
        previous is not None
        and previous.status == "ok"
        and previous.personnel_number == personnel_number
        and previous.company == company
        and checked_recently(now, previous)
    ):
        return previous  # Graph was asked recently: an idle cycle costs no user or settings reads
    try:
        user = await ctx.graph.get_user(address)
        if user is None:
            return base.model_copy(
                update={"status": "skipped", "reason": "mailbox not found in Microsoft Graph"}
            )
        time_zone = await ctx.graph.get_mailbox_time_zone(address) or "UTC"
        _zone, known = resolve_time_zone_checked(time_zone)
        if not known:
            # All-day appointments would land on the wrong day: better to skip and say why.
            return base.model_copy(
                update={"status": "skipped", "reason": f"mailbox time zone {time_zone!r} is not recognised"}
            )
        if not ctx.dry_run:
            # Make sure the user can see and use the category (it may have been deleted or renamed).
            await ctx.graph.ensure_category(address, ctx.settings.category, CATEGORY_COLOR)
    except GraphError as exc:
        if is_transient(exc):
            raise  # an outage says nothing about the mailbox: the caller keeps its last good record
        return base.model_copy(
            update={"status": "skipped", "reason": f"Graph refused access ({exc.status} {exc.code})"}
        )
    return base.model_copy(
        update={
            "user_id": user.id,
            "personnel_number": personnel_number,
            "time_zone": time_zone,
            "status": "ok",
            "reason": "",
            "checked_at": now,
        }
    )


async def _company_rules(ctx: SyncContext) -> CompanyRules | None:
    """The company rules of this run (sync_core/mailbox_company.py), with the members of the groups
    SYNC_MAILBOX_COMPANIES names; None when one of them cannot be read."""
    members: dict[str, list[str]] = {}
    for group in mailbox_company.group_ids(ctx.settings):
        try:
            members[group] = await _attempt(
                "company groups", functools.partial(ctx.graph.list_group_member_mails, group)
            )
        except Exception as exc:
            planning_problem(ctx, "company groups", GRAPH, exc)
            return None
    return mailbox_company.rules(ctx.settings, members)


async def _employment(
    ctx: SyncContext, rules: CompanyRules | None, stale: list[str], workers: dict[str, dict[str, object]]
) -> dict[str, str] | None:
    """Personnel number -> company of the current employment, for the stale mailboxes the map does not name
    (SYNC_COMPANY_SOURCE=employment); None when F&O could not be asked (the last good records stand)."""
    if rules is None or not rules.from_employment:
        return {}
    numbers = [
        str(workers[a].get("PersonnelNumber") or "")
        for a in stale
        if a in workers and rules.explicit(a) is None
    ]
    if not any(numbers):
        return {}
    try:
        return await _attempt(
            "employment lookup", lambda: mailbox_company.employment_companies(ctx.fno, numbers, ctx.now())
        )
    except Exception as exc:
        planning_problem(ctx, "employment lookup", F_AND_O, exc)
        return None


def _company_of(
    ctx: SyncContext,
    rules: CompanyRules | None,
    address: str,
    previous: MailboxRecord | None,
    workers: dict[str, dict[str, object]] | None,
    employment: dict[str, str],
) -> str:
    if rules is None:  # a mapped group could not be read: keep what the record says
        return previous.company if previous is not None and previous.company else ctx.settings.company.lower()
    worker = (workers or {}).get(address)
    if worker is None:
        return rules.expected(address, previous.company if previous is not None else "")
    return rules.resolve(address, employment, str(worker.get("PersonnelNumber") or ""))


async def _with_shared_mailboxes(ctx: SyncContext, records: list[MailboxRecord]) -> list[MailboxRecord]:
    """`records` plus the shared-list mailboxes; if they cannot be refreshed, those registered as ok."""
    try:
        return await _attempt("shared mailboxes", lambda: refresh_shared_mailboxes(ctx, records))
    except Exception as exc:
        planning_problem(ctx, "shared mailboxes", GRAPH, exc)
    out = {r.mailbox: r for r in records}
    for shared in ctx.settings.shared_lists:
        address = shared.mailbox.lower()
        if address in out:
            continue
        try:
            known = await ctx.store.get_mailbox(address)
        except Exception as exc:
            planning_problem(ctx, "shared mailboxes", STORE, exc, mailbox=address)
            known = None
        if known is not None and known.status == "ok":
            ctx.registry[address] = out[address] = known
        else:
            ctx.report.skip_mailbox(
                address, "the shared mailbox could not be read this cycle; tried again next cycle"
            )
    return sorted(out.values(), key=lambda r: r.mailbox)


@traced_plan
async def plan_cycle(ctx: SyncContext, send: Send | None = None) -> list[AnyMessage]:
    """Plan a cycle. Up to CHUNK_MAILBOXES mailboxes in scope are resolved here; more are sent out in
    chunks (pipeline/fanout.py) that the scan queue's function resolves and scans. With `send`, the
    messages go out as soon as they are planned, before the upkeep (subscriptions, the work list's retries,
    audit retention), unless a service turned out unusable while planning; without, the caller sends
    what is returned. Returns the messages planned."""
    cycle_id = uuid.uuid4().hex
    chunked = False
    records: list[MailboxRecord] = []
    try:
        addresses = await mailboxes_in_scope(ctx)
        chunked = len(addresses) > CHUNK_MAILBOXES
        if not chunked:
            records = await refresh_registry(ctx, addresses)
            ctx.registry_complete = True
    except Exception as exc:
        # Only the state store is left to fail here: plan the F&O feeds, which need no mailbox list.
        planning_problem(ctx, "mailbox registry", STORE, exc)
        addresses, chunked, records = [], False, []
    if chunked:
        messages, upkept, schedule = await _fan_out(ctx, addresses, cycle_id)
    else:
        schedule = await load_schedule(ctx)
        messages, upkept = await _plan_here(ctx, records, cycle_id, schedule)
    if send is not None and unusable_service(ctx) is None:
        await send(messages)
    await _upkeep(ctx, upkept, schedule)
    return messages


async def load_schedule(ctx: SyncContext, records: Sequence[MailboxRecord] | None = None) -> Schedule:
    """Which feeds to read this cycle (pipeline/poll_schedule.py); unreadable: all of them. `records`: only
    theirs (a chunk), else the whole scope's."""
    try:
        return await poll_schedule.load(ctx, records)
    except Exception as exc:
        planning_problem(ctx, "poll schedule", STORE, exc)
        return Schedule(ctx.settings, ctx.now())


async def _plan_here(
    ctx: SyncContext, records: list[MailboxRecord], cycle_id: str, schedule: Schedule
) -> tuple[list[AnyMessage], list[MailboxRecord]]:
    """The scans of every mailbox in scope (resolved here) and the F&O feeds."""
    # Shared contact lists live in shared mailboxes that no worker owns (contacts issue).
    records = await _with_shared_mailboxes(ctx, records)
    messages: list[AnyMessage] = []
    for kind in ctx.scheduled():
        ctx.report.touch(kind)
        messages.extend(scans_of(ctx, kind, records, cycle_id, schedule))
        messages.append(ScanFnoFeed(kind=kind, cycle_id=cycle_id))
    note_paused(ctx, records)
    return messages, records


async def _fan_out(
    ctx: SyncContext, addresses: list[str], cycle_id: str
) -> tuple[list[AnyMessage], list[MailboxRecord], Schedule]:
    """One message per chunk of the mailboxes in scope; the shared-list mailboxes no worker owns (a few)
    and the F&O feeds are planned here."""
    in_scope = set(addresses)
    # A shared list in a worker's own mailbox is its chunk's: stand-ins keep it out of the shared refresh.
    theirs = [MailboxRecord(mailbox=s.mailbox.lower()) for s in ctx.settings.shared_lists]
    shared = [
        r
        for r in await _with_shared_mailboxes(ctx, [r for r in theirs if r.mailbox in in_scope])
        if r.mailbox not in in_scope
    ]
    schedule = await load_schedule(ctx, shared)
    messages: list[AnyMessage] = [PlanMailboxes(mailboxes=c, cycle_id=cycle_id) for c in chunks(addresses)]
    registered: set[str] | None = None
    for kind in ctx.scheduled():
        ctx.report.touch(kind)
        messages.extend(scans_of(ctx, kind, shared, cycle_id, schedule))
        try:
            if await ctx.store.get_cursor(fno_cursor_name(kind)) is None:
                # A feed's first read lists every row once and moves its cursor past them: rows of a
                # mailbox a chunk has not registered yet would be left to the reconciliation. So it waits
                # for the cycle in which every mailbox in scope is in the registry (at go-live, the next).
                if registered is None:
                    registered = set(await ctx.store.get_mailboxes(addresses))
                if not in_scope <= registered:
                    log.info("first F&O feed read waits for the registry", extra={"kind": kind})
                    continue
        except Exception as exc:
            planning_problem(ctx, "F&O feed cursor", STORE, exc)  # the next cycle plans the feed
            continue
        messages.append(ScanFnoFeed(kind=kind, cycle_id=cycle_id))
    note_paused(ctx, shared)
    log.info("planning fanned out", extra={"mailboxes": len(addresses), "chunks": len(messages)})
    return messages, shared, schedule


def scans_of(
    ctx: SyncContext,
    kind: str,
    records: Sequence[MailboxRecord],
    cycle_id: str,
    schedule: Schedule | None = None,
) -> list[ScanMailbox]:
    """The scans of this kind; with a schedule, only of the feeds it wants read this cycle."""
    scans = [
        ScanMailbox(kind=kind, mailbox=r.mailbox, cycle_id=cycle_id)
        for r in records
        if r.status == "ok" and not r.paused and serves(kind, r, ctx.settings)
    ]
    if schedule is None:
        return scans
    wanted = [s for s in scans if schedule.wants(kind, s.mailbox)]
    if len(wanted) < len(scans):
        log.info("feeds left to notifications", extra={"kind": kind, "skipped": len(scans) - len(wanted)})
    return wanted


def note_paused(ctx: SyncContext, records: Sequence[MailboxRecord]) -> None:
    for record in records:
        if record.paused:
            ctx.report.skip_mailbox(record.mailbox, pause_note(record))


async def _upkeep(ctx: SyncContext, records: list[MailboxRecord], schedule: Schedule | None = None) -> None:
    """After the scans went out: none of this may keep them waiting."""
    known = schedule.subscriptions if schedule is not None and schedule.is_active else None
    try:
        # Change notifications; off unless SYNC_NOTIFICATION_URL. The records the schedule read are reused.
        await ensure_subscriptions(ctx, records, known)
    except Exception as exc:
        planning_problem(ctx, "subscriptions", GRAPH, exc)  # the timer keeps syncing without them
    try:
        await requeue_due(ctx)  # failed items whose retry time has come (pipeline/retry.py)
    except Exception as exc:
        planning_problem(ctx, "retry of failed items", STORE, exc)
    try:
        await prune_audit(ctx)  # SYNC_AUDIT_RETENTION_DAYS, a bounded batch a cycle
    except Exception as exc:
        planning_problem(ctx, "audit retention", STORE, exc)


def chunks(addresses: Sequence[str]) -> list[tuple[str, ...]]:
    """Consecutive slices of the sorted scope: at most CHUNK_MAILBOXES, and small enough for a queue
    message whatever the addresses' lengths."""
    out: list[tuple[str, ...]] = []
    current: list[str] = []
    size = 0
    for address in addresses:
        cost = len(address.encode()) + 4  # quotes and comma in the JSON
        if current and (len(current) >= CHUNK_MAILBOXES or size + cost > CHUNK_BYTES):
            out.append(tuple(current))
            current, size = [], 0
        current.append(address)
        size += cost
    if current:
        out.append(tuple(current))
    return out
