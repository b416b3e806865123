#!/usr/bin/env python3
"""Fit the lexical matcher's weights (src/matching.rs: WEIGHTS, NONE_BIAS,
NONE_UNKNOWN) on the `tune` halves only.

    scripts/fit-matcher.py --openshift CHECKOUT/alerts [--bin target/release/stepguard]

The model is a conditional logit: for a query, each of the ten best
candidate runbooks scores w·f (f: the features `stepguard eval --features`
prints), "none of them" scores b0 + b1·unknown (the share of the query's
weight in words the catalogue does not use), and a runbook's confidence is
its softmax probability. It is fitted by maximum likelihood (L2 0.01, every weight of a feature kept
at zero or more, so more evidence never lowers a runbook's score) on:

- eval/prometheus-operator/tune and eval/prometheus-operator/descriptions/tune
  (tests/fixtures/prometheus-operator-runbooks),
- eval/openshift/tune (a checkout of openshift/runbooks, `alerts/`),
- eval/scenarios (the bundled runbooks).

A scenario decided by an alert's name or link is left out (the lexical model
does not decide it). A scenario expecting no runbook weighs more than one
expecting a runbook, as a false match is worse than an escalation: the
weight is the smallest of 2, 4, 6, 8, 12 under which every tune scenario
expecting no runbook stays under 0.4 (a margin under the threshold for
what tune does not show). The held-out halves are read only with
--report, after the fit.
Prints the constants to paste, and the fit's log-likelihood.
"""

import argparse
import json
import math
import subprocess
import sys

TOP = 10
L2 = 0.01
NEGATIVES = [2.0, 4.0, 6.0, 8.0, 12.0]
# A tune scenario expecting no runbook must stay this far under 0.5.
MARGIN = 0.4


