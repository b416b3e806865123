#!/usr/bin/env python3
"""Drafting eval: every step of each case in eval/drafting/cases.json drafted
through an OpenAI-compatible endpoint with `stepguard draft --json`, and the
rates printed. Standard library only. Needs OPENAI_BASE_URL (and
STEPGUARD_MODEL, OPENAI_API_KEY as the endpoint wants). Run from anywhere:

    scripts/draft-eval.py [--json] [--offline] [--stepguard PATH]

Each draft runs with a fresh state directory, so the model is asked, never
the cache. With --offline it scores the offline cards (what code finds in
the state, no model) for comparison. Exit status 1 when a value the model proposed without evidence
reached a runnable command, or a junk part reached a card.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stepguard_bin(args):
    if "--stepguard" in args:
        return args[args.index("--stepguard") + 1]
    built = os.path.join(REPO, "target", "release", "stepguard")
    if not os.path.exists(built):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    return built


def steps_of(binary, runbook):
    out = subprocess.run([binary, "import", runbook] if runbook.endswith(".md") else
                         ["cat", os.path.join(REPO, "runbooks", runbook + ".yaml")],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    # Step ids are the lines "- id: X" at the steps' indentation.
    return [l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("  - id:") or l.startswith("- id:")]


def draft(binary, runbook, step, state, offline):
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, STEPGUARD_STATE_DIR=home, STEPGUARD_CONFIG="/dev/null")
        extra = ["--offline"] if offline else []
        p = subprocess.run([binary, "draft", runbook, "--step", step, "--state", state, "--json"] + extra,
                           cwd=REPO, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        return None, p.stderr.strip()
    return json.loads(p.stdout), p.stderr.strip()


def model_value(v):
    """The value the model proposed for this variable, if any, and whether it is the one in use."""
    for c in v.get("candidates", []):
        if (c.get("evidence") or {}).get("source") == "model":
            used = v.get("value") == c["value"] and (v.get("evidence") or {}).get("source") == "model"
            return c["value"], used and v.get("verified", False)
    return None, False


def main():
    args = sys.argv[1:]
    binary = stepguard_bin(args)
    cases = json.load(open(os.path.join(REPO, "eval", "drafting", "cases.json")))
    rows = []
    violations = []
    for case in cases:
        rb, state = case["runbook"], case["state"]
        for step in steps_of(binary, rb):
            card, err = draft(binary, rb, step, state, "--offline" in args)
            if card is None:
                violations.append(f"{rb} {step}: stepguard failed: {err[:200]}")
                continue
            m = card.get("draft")
            used = m is not None and not any(f.startswith("model draft not used") or f.startswith("model unavailable") for f in card["flags"])
            row = {"runbook": rb, "step": step, "metrics": m, "used": used,
                   "correct": 0, "verified": 0, "wrong": 0, "asked": 0,
                   "expected": 0, "on_card": 0}
            # What the card holds, model or not: the expected values it shows verified.
            for v in card["values"]:
                expected = case["expect"].get(v["name"])
                if expected is not None:
                    row["expected"] += 1
                    row["on_card"] += int(v.get("value") == expected and v.get("verified", False))
            for v in card["values"]:
                proposed, verified = model_value(v)
                expected = case["expect"].get(v["name"])
                if proposed is None:
                    continue
                row["asked"] += 1
                if expected is not None and proposed == expected:
                    row["correct"] += 1
                elif expected is not None:
                    row["wrong"] += 1
                if verified:
                    row["verified"] += 1
                # A suggestion is never rendered into a command that runs.
                if not verified:
                    for check in (card.get("preflight"), card.get("verify")):
                        if check and check.get("runnable") and v.get("value") == proposed and proposed in check["command"]:
                            violations.append(f"{rb} {step}: unverified {v['name']}={proposed} in runnable {check['command']}")
            # Junk never reaches a card: stale flags name an assumption, notes are words.
            for s in card.get("stale", []):
                if " — " not in s:
                    violations.append(f"{rb} {step}: stale flag without a reason: {s}")
            rows.append(row)
    answered = [r for r in rows if r["metrics"]]
    fresh = [r["metrics"]["latency_ms"] for r in answered if not r["metrics"]["cached"]]
    lat = sorted(fresh)
    summary = {
        "steps": len(rows),
        "replies": len(answered),
        "contract_keys": sum(r["metrics"]["contract_keys"] for r in answered),
        "drafts_used": sum(r["used"] for r in rows),
        "cut_at_cap": sum(r["metrics"].get("finish_reason") == "length" for r in answered),
        "values_proposed": sum(r["asked"] for r in rows),
        "values_correct": sum(r["correct"] for r in rows),
        "values_verified": sum(r["verified"] for r in rows),
        "values_wrong": sum(r["wrong"] for r in rows),
        "parts_rejected": sum(len(r["metrics"].get("rejected", [])) for r in answered),
        "values_expected": sum(r["expected"] for r in rows),
        "values_on_card": sum(r["on_card"] for r in rows),
        "completion_tokens_mean": round(statistics.mean([r["metrics"]["completion_tokens"] for r in answered]), 1) if answered else 0,
        "prompt_tokens_mean": round(statistics.mean([r["metrics"]["prompt_tokens"] or 0 for r in answered]), 1) if answered else 0,
        "latency_ms_mean": round(statistics.mean(lat)) if lat else 0,
        "latency_ms_p95": lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else 0,
        "response_formats": sorted({r["metrics"]["response_format"] for r in answered}),
        "violations": violations,
    }
    if "--json" in args:
        print(json.dumps({"summary": summary, "rows": rows}, indent=1))
    else:
        pct = lambda a, b: f"{100 * a / b:.0f} %" if b else "n/a"
        s = summary
        print(f"steps drafted          {s['steps']} ({s['replies']} replies)")
        print(f"contract's keys        {s['contract_keys']}/{s['replies']} ({pct(s['contract_keys'], s['replies'])})")
        print(f"drafts used            {s['drafts_used']}/{s['steps']} ({pct(s['drafts_used'], s['steps'])})")
        print(f"cut at the cap         {s['cut_at_cap']}")
        print(f"values proposed        {s['values_proposed']}: correct {s['values_correct']}, verified {s['values_verified']}, wrong {s['values_wrong']}")
        print(f"parts rejected         {s['parts_rejected']}")
        print(f"values on the cards    {s['values_on_card']}/{s['values_expected']} expected values shown verified")
        print(f"tokens (mean)          prompt {s['prompt_tokens_mean']}, completion {s['completion_tokens_mean']}")
        print(f"latency                mean {s['latency_ms_mean']} ms, p95 {s['latency_ms_p95']} ms")
        print(f"response format        {', '.join(s['response_formats'])}")
        print(f"junk on a card         {len(violations)}")
        for v in violations:
            print(f"  {v}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
