#!/usr/bin/env bash
# Does an open console cost the engine request rate? One engine (release build) and the
# simulator on loopback, as in run.sh; then three `jood loadgen` runs of DURATION seconds:
# without consoles, with three consoles open (console/tests/watch.mjs: three headless
# chromium sessions on the overview, campaigns and logs screens: the overview on its
# server-sent-event stream, the others polling as they do for a person), and without again
# (to show the run-to-run spread). The set-up (build, simulator, engine, association) is
# load-tests/lib.sh's, shared with run.sh.
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

export JOOD_OPERATOR_USERNAME=watcher JOOD_OPERATOR_PASSWORD=watcher-password-$RANDOM
source load-tests/lib.sh
load_start

# The engine's CPU seconds (lib.sh's cpu_secs): its cost per request, whatever else (the
# browsers) shares the cores.
loadgen() {
  local cpu0; cpu0=$(cpu_secs "$ENGINE_PID")
  load_loadgen 2>&1 | tee "$WORK/run.txt" | sed 's/^/    /'
  local n; n=$(grep -oE 'accepted \(200\): [0-9]+' "$WORK/run.txt" | grep -oE '[0-9]+$')
  python3 -c "c=$(cpu_secs "$ENGINE_PID")-$cpu0; print(f'    engine CPU: {c:.1f} s = {c*1e6/max(1,$n):.0f} µs per accepted request (sending and delivering included)')"
}
# The three consoles' dashboard traffic without the browsers (an overview stream, and the
# campaigns and logs screens' requests about as often as watch.mjs measured them), to tell the
# engine's own cost from the browsers' CPU on the same cores.
pollers() {
  local jar="$WORK/cookies" csrf
  csrf=$(curl -sf -c "$jar" -H 'Content-Type: application/json' -d "{\"username\":\"$JOOD_OPERATOR_USERNAME\",\"password\":\"$JOOD_OPERATOR_PASSWORD\"}" \
    http://127.0.0.1:$ENGINE_PORT/api/v1/dashboard/auth/login | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["csrfToken"])')
  local end=$((SECONDS + $1))
  curl -sfN -b "$jar" --max-time "$1" "http://127.0.0.1:$ENGINE_PORT/api/v1/dashboard/overview/stream" >"$WORK/stream.txt" &
  while [ $SECONDS -lt $end ]; do
    for path in campaigns logs; do
      curl -sf -b "$jar" "http://127.0.0.1:$ENGINE_PORT/api/v1/dashboard/$path" >/dev/null || echo "poll $path failed"
    done
    sleep 1
  done
  wait
  echo "    overview stream: $(grep -c '^event: overview' "$WORK/stream.txt") events"
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
echo "== 4. the consoles' traffic without browsers (an overview stream, 2 dashboard requests a second)"
pollers $((DURATION + 5)) &
POLL=$!
sleep 2
loadgen
wait "$POLL"
