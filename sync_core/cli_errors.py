"""Expected failures of any command as one message (what happened, where, what to do) and an exit code.

Exit codes: 0 ok, 1 some items failed, 2 configuration, 3 F&O, Graph or the state store unusable. Anything
not listed here is a bug and keeps its traceback."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass

from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from sync_core.d365.errors import FnoError, InsecureFnoUrl
from sync_core.d365.preflight import ServiceSetupError
from sync_core.exchange.errors import GraphError
from sync_core.exchange.transport import InsecureGraphUrl
from sync_core.service_errors import FNO, GRAPH, ServiceUnusable
from sync_core.settings import SettingsError

EXIT_OK, EXIT_ITEM_FAILED, EXIT_CONFIG, EXIT_UNUSABLE = 0, 1, 2, 3
_STOPPED = "The run stopped; queued work is kept and the next run continues where this one stopped."


@dataclass(frozen=True)
class Problem:
    exit_code: int
    what: str
    fix: str
    service: str | None = None
    host: str | None = None

    def text(self) -> str:
        return f"{self.what}\nWhat to do: {self.fix}"

    def to_json(self) -> dict[str, object]:
        return {
            "error": {
                "exitCode": self.exit_code,
                "service": self.service,
                "host": self.host,
                "message": self.what,
                "whatToDo": self.fix,
            }
        }


def problem_of(exc: BaseException, *, fno_host: str = "", graph_host: str = "") -> Problem | None:
    """The Problem an expected failure stands for, or None for anything else (a bug)."""
    if isinstance(exc, ServiceUnusable):
        return Problem(
            EXIT_UNUSABLE, f"error: {exc.summary}.", f"{exc.fix}. {_STOPPED}", exc.service, exc.host
        )
    if isinstance(exc, ServiceSetupError):
        fix = "publish the entity or let the app's F&O user read it (docs/admin-guide.md, Prerequisites: Dynamics 365 F&O)"
        return Problem(EXIT_CONFIG, f"configuration error: {exc}", fix)
    if isinstance(exc, SettingsError | InsecureFnoUrl | InsecureGraphUrl):
        return Problem(
            EXIT_CONFIG,
            f"configuration error: {exc}",
            "correct the setting(s) named (docs/admin-guide.md, Configuration)",
        )
    if isinstance(exc, ClientAuthenticationError):
        first = (exc.message or "").splitlines()[0] if exc.message else type(exc).__name__
        return Problem(
            EXIT_UNUSABLE,
            f"error: no access token could be obtained ({first[:200]})",
            "sign in (`az login`) or check SYNC_AUTH and SYNC_MANAGED_IDENTITY_CLIENT_ID (docs/admin-guide.md, Configuration)",
        )
    if isinstance(exc, FnoError):
        return Problem(
            EXIT_UNUSABLE,
            f"error: F&O at {fno_host or 'D365_URL'} {_answered(exc.status)}: {exc.message}",
            "run `python -m sync_core doctor`, which checks F&O step by step",
            FNO,
            fno_host or None,
        )
    if isinstance(exc, GraphError):
        return Problem(
            EXIT_UNUSABLE,
            f"error: Microsoft Graph at {graph_host or 'GRAPH_URL'} {_answered(exc.status)}: {exc.code} {exc.message}",
            "run `python -m sync_core doctor`, which checks Graph step by step",
            GRAPH,
            graph_host or None,
        )
    if isinstance(exc, ServiceRequestError):
        return Problem(
            EXIT_UNUSABLE,
            f"error: the state store (Azure Storage) could not be reached ({type(exc).__name__})",
            "check AzureWebJobsStorage / AzureWebJobsStorage__accountName and the network; locally, start Azurite",
        )
    return None


def _answered(status: int) -> str:
    if status == 0:
        return "gave no answer"
    if status in (401, 403):
        return f"refused the request (HTTP {status})"
    return f"answered HTTP {status}"


def guarded(
    command: Callable[[], int], *, as_json: bool = False, fno_host: str = "", graph_host: str = ""
) -> int:
    """Run `command`; an expected failure prints its one message (stderr, and as JSON on stdout for --json)."""
    try:
        return command()
    except KeyboardInterrupt:
        print("interrupted: queued work is kept and the next run continues", file=sys.stderr)
        return 130
    except Exception as exc:
        if problem_of(exc) is None:
            raise
        return report_problem(exc, as_json=as_json, fno_host=fno_host, graph_host=graph_host)


def report_problem(exc: Exception, *, as_json: bool, fno_host: str = "", graph_host: str = "") -> int:
    """Print the one message of an expected failure; its exit code."""
    problem = problem_of(exc, fno_host=fno_host, graph_host=graph_host)
    if problem is None:
        raise exc
    print(problem.text(), file=sys.stderr)
    if as_json:
        print(json.dumps(problem.to_json(), indent=2))
    return problem.exit_code
