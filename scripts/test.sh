#!/usr/bin/env bash
# Every test, on a fresh machine: installs what the tests start (Debian's
# packages, when missing and apt is there), then the unit, integration and
# end-to-end tests, the bundled runbooks' check and the module layering.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
# Clock jumps, end to end (libfaketime), and `sessions` as another user (setpriv).
command -v faketime >/dev/null 2>&1 || need_apt+=(faketime)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # --no-install-recommends: only the binaries the end-to-end tests start.
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "scripts/test.sh: the end-to-end tests need ${need_apt[*]}: install them (as root, this script does it with apt-get)" >&2
    exit 2
  fi
fi

scripts/modgraph.sh >/dev/null
cargo test --locked
# The bundled runbooks and the demo stay valid.
cargo run --quiet --locked -- check runbooks/
# The walk against real Redis, PostgreSQL and Alertmanager (installs them too).
scripts/e2e.sh
