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
#   JOOD_BIN=target/release/jood load-tests/console.sh   # a binary built already: no build here
#
# Ends with one `summary:` line: the request rate of each run, and the rate with three
# consoles open as a share of the mean of the two runs without.
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
# Each run's request rate and engine CPU per request, in run order, for the summary.
RATES=()
CPUS=()
loadgen() {
  local cpu0; cpu0=$(cpu_secs "$ENGINE_PID")
  load_loadgen 2>&1 | tee "$WORK/run.txt" | sed 's/^/    /'
  local n; n=$(grep -oE 'accepted \(200\): [0-9]+' "$WORK/run.txt" | grep -oE '[0-9]+$' || true)
  local rate; rate=$(grep -oE '^requests: [0-9]+ in [0-9.]+s = [0-9]+ req/s' "$WORK/run.txt" | grep -oE '[0-9]+ req/s$' | grep -oE '^[0-9]+' || true)
  if [ -z "$n" ] || [ -z "$rate" ]; then
    echo "console.sh: loadgen printed no request rate (its output is above)" >&2
    exit 1
  fi
  local us; us=$(python3 -c "c=$(cpu_secs "$ENGINE_PID")-$cpu0; print(f'{c*1e6/max(1,$n):.0f}')")
  echo "    engine CPU: $us µs per accepted request (sending and delivering included)"
  RATES+=("$rate")
  CPUS+=("$us")
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

echo "binary: $BIN"
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
python3 - "${RATES[@]}" "${CPUS[@]}" <<'PY'
import sys
r = [int(x) for x in sys.argv[1:5]]
c = sys.argv[5:9]
base = (r[0] + r[2]) / 2
print(f"summary: request rate with no console {r[0]:,} req/s ({c[0]} µs CPU/request), three consoles open {r[1]:,} req/s "
      f"({c[1]} µs; {100 * r[1] / max(1, base):.0f}% of the mean without), no console again {r[2]:,} req/s ({c[2]} µs), "
      f"the consoles' traffic without browsers {r[3]:,} req/s ({c[3]} µs)")
PY
