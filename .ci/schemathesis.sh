#!/usr/bin/env bash
# Schemathesis against the running engine: every operation of GET /api/v1/openapi.json,
# fixed seed, bounded in examples and time, with the auth hooks of .ci/schemathesis_hooks.py
# (API keys, super-admin key, dashboard session + CSRF, HMAC-signed webhooks). Fails on any
# 5xx, any status code or content type the document does not list, and any response body
# outside its documented schema.
#
#   bash .ci/schemathesis.sh            # uses target/debug/jood (built if missing)
#   ENGINE_BIN=target/release/jood FUZZ_EXAMPLES=50 FUZZ_MAX_TIME=600 bash .ci/schemathesis.sh
#   bash .ci/schemathesis.sh --include-path /api/v1/templates   # extra arguments go to schemathesis
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v schemathesis >/dev/null 2>&1; then
  echo "schemathesis.sh: SKIPPED: schemathesis is not installed (pip install schemathesis)"
  exit 0
fi
BIN="${ENGINE_BIN:-target/debug/jood}"
[ -x "$BIN" ] || cargo build --locked --quiet --bin jood
EXAMPLES="${FUZZ_EXAMPLES:-10}"
MAX_TIME="${FUZZ_MAX_TIME:-240}"
SEED="${FUZZ_SEED:-20261201}"

# One worker: hypothesis describing strategies from several threads at once trips CPython
# 3.11's "AST constructor recursion depth mismatch" (a tool error, not a finding).
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
ADMIN_KEY="fuzz-super-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
OPERATOR=fuzzop
OPERATOR_PASSWORD="fuzz-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

SIM_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" sim --addr "127.0.0.1:$SIM_PORT" >"$WORK/sim.log" 2>&1 &
SIM=$!

# Callbacks may target the loopback sink the hooks force every URL to (nothing else).
JOOD_MASTER_KEY="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" JOOD_ADMIN_KEY="$ADMIN_KEY" \
JOOD_OPERATOR_USERNAME="$OPERATOR" JOOD_OPERATOR_PASSWORD="$OPERATOR_PASSWORD" \
JOOD__CALLBACKS__ALLOW_PRIVATE_TARGETS=true JOOD__RATE_LIMIT__ENABLED=false \
  "$BIN" serve --http-addr "127.0.0.1:$PORT" --grpc-addr 127.0.0.1:0 --data-dir "$WORK/data" >"$WORK/engine.log" 2>&1 &
ENGINE=$!
# FUZZ_KEEP=DIR keeps the engine log and the reports there.
cleanup() {
  kill "$ENGINE" "$SIM" 2>/dev/null || true; wait "$ENGINE" "$SIM" 2>/dev/null || true
  if [ -n "${FUZZ_KEEP:-}" ]; then mkdir -p "$FUZZ_KEEP" && cp -r "$WORK/engine.log" "$WORK/report" "$FUZZ_KEEP/" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && curl -s -o /dev/null "http://127.0.0.1:$SIM_PORT/_sim/stats" && break; sleep 0.1; done

ASSOC_ID=4242
CREATED="$(curl -sf -X POST "$BASE/api/v1/associations" -H "x-api-key: $ADMIN_KEY" -H "x-api-secret: $ADMIN_KEY" \
  -H 'Content-Type: application/json' -d "{\"id\":$ASSOC_ID,\"name\":\"Fuzz\"}")"
field() { python3 -c "import json,sys; d=json.load(sys.stdin)['data']; print($1)" <<<"$CREATED"; }

export JOOD_FUZZ_BASE="$BASE" JOOD_FUZZ_SIM="http://127.0.0.1:$SIM_PORT" JOOD_FUZZ_ADMIN_KEY="$ADMIN_KEY" JOOD_FUZZ_ASSOC_ID="$ASSOC_ID" \
  JOOD_FUZZ_API_KEY="$(field "d['association']['apiKey']")" JOOD_FUZZ_SECRET_KEY="$(field "d['association']['secretKey']")" \
  JOOD_FUZZ_OPERATOR="$OPERATOR" JOOD_FUZZ_OPERATOR_PASSWORD="$OPERATOR_PASSWORD"
export SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$PWD/.ci${PYTHONPATH:+:$PYTHONPATH}"
# Run from the scratch directory: schemathesis keeps a .schemathesis/ cache in the current one.
cd "$WORK"

set +e
schemathesis run "$BASE/api/v1/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing --max-examples "$EXAMPLES" --max-time "$MAX_TIME" --seed "$SEED" \
  --workers 1 --request-timeout 30 --suppress-health-check all --no-color \
  --report junit --report-dir "$WORK/report" "$@" 2>&1 | tee "$WORK/run.log"
RC=${PIPESTATUS[0]}
set -e
if [ "$RC" -ne 0 ]; then
  echo "schemathesis.sh: FAILED (exit $RC); engine log tail:"
  tail -n 40 "$WORK/engine.log"
  exit "$RC"
fi
echo "schemathesis.sh: passed (seed $SEED, up to $EXAMPLES examples per operation)"
