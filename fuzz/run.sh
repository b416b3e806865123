#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 600), JOBS at a time
# (default 2), then merge what each found into its kept corpus and print one
# line per target: duration, executions, crashes.
#
#     fuzz/run.sh [SECONDS] [JOBS]
#     FUZZ_TARGETS="guard_line sanitize" fuzz/run.sh 60   # some of them
#
# Needs a nightly toolchain and cargo-fuzz:
#     rustup toolchain install nightly && cargo install cargo-fuzz --locked
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
jobs=${2:-2}
read -ra targets <<<"${FUZZ_TARGETS:-yaml_runbook markdown_runbook guard_line sanitize alert_payload redact_text}"
logs=logs
mkdir -p "$logs"
cargo +nightly fuzz build -O >/dev/null

run_one() {
  local t=$1 new="$logs/$1.new"
  rm -rf "$new" && mkdir -p "$new" "corpus/$t"
  # New inputs go to a scratch directory, so the kept corpus only grows by
  # the merge below (which keeps one input per new coverage feature).
  cargo +nightly fuzz run -O "$t" "$new" "corpus/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$logs/$t.log" 2>&1 || true
  cargo +nightly fuzz run -O "$t" "corpus/$t" "$new" -- -merge=1 >"$logs/$t.merge.log" 2>&1 || true
  rm -rf "$new"
}

running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

status=0
printf '%-18s %8s %14s %8s %8s\n' target seconds executions crashes corpus
for t in "${targets[@]}"; do
  log="$logs/$t.log"
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
  crashes=$(ls "artifacts/$t" 2>/dev/null | grep -c '^\(crash\|oom\|timeout\|leak\)-' || true)
  if grep -q 'SUMMARY: libFuzzer' "$log"; then status=1; fi
  [ "$crashes" = 0 ] || status=1
  printf '%-18s %8s %14s %8s %8s\n' "$t" "$seconds" "${execs:-?}" "$crashes" "$(ls "corpus/$t" | wc -l)"
done
exit $status
