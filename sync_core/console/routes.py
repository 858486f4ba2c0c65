"""The console as one request handler: sign-in check, CSRF check on every POST, then a page or an action.

GET  /                 the mailboxes (every mailbox against every kind) and the tenant's health
GET  /mailbox?m=ADDR   one mailbox: kinds, held deletions, failures, recent audit, actions
GET  /chart            the recent days
GET  /static/NAME      the style sheet and the script
POST /action           pause, resume, resync, retry, approve, reject, doctor (actions.py)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from sync_core.app import open_store
from sync_core.cli_approve import DOES
from sync_core.cli_errors import problem_of
from sync_core.console import actions, chart, pages
from sync_core.console.auth import Admin, LocalGate, Refused, admin_from_principal, csrf_ok, new_csrf
from sync_core.console.web import Request, Response, cookie
from sync_core.service_errors import host_of
from sync_core.settings import Settings
from sync_core.status_report import KindStatus, MailboxStatus

log = logging.getLogger(__name__)
STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
SESSION, CSRF = "console_session", "console_csrf"
SECURE_CSRF = "__Host-console_csrf"  # over HTTPS: bound to this host and path


@dataclass
class AzureSignIn:
    """App Service authentication's principal, allowed by group or app role (auth.py)."""

    group_id: str
    role: str


@cache
def _environment() -> Environment:
    """Built once per process: templates are compiled on first use and kept."""
    env = Environment(
        loader=PackageLoader("sync_core.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(short=_short, detail=pages.detail_text, does=_does)
    return env


def _does(action: str) -> str:
    return str(DOES.get(action, action)).replace("would ", "")


def _short(iso: str | None) -> str:
    if not iso:
        return "never"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _kind_map(mailbox: MailboxStatus) -> dict[str, KindStatus]:
    return {k.kind: k for k in mailbox.kinds}


class Console:
    """`sign_in`: a LocalGate (the local command) or AzureSignIn (the Function app). `base`: the path the
    console is served under ("" locally, "/api/console" in Azure)."""

    def __init__(self, settings: Settings, sign_in: LocalGate | AzureSignIn, base: str = "") -> None:
        self.settings = settings
        self.sign_in = sign_in
        self.base = base.rstrip("/")
        self.secure = isinstance(sign_in, AzureSignIn)
        self.csrf_name = SECURE_CSRF if self.secure else CSRF
        self.env = _environment()

    async def handle(self, request: Request) -> Response:
        try:
            admin, cookies = self._admin(request)
        except Refused as refused:
            return self._refused(
                refused.status, "Not signed in" if refused.status == 401 else "Not allowed", refused.message
            )
        except _Redirect as go:
            return go.response
        if request.path.startswith("/static/"):
            return self._static(request.path.removeprefix("/static/"))
        csrf = request.cookies().get(self.csrf_name) or ""
        if not csrf:
            csrf = new_csrf()
            cookies.append(cookie(self.csrf_name, csrf, secure=self.secure))
        try:
            response = await self._route(request, admin, csrf)
        except actions.ActionError as exc:
            response = self._refused(400, "Not done", str(exc))
        except Exception as exc:
            problem = problem_of(
                exc, fno_host=host_of(self.settings.d365_url), graph_host=host_of(self.settings.graph_url)
            )
            if problem is None:
                log.exception("console request failed", extra={"path": request.path})
                response = self._refused(
                    500, "Something went wrong", "The console hit an unexpected error; it is in the log."
                )
            else:
                response = self._refused(503, "A service is unusable", problem.what, problem.fix)
        response.cookies.extend(cookies)
        return response

    # -- sign-in ------------------------------------------------------------------------------------

    def _admin(self, request: Request) -> tuple[Admin, list[str]]:
        if isinstance(self.sign_in, AzureSignIn):
            admin = admin_from_principal(
                request.header("x-ms-client-principal"),
                group_id=self.sign_in.group_id,
                role=self.sign_in.role,
            )
            return admin, []
        gate = self.sign_in
        if gate.signed_in(request.cookies().get(SESSION)):
            return gate.admin, []
        offered = request.query.get("token")
        if offered:
            session = gate.exchange(offered)
            if session is not None:
                # Into a cookie, and the token out of the address bar (and the history).
                go = Response(303, headers={"Location": f"{self.base}/"})
                go.cookies.append(cookie(SESSION, session, secure=False))
                raise _Redirect(go)
        raise Refused(
            401,
            "Open the address `python -m sync_core console` printed. Its token works once; to sign in again,"
            " start the command again.",
        )

    # -- pages and actions --------------------------------------------------------------------------

    async def _route(self, request: Request, admin: Admin, csrf: str) -> Response:
        common: dict[str, Any] = {"base": self.base, "admin": admin, "csrf": csrf}
        if request.method == "POST":
            if request.path != "/action":
                return self._refused(404, "Not found", "There is no such page.")
            form = request.form()
            if not csrf_ok(request.cookies().get(self.csrf_name), form.get("csrf")):
                return self._refused(
                    403,
                    "Not done",
                    "The form's security token is missing or stale: reload the page and try again.",
                )
            outcome = await actions.take(self.settings, admin, form)
            return self._page("outcome.html", title=outcome.title, page="outcome", outcome=outcome, **common)
        if request.method not in ("GET", "HEAD"):
            return Response(405, headers={"Allow": "GET, POST"})
        store = open_store(self.settings)
        try:
            if request.path in ("", "/"):
                view = await pages.overview(store, self.settings)
                return self._page(
                    "overview.html",
                    title="Mailboxes",
                    page="overview",
                    report=view.report,
                    kinds=view.kinds,
                    by_state=view.by_state,
                    kind_map=_kind_map,
                    age=lambda iso: pages.age(iso, view.now),
                    **common,
                )
            if request.path == "/mailbox":
                address = request.query.get("m", "").strip().lower()
                found = await pages.mailbox(store, self.settings, address)
                if found is None:
                    return self._refused(404, "Unknown mailbox", "The sync does not know this mailbox.")
                return self._page(
                    "mailbox.html",
                    title=address,
                    page="mailbox",
                    s=found.status,
                    failures=found.failures,
                    audit=found.audit,
                    held=found.held,
                    held_problem=found.held_problem,
                    kinds=found.kinds,
                    age=lambda iso: pages.age(iso, found.now),
                    **common,
                )
            if request.path == "/chart":
                view_c = await pages.charts(store)
                return self._page(
                    "chart.html",
                    capped=view_c.capped,
                    limit=pages.CHART_ENTRIES,
                    cut=view_c.cut,
                    max_periods=chart.MAX_PERIODS,
                    title="Recent days",
                    page="chart",
                    charts=view_c.charts,
                    days=view_c.days,
                    **common,
                )
        finally:
            await store.close()
        return self._refused(404, "Not found", "There is no such page.")

    def _page(self, template: str, **values: Any) -> Response:
        return Response(200, self.env.get_template(template).render(**values).encode())

    def _refused(self, status: int, title: str, message: str, fix: str = "") -> Response:
        body = self.env.get_template("refused.html").render(
            base=self.base, title=title, message=message, fix=fix
        )
        return Response(status, body.encode())

    def _static(self, name: str) -> Response:
        if name not in STATIC:
            return Response(404, b"not found", "text/plain; charset=utf-8")
        data = resources.files("sync_core.console").joinpath("static", name).read_bytes()
        return Response(200, data, STATIC[name])


class _Redirect(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("redirect")
        self.response = response
