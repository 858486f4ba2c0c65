#!/usr/bin/env bash
# The long chaos run: many seeds of tests/chaos/test_chaos.py, each a sequence of
# `python -m sync_core run --once` processes SIGKILLed at random points, edits on both sides, then clean runs.
#
#   bash scripts/chaos.sh                 # 300 seeds from 1000 on, 2 pytest processes side by side
#   CHAOS_SEEDS=50 CHAOS_SEED_START=1 CHAOS_JOBS=1 bash scripts/chaos.sh
#   CHAOS_SEED_LIST="1017 1203" bash scripts/chaos.sh   # replay seeds (one process)
#
# Prints each failing seed's story (what was killed where, which check failed) and a summary line per job;
# exits non-zero when a seed failed. Extra arguments go to pytest. Logs: $CHAOS_LOG_DIR (default /tmp/chaos-logs).
set -uo pipefail
cd "$(dirname "$0")/.."
SEEDS="${CHAOS_SEEDS:-300}"
START="${CHAOS_SEED_START:-1000}"
JOBS="${CHAOS_JOBS:-2}"
LOGS="${CHAOS_LOG_DIR:-${TMPDIR:-/tmp}/chaos-logs}"
mkdir -p "$LOGS"
ARGS=(-q -p no:cacheprovider -rf tests/chaos/test_chaos.py "$@")
if [[ -n "${CHAOS_SEED_LIST:-}" ]]; then
  exec .venv/bin/python -m pytest "${ARGS[@]}"
fi
per=$(( (SEEDS + JOBS - 1) / JOBS ))
pids=()
for (( job = 0; job < JOBS; job++ )); do
  first=$(( START + job * per ))
  count=$(( SEEDS - job * per < per ? SEEDS - job * per : per ))
  (( count > 0 )) || break
  CHAOS_SEED_START=$first CHAOS_SEEDS=$count .venv/bin/python -m pytest "${ARGS[@]}" >"$LOGS/job-$job.log" 2>&1 &
  pids+=($!)
  echo "job $job: seeds $first..$(( first + count - 1 )) -> $LOGS/job-$job.log"
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
for (( job = 0; job < ${#pids[@]}; job++ )); do
  # Each failing seed's story: its "chaos seed N: FAILED" line and the indented lines under it.
  awk '/^chaos seed .*FAILED/ {p = 1; print; next} p && /^  / {print; next} {p = 0}' "$LOGS/job-$job.log"
done
for (( job = 0; job < ${#pids[@]}; job++ )); do
  echo "job $job: $(tail -n 1 "$LOGS/job-$job.log")"
done
exit $status
