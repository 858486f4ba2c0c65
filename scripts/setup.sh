#!/usr/bin/env bash
# Set up a fresh checkout: a virtual environment with the dev requirements and (for tests) Azurite.
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
if [ "${1:-}" = "--with-azurite" ] && [ ! -x .tools/node_modules/.bin/azurite ]; then
  # Azurite 3.36+ needs Node 22; 3.35.0 runs on Node 20.
  npm install --prefix .tools --no-audit --no-fund --silent azurite@3.35.0
fi
