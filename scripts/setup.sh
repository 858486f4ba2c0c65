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
# The console's browser tests drive Debian's chromium (tests/console/). CI runs as root with apt: install it.
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  elif [ -n "${CI:-}" ]; then
    echo "setup: /usr/bin/chromium is missing and apt-get is not available; the console tests need it" >&2
    exit 1
  else
    echo "setup: no apt-get here: install chromium at /usr/bin/chromium for tests/console" >&2
  fi
fi
if [ "${1:-}" = "--with-azurite" ] && [ ! -x .tools/node_modules/.bin/azurite ]; then
  # Azurite 3.36+ needs Node 22; 3.35.0 runs on Node 20.
  npm install --prefix .tools --no-audit --no-fund --silent azurite@3.35.0
fi
