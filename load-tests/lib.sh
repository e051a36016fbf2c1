# Shared by the load-test scripts (sourced, not run): build the release binary, start the
# provider simulator and the engine on loopback on a fresh data directory, provision one
# association with a Twilio credential (and optionally an Infobip one) pointing at the
# simulator, read a process's CPU seconds, and stop everything on exit.
#
# The caller sets ENGINE_PORT, SIM_PORT and, optionally, SIM_LATENCY_MS, ENGINE_BIN and
# SIM_SETTINGS (JSON, default {"record_requests":0,"latency_ms":SIM_LATENCY_MS}) before
# `load_start`; afterwards BIN, WORK, PIDS (simulator, engine), ENGINE_PID, KEY and SECRET
# are set and JOOD_MASTER_KEY / JOOD_ADMIN_KEY exported. JOOD_BIN names a binary already
# built (a release build made elsewhere, or target/debug/jood for a quick try): it is used
# for everything and nothing is built.

load_build() {
  if [ -n "${JOOD_BIN:-}" ]; then
    [ -x "$JOOD_BIN" ] || { echo "JOOD_BIN=$JOOD_BIN is not an executable file" >&2; exit 1; }
    BIN=$JOOD_BIN
    return
  fi
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-target}/release/jood
}

load_cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }

# load_start [infobip]: the servers up and an association provisioned.
load_start() {
  load_build
  WORK=$(mktemp -d)
  PIDS=()
  trap load_cleanup EXIT
  export JOOD_MASTER_KEY=$($BIN keygen)
  export JOOD_ADMIN_KEY=load-admin-$RANDOM$RANDOM
  local settings=${SIM_SETTINGS:-"{\"record_requests\":0,\"latency_ms\":${SIM_LATENCY_MS:-5}}"}
  $BIN sim --addr 127.0.0.1:$SIM_PORT --settings "$settings" >"$WORK/sim.log" 2>&1 &
  PIDS+=($!)
  "${ENGINE_BIN:-$BIN}" serve --config load-tests/engine.toml --http-addr 127.0.0.1:$ENGINE_PORT --data-dir "$WORK/data" >"$WORK/engine.log" 2>&1 &
  ENGINE_PID=$!
  PIDS+=($ENGINE_PID)
  for _ in $(seq 100); do
    curl -sf http://127.0.0.1:$ENGINE_PORT/healthz >/dev/null && curl -sf http://127.0.0.1:$SIM_PORT/_sim/stats >/dev/null && break
    sleep 0.1
  done
  local created
  created=$(load_api POST /api/v1/associations "$JOOD_ADMIN_KEY" "$JOOD_ADMIN_KEY" '{"id":1,"name":"Load"}')
  KEY=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["association"]["apiKey"])')
  SECRET=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["association"]["secretKey"])')
  load_api POST /api/v1/associations/1/credentials "$KEY" "$SECRET" \
    "{\"providerId\":7,\"senderName\":\"JOOD\",\"credentials\":{\"accountSid\":\"ACload\",\"authToken\":\"t\"},\"apiUrl\":\"http://127.0.0.1:$SIM_PORT\",\"isDefault\":true}" >/dev/null
  if [ "${1:-}" = infobip ]; then
    load_api POST /api/v1/associations/1/credentials "$KEY" "$SECRET" \
      "{\"providerId\":6,\"senderName\":\"JOOD\",\"credentials\":{\"apiKey\":\"IBload\"},\"apiUrl\":\"http://127.0.0.1:$SIM_PORT\"}" >/dev/null
  fi
}

load_api() { curl -sf -X "$1" "http://127.0.0.1:$ENGINE_PORT$2" -H "x-api-key: $3" -H "x-api-secret: $4" -H 'Content-Type: application/json' -d "$5"; }

# CPU seconds a process has used so far (user + system).
cpu_secs() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# `jood loadgen` against the engine (closed loop; RATE makes it open loop): DURATION seconds
# over CONCURRENCY connections, messages counted at the simulator.
load_loadgen() {
  $BIN loadgen --url http://127.0.0.1:$ENGINE_PORT --association-id 1 --secret "$SECRET" \
    --concurrency "$CONCURRENCY" --duration-secs "$DURATION" --sim-url http://127.0.0.1:$SIM_PORT --drain-secs 60 \
    ${RATE:+--rate "$RATE"}
}
