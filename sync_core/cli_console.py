"""`python -m sync_core console [--port N] [--actor NAME]`: the administrator's console on this machine
(docs/console.md). Serves on 127.0.0.1 only and prints an address with a one-time token; stops on Ctrl+C."""

from __future__ import annotations

import argparse
import threading
from typing import Any

from sync_core.cli_ops import actor
from sync_core.settings import Settings

EXIT_OK, EXIT_CONFIG = 0, 2


def add_parser(commands: Any) -> None:
    console = commands.add_parser(
        "console", help="the administrator's console in the browser, on this machine"
    )
    console.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    console.add_argument("--actor", help="who acts, for the audit log (default: the signed-in user)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    # Imported here: every other command starts without loading the console and its templates.
    from sync_core.console.auth import Admin, LocalGate
    from sync_core.console.local import serve_console
    from sync_core.console.routes import Console

    gate = LocalGate(Admin(name=actor(args.actor)))
    try:
        with serve_console(Console(settings, gate), gate, port=args.port) as served:
            print(f"Console: {served.url}", flush=True)
            print(
                "Open it in a browser on this machine; the token works once (a session cookie then keeps you"
                " signed in). Ctrl+C stops the console.",
                flush=True,
            )
            threading.Event().wait()  # until Ctrl+C
    except OSError as exc:
        print(f"the console cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); try another --port")
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("console stopped")
    return EXIT_OK
