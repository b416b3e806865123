#!/usr/bin/env bash
# What the kernel sandbox costs a pre-flight: `stepguard draft --preflight`
# on the demo's first step (a grep over its log files), process start to
# exit, with Landlock and with the guard alone (forced), on the release
# binary. Needs hyperfine (Debian package).
#
#     benches/sandbox.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "missing hyperfine (apt-get install hyperfine)" >&2; exit 2; }
cargo build --release --quiet
bin=$PWD/target/release/stepguard
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
run="$bin draft demo-checkout-logs --step 1 --offline --preflight --state demo/state.txt"
export STEPGUARD_STATE_DIR=$state STEPGUARD_CONFIG=/dev/null
hyperfine -N --warmup 5 --runs 200 --style basic \
  -n landlock "$run" \
  -n guard-only "env STEPGUARD_SANDBOX_UNAVAILABLE=1 $run" 2>&1 | grep -vE '^\s*$'
