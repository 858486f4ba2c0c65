#!/usr/bin/env bash
# Start the Graph and F&O stand-ins with sample data and run the sync against them.
# --console: then keep them up and serve the administrator's console; it prints the URL (docs/console.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m simulators.sandbox "$@"
