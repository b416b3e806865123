#!/usr/bin/env bash
# Every benchmark in one run, on an idle machine, with the figures the
# README's performance table quotes:
#
#   start to first frame and peak RSS (benches/startup.sh, tmux + hyperfine),
#   peak RSS of a 50 MiB paste, model path and real screen (benches/paste_memory.sh),
#   a pre-flight with and without the Landlock sandbox (benches/sandbox.sh),
#   keypress to frame under a 10 MB paste and 50 MB of output (tui),
#   guard throughput (guard), match latency over 10,000 runbooks (matching),
#   the draft path against a local OpenAI-compatible server (prefetch, peer),
#   and a Python LLM command line, shell-gpt, against the same server (peer).
#
#     scripts/bench.sh            # everything: ~4 minutes on 2 cores once built
#     scripts/bench.sh peer tui   # some of: startup paste sandbox tui guard matching prefetch peer
#
# Installs what it needs from Debian (tmux, hyperfine, time, python3-venv) if
# missing, and shell-gpt into target/bench/sgpt-venv (typer==0.22.0 pinned:
# newer typer breaks shell-gpt 1.5). Output also goes to target/bench/results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
out=$target/bench
mkdir -p "$out"

need() {
  local missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
need tmux:tmux hyperfine:hyperfine /usr/bin/time:time python3:python3

venv=$out/sgpt-venv
if [ ! -x "$venv/bin/sgpt" ]; then
  python3 -m venv "$venv" 2>/dev/null || { need_venv=1; }
  if [ "${need_venv:-0}" = 1 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q 'shell-gpt==1.5.1' 'typer==0.22.0'
fi

load=$(cut -d' ' -f1 /proc/loadavg)
echo "# stepguard benchmarks, $(date -u +%FT%TZ), $(nproc) cores, load $load"
echo "# $(rustc --version); shell-gpt $("$venv/bin/pip" show shell-gpt 2>/dev/null | awk '/^Version/ {print $2}')"
if awk -v l="$load" 'BEGIN {exit !(l > 0.5)}'; then
  echo "# warning: the machine is not idle (load $load); figures will be noisy"
fi

all=(startup paste sandbox tui guard matching prefetch peer)
[ "$#" -gt 0 ] && selected=("$@") || selected=("${all[@]}")

run() {
  case $1 in
    startup) benches/startup.sh ;;
    paste) benches/paste_memory.sh ;;
    sandbox) benches/sandbox.sh ;;
    tui | matching | prefetch) cargo bench --quiet --bench "$1" 2>/dev/null ;;
    # Criterion's own lines: the throughput is the figure the table quotes.
    guard) cargo bench --quiet --bench guard -- --noplot 2>/dev/null | grep -E '^guard/|thrpt' | grep -v '%' ;;
    peer) SGPT=$venv/bin/sgpt cargo bench --quiet --bench peer 2>/dev/null ;;
    *) echo "unknown benchmark: $1 (one of: ${all[*]})" >&2; return 2 ;;
  esac
}

{
  for b in "${selected[@]}"; do
    echo
    echo "## $b"
    run "$b"
  done
} 2>&1 | tee "$out/results.txt"
