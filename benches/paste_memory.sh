#!/usr/bin/env bash
# Peak memory of a large bracketed paste (50 MiB unless given), release
# build, /usr/bin/time -v "Maximum resident set size", two ways:
#
#   model path   examples/paste_memory: the paste as the terminal reader hands
#                it over (Msg::Paste), the state dialog, Enter keeping it, the
#                session writing state.txt, frames drawn; the same code the
#                screen runs, without the terminal reader;
#   real screen  the release binary in a tmux pane, the paste sent by
#                `tmux paste-buffer -p` (a real bracketed paste: stepguard's
#                terminal reader included), then Enter and q.
#
# Each is shown beside its baseline: the same run without a paste.
# Needs tmux and GNU time (Debian packages).
#
#     benches/paste_memory.sh [MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in tmux /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install tmux time python3)" >&2; exit 2; }
done
mib=${1:-50}
cargo build --release --quiet --example paste_memory --bin stepguard
target=${CARGO_TARGET_DIR:-$PWD/target}
bin=$target/release/stepguard
example=$target/release/examples/paste_memory
tmp=$(mktemp -d)
sock="stepguard-paste-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; sleep 0.2; rm -rf "$tmp"' EXIT

peak() { awk -F': ' '/Maximum resident set size/ {printf "%.1f MiB", $2/1024}' "$1"; }

/usr/bin/time -v "$example" 0 >/dev/null 2>"$tmp/model-base.txt"
/usr/bin/time -v "$example" "$mib" >"$tmp/model.out" 2>"$tmp/model.txt"
echo "model path, ${mib} MiB paste kept and saved: peak RSS $(peak "$tmp/model.txt") (without a paste: $(peak "$tmp/model-base.txt"))"

# The paste, LF line ends (tmux sends them as CR, as a terminal does).
python3 - "$tmp/paste.txt" "$mib" <<'PY'
import sys
line = "payments   checkout-7d9f8c6b5-xk2lq   0/1   CrashLoopBackOff   17 (2m ago)   41m   10.0.3.17   node-a\n"
size = int(sys.argv[2]) * 1024 * 1024
with open(sys.argv[1], "w") as f:
    head = "log_dir: demo/var/log/checkout\n"
    f.write(head)
    f.write(line * ((size - len(head)) // len(line)))
PY

# One pane per run: $1 names the run; with a paste when $2 is set.
screen_run() {
  local name=$1 paste=${2:-}
  cat > "$tmp/$name.sh" <<SH
cd "$PWD"
export STEPGUARD_STATE_DIR="$tmp/state-$name" STEPGUARD_CONFIG=/dev/null OPENAI_API_KEY= OPENAI_BASE_URL=
/usr/bin/time -v "$bin" run demo-checkout-logs --offline 2> "$tmp/time-$name.txt"
tmux -L "$sock" wait-for -S "$name"
SH
  tmux -L "$sock" -f /dev/null new-session -d -s "$name" -x 120 -y 40 "bash $tmp/$name.sh"
  wait_screen "$name" "step 1/"
  if [ -n "$paste" ]; then
    tmux -L "$sock" load-buffer -b big "$tmp/paste.txt"
    tmux -L "$sock" paste-buffer -p -d -b big -t "$name"
    wait_screen "$name" "bytes received"
    tmux -L "$sock" send-keys -t "$name" Enter
    wait_screen "$name" "state replaced"
  fi
  tmux -L "$sock" send-keys -t "$name" q
  tmux -L "$sock" wait-for "$name"
}

wait_screen() {
  for _ in $(seq 1200); do
    local screen
    screen=$(tmux -L "$sock" capture-pane -p -t "$1" 2>/dev/null) || break
    grep -qF "$2" <<<"$screen" && return 0
    sleep 0.1
  done
  echo "gave up waiting for '$2' in the $1 pane" >&2
  cat "$tmp/time-$1.txt" >&2 2>/dev/null || true
  exit 1
}

screen_run base
screen_run paste yes
echo "real screen, ${mib} MiB bracketed paste kept and saved: peak RSS $(peak "$tmp/time-paste.txt") (without a paste: $(peak "$tmp/time-base.txt"))"