def features(binary, runbooks, scenarios):
    out = subprocess.run(
        [binary, "--runbooks", runbooks, "eval", scenarios, "--features"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        row = json.loads(line)
        if row["structural"]:
            continue
        cands = [(cid, [f[k] for k in KEYS]) for cid, f in row["lexical"]["candidates"]]
        rows.append((row["expect"], row["lexical"]["unknown"], cands, row["scenario"]))
    return rows


KEYS = ["coverage", "bm25", "query_in_name", "query_in_about", "name_in_query", "name_pairs", "words", "lead"]


def score(w, f):
    return sum(a * b for a, b in zip(w, f))


def step(rows, w, b, lr, negative):
    n = len(w)
    gw = [2 * L2 * x for x in w]
    gb = [2 * L2 * x for x in b]
    ll = 0.0
    for expect, unknown, cands, _ in rows:
        scored = sorted(((score(w, f), cid, f) for cid, f in cands), key=lambda t: -t[0])
        chosen = scored[:TOP]
        if expect is not None and not any(c[1] == expect for c in chosen):
            hit = [c for c in scored if c[1] == expect]
            if not hit:
                continue  # the runbook shares no word with the query
            chosen = chosen + hit
        none = b[0] + b[1] * unknown
        top = max([none] + [c[0] for c in chosen])
        exps = [math.exp(c[0] - top) for c in chosen]
        en = math.exp(none - top)
        z = en + sum(exps)
        weight = negative if expect is None else 1.0
        for (s, cid, f), e in zip(chosen, exps):
            p = e / z
            t = 1.0 if cid == expect else 0.0
            for k in range(n):
                gw[k] += weight * (p - t) * f[k]
            if t:
                ll += weight * math.log(max(p, 1e-300))
        pn = en / z
        tn = 1.0 if expect is None else 0.0
        gb[0] += weight * (pn - tn)
        gb[1] += weight * (pn - tn) * unknown
        if tn:
            ll += weight * math.log(max(pn, 1e-300))
    m = len(rows)
    # Projected: no weight below zero, so more evidence for a runbook never
    # lowers its score.
    w = [max(0.0, x - lr * g / m) for x, g in zip(w, gw)]
    b = [x - lr * g / m for x, g in zip(b, gb)]
    return w, b, ll


REPORT = [
    ("tests/fixtures/prometheus-operator-runbooks", "eval/prometheus-operator/tune"),
    ("tests/fixtures/prometheus-operator-runbooks", "eval/prometheus-operator/held-out"),
    ("tests/fixtures/prometheus-operator-runbooks", "eval/prometheus-operator/descriptions/tune"),
    ("tests/fixtures/prometheus-operator-runbooks", "eval/prometheus-operator/descriptions/held-out"),
    ("tests/fixtures/prometheus-operator-runbooks", "eval/prometheus-operator/no-runbook"),
    (None, "eval/openshift/tune"),
    (None, "eval/openshift/held-out"),
    (None, "eval/openshift/approximate"),
    (None, "eval/openshift/no-runbook"),
    ("runbooks", "eval/scenarios"),
]


def report(name, rows, w, b, limit=0.5):
    """What the fitted model decides on the lexical scenarios of a set."""
    first = cleared = expecting = false = nones = 0
    for expect, unknown, cands, path in rows:
        scored = sorted(((score(w, f), cid) for cid, f in cands), key=lambda t: -t[0])
        none = b[0] + b[1] * unknown
        top = max([none] + [s for s, _ in scored[:1]])
        z = math.exp(none - top) + sum(math.exp(s - top) for s, _ in scored[:TOP])
        best = scored[0] if scored else (None, None)
        p = min(0.9, math.exp(best[0] - top) / z) if scored else 0.0
        # As src/matching.rs: one word of the query is never enough.
        words = dict(cands).get(best[1], [0] * len(KEYS))[KEYS.index("words")] if scored else 0
        if words < 0.4:
            p *= 0.5
        if expect is None:
            nones += 1
            false += p >= limit
            if p >= limit:
                print(f"  false match {best[1]} {p:.2f}: {path}", file=sys.stderr)
        else:
            expecting += 1
            first += best[1] == expect
            cleared += best[1] == expect and p >= 0.5
    print(
        f"{name}: lexical {len(rows)}: first {first}/{expecting}, first and ≥ 0.5 "
        f"{cleared}/{expecting}, at {limit} or more with none expected {false}/{nones}",
        file=sys.stderr,
    )
    return false


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--openshift", required=True, help="a checkout's alerts/ directory")
    ap.add_argument("--bin", default="target/release/stepguard")
    ap.add_argument("--steps", type=int, default=1500, help="gradient steps (the constants in src/matching.rs are 1500)")
    ap.add_argument(
        "--report",
        action="store_true",
        help="after fitting, score the lexical scenarios of every set, held-out too",
    )
    args = ap.parse_args()
    po = "tests/fixtures/prometheus-operator-runbooks"
    rows = []
    for runbooks, scenarios in [
        (po, "eval/prometheus-operator/tune"),
        (po, "eval/prometheus-operator/descriptions/tune"),
        (args.openshift, "eval/openshift/tune"),
        ("runbooks", "eval/scenarios"),
    ]:
        part = features(args.bin, runbooks, scenarios)
        print(f"{scenarios}: {len(part)} lexical scenarios", file=sys.stderr)
        rows += part
    for negative in NEGATIVES:
        w = [5.0] + [0.0] * (len(KEYS) - 1)
        b = [0.0, 0.0]
        for i in range(args.steps):
            w, b, ll = step(rows, w, b, 2.0, negative)
        false = report("tune", rows, w, b, MARGIN)
        print(f"no-match weight {negative}: log-likelihood {ll:.2f}, {false} tune scenarios expecting none at {MARGIN} or more", file=sys.stderr)
        if false == 0:
            break
    if args.report:
        for runbooks, scenarios in REPORT:
            runbooks = args.openshift if runbooks is None else runbooks
            report(scenarios, features(args.bin, runbooks, scenarios), w, b)
    print("const WEIGHTS: [f64; FEATURES] = [" + ", ".join(f"{x:.3f}" for x in w) + "];")
    print(f"const NONE_BIAS: f64 = {b[0]:.3f};")
    print(f"const NONE_UNKNOWN: f64 = {b[1]:.3f};")


if __name__ == "__main__":
    main()
