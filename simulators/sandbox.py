"""The sandbox: start the Graph and F&O stand-ins with sample data on loopback and run the real sync
against them over HTTP, printing what each cycle did. `python -m simulators.sandbox`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from simulators.fno.app import create_fno_app
from simulators.fno.state import FnoState
from simulators.graph.app import create_graph_app
from simulators.graph.state import GraphState
from simulators.sample_contacts import contact_settings, private_count, seed_contacts, shared_count
from simulators.sample_data import COMPANY, MAILBOXES, seed
from simulators.sample_data import sandbox_settings as settings_for
from simulators.sample_email import seed_email
from simulators.sample_tasks import FNO_TASKS, TODO_TASKS, seed_tasks
from simulators.serve import serve
from sync_core.cli import format_report, run_once
from sync_core.cli_ops import actor
from sync_core.console.auth import Admin, LocalGate
from sync_core.console.local import serve_console
from sync_core.console.routes import Console
from sync_core.runtime.report import CycleReport
from sync_core.settings import load_settings

TOKEN = "sandbox-token"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _story(title: str, report: CycleReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"step": title, **report.to_json(dry_run=False)}))
        return
    _say(f"\n== {title} ==")
    _say(format_report(report, dry_run=False))


async def _cycle(environ: dict[str, str]) -> CycleReport:
    return await run_once(load_settings(environ, local_settings=None))


def _serve_console(environ: dict[str, str]) -> None:
    """The console (sync_core/console/) on 127.0.0.1 over the sandbox's state and stand-ins, until Ctrl+C."""
    gate = LocalGate(Admin(name=actor(None)))
    console = Console(load_settings(environ, local_settings=None), gate)
    with serve_console(console, gate) as served:
        _say(f"\nConsole: {served.url}")
        _say(
            "Open it in a browser on this machine (the token works once). Ctrl+C stops the console and the stand-ins."
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            _say("console stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.sandbox", description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON document per cycle")
    parser.add_argument("--state-dir", help="keep the embedded store here (default: a temporary folder)")
    parser.add_argument(
        "--console",
        action="store_true",
        help="after the cycles, keep the stand-ins up and serve the administrator's console (Ctrl+C stops)",
    )
    args = parser.parse_args(argv)

    now = datetime.now(UTC)
    graph_state, fno_state = GraphState(token=TOKEN), FnoState(token=TOKEN, default_company=COMPANY)
    handles = seed(graph_state, fno_state, now)
    handles["email"] = seed_email(graph_state, fno_state, now)
    handles["tasks"] = seed_tasks(graph_state, fno_state, now)
    handles["contacts"] = seed_contacts(graph_state, fno_state, now)
    with tempfile.TemporaryDirectory(prefix="sync-sandbox-") as scratch:
        state_dir = args.state_dir or str(Path(scratch) / "state")
        with (
            serve(create_graph_app(graph_state)) as graph_server,
            serve(create_fno_app(fno_state)) as fno_server,
        ):
            environ = settings_for(graph_server.url, fno_server.url, TOKEN, state_dir)
            environ.update(contact_settings())
            if not args.json:
                _say("Exchange Sync for Dynamics 365 F&O: sandbox")
                _say(f"  Graph stand-in  {graph_server.url}/v1.0")
                _say(f"  F&O stand-in    {fno_server.url}/data")
                _say(f"  state           {state_dir} (embedded SQLite)")
                _say(f"  sample tasks    {FNO_TASKS} F&O task activities, {TODO_TASKS} Microsoft To Do tasks")
                _say(
                    "  sample tenant   4 mailboxes (one without an F&O worker), 6 F&O appointments, 3 Outlook events,"
                    " 5 e-mails marked D365 Import in 4 folders"
                )

            first = asyncio.run(_cycle(environ))
            _story("Cycle 1: first sync of the sample tenant", first, args.json)

            # People at work: one edit on each side, and one unmark in Outlook.
            review = fno_state.get("Activities", {"dataAreaId": COMPANY, "ActivityNumber": handles["review"]})
            if review is not None:
                fno_state.update(
                    "Activities",
                    {"dataAreaId": COMPANY, "ActivityNumber": handles["review"]},
                    {"Location": "Fabrikam HQ, Room 7 (moved)"},
                )
            lunch = graph_state.get_event("alice@contoso.com", handles["lunch"])
            if lunch is not None:
                start = datetime.fromisoformat(lunch["start"]["dateTime"][:19]).replace(tzinfo=UTC)
                later = start + timedelta(minutes=30)
                graph_state.update_event(
                    "alice@contoso.com",
                    handles["lunch"],
                    {
                        "start": {"dateTime": later.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                        "end": {
                            "dateTime": (later + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                            "timeZone": "UTC",
                        },
                    },
                )
            second = asyncio.run(_cycle(environ))
            _story("Cycle 2: a location changed in F&O, a lunch moved in Outlook", second, args.json)

            third = asyncio.run(_cycle(environ))
            _story("Cycle 3: nothing changed, so nothing is written", third, args.json)

            if not args.json:
                events = sum(len(graph_state.events(m.mail)) for m in MAILBOXES)
                activities = len(
                    [a for a in fno_state.all("Activities") if a.get("Category") == "Appointment"]
                )
                _say(f"\nNow: {events} events in Exchange, {activities} appointments in F&O.")
                todo_tasks = sum(len(graph_state.todo.tasks(m.mail)) for m in MAILBOXES if m.personnel_number)
                fno_tasks = len([a for a in fno_state.all("Activities") if a.get("Category") == "Task"])
                _say(f"Tasks: {todo_tasks} in Microsoft To Do, {fno_tasks} task activities in F&O.")
                imported = [a for a in fno_state.all("Activities") if a.get("Category") == "Event"]
                marked = sum(
                    1
                    for m in MAILBOXES
                    for msg in graph_state.messages(m.mail)
                    if "D365 Imported" in msg["categories"]
                )
                _say(f"E-mail: {len(imported)} imported as F&O activities, {marked} messages D365 Imported.")
                private = private_count(graph_state, [m.mail for m in MAILBOXES])
                shared = shared_count(graph_state)
                _say(f"Contacts: {private} on private lists, {shared} on the shared list North.")
                _say(
                    "Keep the state with --state-dir DIR, then `SYNC_STATE_DIR=DIR python -m sync_core audit`"
                )
                _say(
                    "shows every decision (`status` and `failures` too: they need no other setting);"
                    " the stand-ins stop with this command."
                )
                if not args.console:
                    _say(
                        "The administrator's console over this sandbox: `bash scripts/sandbox.sh --console`."
                    )
            if args.console:
                _serve_console(environ)
    failed = first.failures or second.failures or third.failures
    return 1 if failed or third.writes else 0


if __name__ == "__main__":
    sys.exit(main())
