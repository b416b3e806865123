#!/usr/bin/env python3
"""How many prompted diagnosis commands of OpenShift's runbooks become guarded
pre-flights: every `$ ` line (and `# ` line before a known program, a root
shell) in a fenced shell block under `## Diagnosis`, continuations joined,
compared with the pre-flights `stepguard import` makes of the same file
(placeholders on both sides read as one word).

    scripts/openshift-prompted.py /tmp/openshift-runbooks/alerts [STEPGUARD]

Needs python3 with PyYAML; reads only the directory given.
"""
import pathlib
import re
import subprocess
import sys

import yaml

ROOT = pathlib.Path(sys.argv[1])
BIN = sys.argv[2] if len(sys.argv) > 2 else "stepguard"
PROGRAMS = {"oc", "kubectl", "etcdctl", "crictl", "curl", "jq", "virtctl", "podman",
            "systemctl", "journalctl", "chroot", "openssl", "grep", "cat", "ls", "ps"}
FENCE = re.compile(r"^\s*```\s*(\w*)")
DISCOVER = re.compile(r'^(?:export\s+)?[A-Za-z_]\w*="?\$\((.*)\)"?$')


def prompted(text):
    """The prompted commands of the Diagnosis section."""
    section, fence, out, cont = None, None, [], False
    for line in text.splitlines():
        if not fence and line.startswith("## "):
            section = line[3:].strip().lower()
        m = FENCE.match(line)
        if m:
            fence = None if fence is not None else m.group(1).lower()
            continue
        if fence is None or section != "diagnosis" or fence not in ("", "bash", "console", "shell", "sh"):
            continue
        t = line.strip()
        if cont and out:
            out[-1] += " " + t.rstrip("\\").strip()
            cont = t.endswith("\\")
            continue
        cmd = None
        if t.startswith("$ "):
            cmd = t[2:]
        elif t.startswith("# ") and t[2:].split()[:1] and t[2:].split()[0] in PROGRAMS:
            cmd = t[2:]
        if cmd is not None:
            cont = cmd.endswith("\\")
            out.append(cmd.rstrip("\\").strip())
    return out


def norm(c):
    m = DISCOVER.match(c)
    c = m.group(1) if m else c
    c = re.sub(r"\{\{\s*\w+\s*\}\}|\$\{\w+\}|\$[A-Za-z_]\w*|<[A-Za-z][\w -]*>", "X", c)
    return " ".join(c.replace('"X"', "X").split())


total = hits = 0
for path in sorted(ROOT.rglob("*.md")):
    cmds = prompted(path.read_text(errors="replace"))
    if not cmds:
        continue
    res = subprocess.run([BIN, "import", str(path)], capture_output=True, text=True)
    runs = set()
    if res.returncode == 0:
        rb = yaml.safe_load(res.stdout)
        runs = {norm(s["preflight"]["run"]) for s in rb.get("steps", []) if s.get("preflight")}
    total += len(cmds)
    hits += sum(norm(c) in runs for c in cmds)
print(f"prompted_diagnosis_commands={total} guarded_preflights={hits}")
