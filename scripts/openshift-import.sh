#!/usr/bin/env bash
# How OpenShift's runbooks import: every Markdown runbook under DIR (a
# checkout of https://github.com/openshift/runbooks, or its alerts/ folder)
# through `stepguard check` and `stepguard import`, with the totals: runbooks,
# steps, guarded pre-flights, commands kept as prose (refused or not runnable)
# and discovery steps (`VAR=$(…)`).
#
#   git clone https://github.com/openshift/runbooks /tmp/openshift-runbooks
#   scripts/openshift-import.sh /tmp/openshift-runbooks/alerts
set -euo pipefail
dir=${1:?usage: scripts/openshift-import.sh DIR}
bin=${STEPGUARD:-$(dirname "$0")/../target/release/stepguard}
[ -x "$bin" ] || bin=$(command -v stepguard)
"$bin" check "$dir"
runbooks=0 steps=0 preflights=0 prose=0 discovery=0
while IFS= read -r -d '' f; do
    # The files `check` loads from a folder: a `# Title` and a `## Section`.
    grep -q '^# ' "$f" && grep -q '^## ' "$f" || continue
    yaml=$("$bin" import "$f" 2>/dev/null) || continue
    runbooks=$((runbooks + 1))
    steps=$((steps + $(grep -c '^- id:' <<<"$yaml" || true)))
    preflights=$((preflights + $(grep -c '^  preflight:' <<<"$yaml" || true)))
    prose=$((prose + $(grep -c 'not run by stepguard' <<<"$yaml" || true)))
    discovery=$((discovery + $(grep -c 'Its output is the value of' <<<"$yaml" || true)))
done < <(find "$dir" -name '*.md' ! -iname 'readme.md' ! -name '_index.md' ! -name SOURCE.md -print0 | sort -z)
echo "runbooks=$runbooks steps=$steps preflights=$preflights commands_as_prose=$prose discovery_steps=$discovery"
