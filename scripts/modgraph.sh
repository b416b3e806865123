#!/usr/bin/env bash
# The top-level module graph of the library in src/ (who names whom through
# `crate::x`, unit tests left out; the binary's main.rs and cli/ are not
# part of it), one line per module, lowest layer first. Exits 1, naming the
# modules, when the graph has a cycle.
set -euo pipefail
cd "$(dirname "$0")/../src"

edges=$(
  find . -name '*.rs' ! -path ./lib.rs ! -path ./main.rs ! -path './cli/*' | sort | while read -r f; do
    from=${f#./}
    from=${from%%/*}
    from=${from%.rs}
    # Everything from the first `#[cfg(test)]` on is a test module.
    sed '/#\[cfg(test)\]/,$d' "$f" | grep -o 'crate::[a-z_][a-z0-9_]*' |
      sed "s/^crate::/$from /" || true
  done | awk '$1 != $2' | sort -u
)

modules=$(find . -maxdepth 1 \( -name '*.rs' -o -type d \) ! -name . ! -name lib.rs ! -name main.rs ! -name cli |
  sed 's|^\./||; s|\.rs$||' | sort -u)
# tsort prints dependents first; reversed, each module comes after what it uses.
if ! order=$({ echo "$edges"; for m in $modules; do echo "$m $m"; done; } | tsort 2>/tmp/modgraph.$$); then
  cycle=$(grep -v 'input contains a loop' /tmp/modgraph.$$ | sed 's/^tsort: //' | tr '\n' ' ')
  rm -f /tmp/modgraph.$$
  echo "module graph has a cycle: $cycle" >&2
  exit 1
fi
rm -f /tmp/modgraph.$$
echo "$order" | tac | while read -r m; do
  uses=$(echo "$edges" | awk -v m="$m" '$1 == m {print $2}' | tr '\n' ' ')
  printf '%-10s -> %s\n' "$m" "${uses:-(leaf)}"
done
echo "$(echo "$modules" | wc -l) modules, $(echo "$edges" | grep -c .) edges, no cycle"
