#!/usr/bin/env bash
# Start to first frame, and peak memory with a 10 MB state, measured on the
# release binary inside a real terminal (a detached tmux pane), because the
# TUI needs a tty. Needs tmux, hyperfine and GNU time (Debian packages).
#
#     benches/startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in tmux hyperfine /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install tmux hyperfine time)" >&2; exit 2; }
done
cargo build --release --quiet
bin=$PWD/target/release/stepguard
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 10 MB of pasted state, the shape people paste.
python3 - "$tmp/state-10mb.txt" <<'PY'
import sys
line = "payments   checkout-7d9f8c6b5-xk2lq   0/1   CrashLoopBackOff   17 (2m ago)   41m   10.0.3.17   node-a\n"
with open(sys.argv[1], "w") as f:
    f.write("log_dir: demo/var/log/checkout\n")
    f.write(line * (10 * 1024 * 1024 // len(line) + 1))
PY

sock="stepguard-bench-$$"
script="$tmp/in-pane.sh"
cat > "$script" <<SH
cd "$PWD"
export STEPGUARD_EXIT_AFTER_FIRST_FRAME=1
# Each run is a real session (written and synced before the first frame),
# kept out of the user's own state directory.
export STEPGUARD_STATE_DIR="$tmp/state"
hyperfine -N --warmup 5 --runs 100 --prepare "rm -rf $tmp/state" --export-json "$tmp/first-frame.json" \
  "$bin run demo-checkout-logs --state demo/state.txt" \
  "$bin run demo-checkout-logs --state $tmp/state-10mb.txt" >/dev/null 2>&1
/usr/bin/time -v "$bin" run demo-checkout-logs --state "$tmp/state-10mb.txt" 2> "$tmp/time.txt" >/dev/null
tmux -L "$sock" wait-for -S done
SH
tmux -L "$sock" -f /dev/null new-session -d -x 120 -y 40 "bash $script"
tmux -L "$sock" wait-for done
tmux -L "$sock" kill-server 2>/dev/null || true

python3 - "$tmp/first-frame.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    t = sorted(r["times"])
    p = lambda q: t[min(len(t) - 1, round(q * (len(t) - 1)))] * 1000
    print(f"start→first frame  {r['command'].split('--state ')[1]:<40} mean {r['mean']*1000:6.2f} ms  p50 {p(.5):6.2f} ms  p99 {p(.99):6.2f} ms")
PY
awk -F': ' '/Maximum resident set size/ {printf "peak RSS with a 10 MB state: %.1f MiB\n", $2/1024}' "$tmp/time.txt"
