"""`python -m sync_core.telemetry mailbox-ref ADDRESS...`: the ref under which a mailbox appears in
Application Insights (the workbook and alerts show refs, never addresses). Reads D365_URL like the app."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sync_core.settings import SettingsError, load_settings
from sync_core.telemetry.ids import mailbox_ref


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sync_core.telemetry")
    commands = parser.add_subparsers(dest="command", required=True)
    ref = commands.add_parser("mailbox-ref", help="print the telemetry ref of mailbox addresses")
    ref.add_argument("addresses", nargs="+")
    args = parser.parse_args(argv)
    try:
        key = load_settings().d365_url
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    for address in args.addresses:
        print(f"{mailbox_ref(address, key)}  {address.strip().lower()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
