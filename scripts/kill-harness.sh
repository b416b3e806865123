#!/usr/bin/env bash
# The SIGKILL fault harness (tests/e2e/kill_harness.rs): the real binary in
# tmux, killed at random moments of a walk; prints a table per moment and
# lists every failed check.
#
# Usage: scripts/kill-harness.sh [CASES [SEED]]
#        STEPGUARD_KILL_ONLY=3,17 scripts/kill-harness.sh 50 SEED   (repeat two cases)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tmux >/dev/null 2>&1 || { echo "the harness needs tmux (apt-get install -y tmux)" >&2; exit 2; }
export STEPGUARD_KILL_CASES=${1:-${STEPGUARD_KILL_CASES:-50}}
if [ -n "${2:-}" ]; then export STEPGUARD_KILL_SEED=$2; fi
exec cargo test --test e2e kill_harness -- --nocapture --test-threads=1
