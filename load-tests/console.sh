#!/usr/bin/env bash
# Does an open console cost the engine request rate? One engine (release build) and the
# simulator on loopback, as in run.sh; then three `jood loadgen` runs of DURATION seconds:
# without consoles, with three consoles open (console/tests/watch.mjs: three headless
# chromium sessions on the overview, campaigns and logs screens, polling as they do for a
# person), and without again (to show the run-to-run spread).
#
#   load-tests/console.sh [DURATION_SECS] [CONCURRENCY]
#
# Needs chromium and the console's npm packages (cd console && npm ci), like the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-20}
CONCURRENCY=${2:-64}
ENGINE_PORT=${ENGINE_PORT:-18180}
SIM_PORT=${SIM_PORT:-19190}

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/jood
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

export JOOD_MASTER_KEY=$($BIN keygen)
export JOOD_ADMIN_KEY=load-admin-$RANDOM$RANDOM
export JOOD_OPERATOR_USERNAME=watcher JOOD_OPERATOR_PASSWORD=watcher-password-$RANDOM

$BIN sim --addr 127.0.0.1:$SIM_PORT --settings '{"record_requests":0,"latency_ms":5}' >"$WORK/sim.log" 2>&1 &
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

# CPU seconds the engine has used so far (user + system): its cost per request, whatever else
# (the browsers) shares the cores.
cpu_secs() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }
loadgen() {
  local cpu0; cpu0=$(cpu_secs "${PIDS[1]}")
  $BIN loadgen --url http://127.0.0.1:$ENGINE_PORT --association-id 1 --secret "$SECRET" \
    --concurrency "$CONCURRENCY" --duration-secs "$DURATION" --sim-url http://127.0.0.1:$SIM_PORT --drain-secs 60 2>&1 | tee "$WORK/run.txt" | sed 's/^/    /'
  local n; n=$(grep -oE 'accepted \(200\): [0-9]+' "$WORK/run.txt" | grep -oE '[0-9]+$')
  python3 -c "c=$(cpu_secs "${PIDS[1]}")-$cpu0; print(f'    engine CPU: {c:.1f} s = {c*1e6/max(1,$n):.0f} µs per accepted request (sending and delivering included)')"
}
# The three consoles' dashboard requests without the browsers (as often as watch.mjs measured
# them), to tell the engine's own cost from the browsers' CPU on the same cores.
pollers() {
  local jar="$WORK/cookies" csrf
  csrf=$(curl -sf -c "$jar" -H 'Content-Type: application/json' -d "{\"username\":\"$JOOD_OPERATOR_USERNAME\",\"password\":\"$JOOD_OPERATOR_PASSWORD\"}" \
    http://127.0.0.1:$ENGINE_PORT/api/v1/dashboard/auth/login | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["csrfToken"])')
  local end=$((SECONDS + $1))
  while [ $SECONDS -lt $end ]; do
    for path in overview campaigns logs overview; do
      curl -sf -b "$jar" "http://127.0.0.1:$ENGINE_PORT/api/v1/dashboard/$path" >/dev/null || echo "poll $path failed"
    done
    sleep 1
  done
}

echo "== 1. no console: loadgen ${DURATION}s, ${CONCURRENCY} connections, on $(nproc) cores"
loadgen
echo "== 2. three consoles open"
node console/tests/watch.mjs "http://127.0.0.1:$ENGINE_PORT" "$JOOD_OPERATOR_USERNAME" "$JOOD_OPERATOR_PASSWORD" $((DURATION + 15)) 3 &
WATCH=$!
sleep 10   # the consoles are logged in and polling before the load starts
loadgen
wait "$WATCH" || echo "(a console saw a failed request)"
echo "== 3. no console again"
loadgen
echo "== 4. the consoles' requests without browsers (4 dashboard requests a second)"
pollers $((DURATION + 5)) &
POLL=$!
sleep 2
loadgen
wait "$POLL"
