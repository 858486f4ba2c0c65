"""Start and stop the Azurite storage emulator (blob, queue, table) for the tests.

Azurite listens on ports chosen by the OS (`--*Port 0`) and prints them; we read them from its output,
so parallel test runs never fight over a port.
"""

from __future__ import annotations

import collections
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
AZURITE_BIN = REPO_ROOT / ".tools" / "node_modules" / ".bin" / "azurite"
INSTALL_HINT = (
    "Azurite is needed for these tests. Run the test command from the README, which installs it with\n"
    "    npm install --prefix .tools azurite@3.35.0\n"
    "(Node 20; Azurite 3.36+ needs Node 22), or point AZURITE_CONNECTION_STRING at a running emulator."
)
ACCOUNT = "devstoreaccount1"
# The emulator's published well-known key: not a secret.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
HOST = "127.0.0.1"  # not "localhost": the tables SDK takes localhost:<port> for Cosmos DB
STARTUP_TIMEOUT_S = 60.0

_LISTENING = re.compile(
    r"Azurite (Blob|Queue|Table) service is successfully listening at https?://[^:]+:(\d+)"
)


class AzuriteError(RuntimeError):
    pass


def connection_string(blob_port: int, queue_port: int, table_port: int, host: str = HOST) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{host}:{blob_port}/{ACCOUNT};"
        f"QueueEndpoint=http://{host}:{queue_port}/{ACCOUNT};"
        f"TableEndpoint=http://{host}:{table_port}/{ACCOUNT};"
    )


@dataclass
class Azurite:
    """A running emulator; `stop()` ends it."""

    process: subprocess.Popen[str]
    ports: dict[str, int]
    output: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=200))

    @property
    def connection_string(self) -> str:
        return connection_string(self.ports["blob"], self.ports["queue"], self.ports["table"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def _pump(stream: object, lines: queue.Queue[str | None], keep: collections.deque[str]) -> None:
    # Keeps draining stdout after start-up so a chatty emulator never blocks on a full pipe.
    for line in stream:  # type: ignore[attr-defined]
        keep.append(line)
        lines.put(line)
    lines.put(None)


def _wait_for_port(port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AzuriteError(f"Azurite port {port} does not accept connections") from None
            time.sleep(0.05)  # poll interval only; the deadline decides


def start(workdir: Path) -> Azurite:
    """Start Azurite in memory; raises AzuriteError (with INSTALL_HINT when it is not installed)."""
    if not AZURITE_BIN.exists():
        raise AzuriteError(f"{AZURITE_BIN} not found.\n{INSTALL_HINT}")
    if shutil.which("node") is None:
        raise AzuriteError(f"node is not on PATH.\n{INSTALL_HINT}")
    args = [str(AZURITE_BIN), "--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--silent"]
    args += ["--disableTelemetry", "--extentMemoryLimit", "256"]
    for service in ("blob", "queue", "table"):
        args += [f"--{service}Host", HOST, f"--{service}Port", "0"]
    process = subprocess.Popen(
        args,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    azurite = Azurite(process=process, ports={})
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines, azurite.output), daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        while len(azurite.ports) < 3:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AzuriteError("Azurite did not report its ports in time")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AzuriteError("Azurite exited during start-up")
            match = _LISTENING.search(line)
            if match:
                azurite.ports[match.group(1).lower()] = int(match.group(2))
        for port in azurite.ports.values():
            _wait_for_port(port, deadline)
    except AzuriteError as exc:
        azurite.stop()
        raise AzuriteError(f"{exc}. Output:\n{''.join(azurite.output)}") from None
    return azurite
