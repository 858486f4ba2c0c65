"""`python -m tests.hostsim worker ...`: a host instance taking queue messages until SIGTERM (graceful) or
SIGKILL; `python -m tests.hostsim timer`: fire the timer trigger once (the planner). Settings come from the
environment, as app settings do in Azure."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path

from tests.hostsim.host import HostOptions, Journal, fire_timers, run_host


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.hostsim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="take messages from the queue triggers' queues")
    worker.add_argument("--journal", type=Path, help="append one JSON line per message handled")
    worker.add_argument("--host-json", type=Path, help="host.json to read extensions.queues from")
    worker.add_argument("--batch-size", type=int)
    worker.add_argument("--new-batch-threshold", type=int)
    worker.add_argument("--max-dequeue-count", type=int)
    worker.add_argument("--visibility-timeout", type=float, help="seconds before a failed message returns")
    worker.add_argument("--max-polling-interval", type=float, help="seconds")
    worker.add_argument("--lease", type=float, help="seconds a taken message stays invisible (host: 600)")
    commands.add_parser("timer", help="run the timer function once (plan a cycle)")
    return parser


def _options(args: argparse.Namespace) -> HostOptions:
    options = HostOptions.from_host_json(args.host_json) if args.host_json else HostOptions.from_host_json()
    overrides = {
        "batch_size": args.batch_size,
        "new_batch_threshold": args.new_batch_threshold,
        "max_dequeue_count": args.max_dequeue_count,
        "visibility_timeout": args.visibility_timeout,
        "max_polling_interval": args.max_polling_interval,
        "lease": args.lease,
    }
    return replace(options, **{k: v for k, v in overrides.items() if v is not None})


async def _worker(options: HostOptions, journal: Journal) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_host(options, journal, stop)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.command == "timer":
        asyncio.run(fire_timers())
        return 0
    journal = Journal(args.journal)
    try:
        asyncio.run(_worker(_options(args), journal))
    finally:
        journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
