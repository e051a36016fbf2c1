#!/usr/bin/env bash
# Runs a load test on loopback: builds the release binary, starts the provider simulator and
# the engine on a fresh data directory, provisions an association with credentials pointing
# at the simulator, drives the signed webhook, prints the figures, and stops everything.
#
#   load-tests/run.sh [loadgen] [DURATION_SECS] [CONCURRENCY]
#
# `loadgen` (the default) uses `jood loadgen`, a light Rust generator of uniquely signed
# requests, and reports accepted req/s, latency percentiles and messages delivered to the
# simulator per second (from its counters).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-loadgen}
DURATION=${2:-20}
CONCURRENCY=${3:-64}
ENGINE_PORT=${ENGINE_PORT:-18080}
SIM_PORT=${SIM_PORT:-19090}
SIM_LATENCY_MS=${SIM_LATENCY_MS:-5}

cargo build --release --quiet
BIN=target/release/jood
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

export JOOD_MASTER_KEY=$($BIN keygen)
export JOOD_ADMIN_KEY=load-admin-$RANDOM$RANDOM

$BIN sim --addr 127.0.0.1:$SIM_PORT --settings "{\"record_requests\":0,\"latency_ms\":$SIM_LATENCY_MS}" >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
$BIN serve --config load-tests/engine.toml --http-addr 127.0.0.1:$ENGINE_PORT --data-dir "$WORK/data" >"$WORK/engine.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:$ENGINE_PORT/healthz >/dev/null && curl -sf http://127.0.0.1:$SIM_PORT/_sim/stats >/dev/null && break
  sleep 0.1
done

api() { curl -sf -X "$1" "http://127.0.0.1:$ENGINE_PORT$2" -H "x-api-key: $3" -H "x-api-secret: $4" -H 'Content-Type: application/json' -d "$5"; }
CREATED=$(api POST /api/v1/associations "$JOOD_ADMIN_KEY" "$JOOD_ADMIN_KEY" '{"id":1,"name":"Load"}')
KEY=$(echo "$CREATED" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["association"]["apiKey"])')
SECRET=$(echo "$CREATED" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["association"]["secretKey"])')
api POST /api/v1/associations/1/credentials "$KEY" "$SECRET" \
  "{\"providerId\":7,\"senderName\":\"JOOD\",\"credentials\":{\"accountSid\":\"ACload\",\"authToken\":\"t\"},\"apiUrl\":\"http://127.0.0.1:$SIM_PORT\",\"isDefault\":true}" >/dev/null
api POST /api/v1/associations/1/credentials "$KEY" "$SECRET" \
  "{\"providerId\":6,\"senderName\":\"JOOD\",\"credentials\":{\"apiKey\":\"IBload\"},\"apiUrl\":\"http://127.0.0.1:$SIM_PORT\"}" >/dev/null

echo "== $MODE: ${DURATION}s, $CONCURRENCY connections, simulator latency ${SIM_LATENCY_MS} ms, on $(nproc) cores"
case "$MODE" in
  loadgen)
    $BIN loadgen --url http://127.0.0.1:$ENGINE_PORT --association-id 1 --secret "$SECRET" \
      --concurrency "$CONCURRENCY" --duration-secs "$DURATION" --sim-url http://127.0.0.1:$SIM_PORT --drain-secs 60
    ;;
  *)
    echo "unknown mode $MODE (expected: loadgen)"; exit 2 ;;
esac
echo "== engine RSS: $(ps -o rss= -p "${PIDS[1]}" | awk '{printf "%.0f MB", $1/1024}')"
