"""`python -m sync_core console`: the console on this machine, on 127.0.0.1 only.

The standard library's HTTP server (nothing more to install), one thread per request, and one event loop
thread that runs the console's coroutines: the state store and the clients stay on one loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from sync_core.console.auth import LocalGate
from sync_core.console.routes import Console
from sync_core.console.web import Request, parse_query

LOOPBACK = "127.0.0.1"  # never another interface: the token is the only sign-in
MAX_BODY = 64 * 1024


@dataclass
class Served:
    url: str  # with the one-time token
    server: ThreadingHTTPServer


def _handler(console: Console, loop: asyncio.AbstractEventLoop) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "sync-console"
        sys_version = ""

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            request = Request(
                method=self.command,
                path=parts.path or "/",
                query=parse_query(parts.query),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            response = asyncio.run_coroutine_threadsafe(console.handle(request), loop).result()
            self.send_response(response.status)
            for name, value in response.all_headers():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_HEAD = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass  # request lines carry mailbox addresses and the token: not logged

    return Handler


@contextmanager
def serve_console(console: Console, gate: LocalGate, port: int = 0) -> Iterator[Served]:
    """Serve until the block ends; `port` 0 takes a free one."""
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, name="console-loop", daemon=True)
    loop_thread.start()
    server = ThreadingHTTPServer((LOOPBACK, port), _handler(console, loop))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="console-http", daemon=True)
    thread.start()
    try:
        yield Served(url=f"http://{LOOPBACK}:{server.server_address[1]}/?token={gate.token}", server=server)
    finally:
        server.shutdown()
        server.server_close()
        loop.call_soon_threadsafe(loop.stop)
        loop_thread.join(timeout=5)
        loop.close()
