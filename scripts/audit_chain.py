"""How stepguard hashes an audit line, for scripts that write one (the
end-to-end tests craft and rewrite lines with it): sha256 of the compact
JSON of seq, ts_ms, kind, data (object keys sorted) and prev, in that order
(src/session/audit.rs, `line_hash`)."""

import hashlib
import json


def canon(v):
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canon(v[k]) for k in sorted(v)) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def line_hash(seq, ts_ms, kind, data, prev):
    body = '{"seq":%d,"ts_ms":%d,"kind":%s,"data":%s,"prev":%s}' % (
        seq, ts_ms, json.dumps(kind), canon(data), json.dumps(prev))
    return hashlib.sha256(body.encode()).hexdigest()


def write_line(f, line):
    f.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
