#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, lint, types, benchmark smoke test, tests (Azurite is
# started by the tests). pytest runs last so its summary line closes the output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-azurite
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# Benchmark smoke test (about half a minute): prints timings, fails only on deterministic request counts.
.venv/bin/python -m bench --quick
.venv/bin/python -m pytest -q "$@"
