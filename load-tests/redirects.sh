#!/usr/bin/env bash
# GET /r/{code} throughput on loopback: builds the release binary, starts the engine on a
# fresh data directory, creates LINKS redirect links, runs wrk for DURATION seconds over
# CONNECTIONS connections against their codes (round robin), and reports redirects/s, the
# engine's CPU seconds per redirect (from /proc/PID/stat before and after), and whether every
# redirect was counted (the clickCounts summed once the flusher has run). wrk runs on the same
# machine, so the two share its cores. Not part of the test suite.
#
#   load-tests/redirects.sh [DURATION_SECS] [CONNECTIONS] [LINKS]     (THREADS=2 for two wrk threads;
#   on a 2-core machine one wrk thread leaves the engine more of the second core)
#
# TRACKED=1: the links are instead the tracked links of LINKS signed single sends with
# `shortenLinks: true` (one URL each, the codes read back from each message's view), so the
# redirects are those of per-recipient campaign codes: each link's first click is a cache
# miss that reads the store, and the counted clicks are read back from the message views.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNECTIONS=${2:-64}
LINKS=${3:-64}
THREADS=${THREADS:-1}
ENGINE_PORT=${ENGINE_PORT:-18083}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }

cargo build --release --quiet --bin jood
BIN=${CARGO_TARGET_DIR:-target}/release/jood
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
export JOOD_MASTER_KEY=$($BIN keygen)
export JOOD_ADMIN_KEY=load-admin-$RANDOM$RANDOM

$BIN serve --config load-tests/engine.toml --http-addr 127.0.0.1:$ENGINE_PORT --grpc-addr "" --data-dir "$WORK/data" >"$WORK/engine.log" 2>&1 &
ENGINE=$!
PIDS+=($ENGINE)
for _ in $(seq 100); do curl -sf http://127.0.0.1:$ENGINE_PORT/healthz >/dev/null && break; sleep 0.1; done

BASE=http://127.0.0.1:$ENGINE_PORT
curl -sf -X POST $BASE/api/v1/associations -H "x-api-key: $JOOD_ADMIN_KEY" -H "x-api-secret: $JOOD_ADMIN_KEY" \
  -H 'content-type: application/json' -d '{"id":1,"name":"Load"}' >"$WORK/association.json"
ADMIN_API_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["adminApiKey"])' "$WORK/association.json")
SECRET_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["association"]["secretKey"])' "$WORK/association.json")
CODES=()
if [ "${TRACKED:-0}" = 1 ]; then
  # Signed sends with shortenLinks; prints "queueId code" per send.
  BASE=$BASE LINKS=$LINKS ADMIN_API_KEY=$ADMIN_API_KEY SECRET_KEY=$SECRET_KEY python3 - >"$WORK/tracked.txt" <<'PY'
import hmac, hashlib, json, os, time, urllib.request
base, admin, n = os.environ["BASE"], os.environ["ADMIN_API_KEY"], int(os.environ["LINKS"])
def call(method, path, body=None, headers=None):
    req = urllib.request.Request(base + path, data=body, method=method, headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())
secret = os.environ["SECRET_KEY"]
for i in range(n):
    body = json.dumps({"associationId": 1, "recipient": "+96650%07d" % i, "message": "Your receipt: https://jood.sa/receipt/%d" % i, "shortenLinks": True}).encode()
    ts = str(int(time.time() * 1000))
    sig = hmac.new(secret.encode(), (ts + ".").encode() + body, hashlib.sha256).hexdigest()
    qid = call("POST", "/api/v1/webhook/notification", body, {"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig})["data"]["queueId"]
    links = call("GET", "/api/v1/notifications/%d" % qid, None, {"x-api-key": admin})["data"]["links"]
    print(qid, links[0]["code"])
PY
  CODES=($(awk '{print $2}' "$WORK/tracked.txt"))
else
  for i in $(seq "$LINKS"); do
    CODES+=($(curl -sf -X POST $BASE/api/v1/redirect-links -H "x-api-key: $ADMIN_API_KEY" -H 'content-type: application/json' \
      -d "{\"targetUrl\":\"https://jood.sa/receipt/$i\",\"name\":\"load $i\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["code"])'))
  done
fi

# Requests built once; each call hands out the next (no per-request formatting in wrk).
{
  echo 'local reqs, n = {}, 0'
  echo 'function init(args)'
  for c in "${CODES[@]}"; do echo "  reqs[#reqs + 1] = wrk.format(\"GET\", \"/r/$c\")"; done
  echo 'end'
  echo 'function request() n = n % #reqs + 1; return reqs[n] end'
} >"$WORK/codes.lua"

ticks() { awk '{print $14 + $15}' /proc/$ENGINE/stat; }
HZ=$(getconf CLK_TCK)
before=$(ticks)
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/codes.lua" "$BASE" | tee "$WORK/wrk.out"
after=$(ticks)
sleep 2 # one flush interval and a margin: every click is in the store by now

TOTAL=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
RATE=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.out")
NON3XX=$(awk '/Non-2xx or 3xx/ {print $NF}' "$WORK/wrk.out")
if [ "${TRACKED:-0}" = 1 ]; then
  COUNTED=$(BASE=$BASE ADMIN_API_KEY=$ADMIN_API_KEY python3 -c '
import json, os, sys, urllib.request
total = 0
for line in open(sys.argv[1]):
    req = urllib.request.Request(os.environ["BASE"] + "/api/v1/notifications/" + line.split()[0], headers={"x-api-key": os.environ["ADMIN_API_KEY"]})
    total += sum(l["clickCount"] for l in json.load(urllib.request.urlopen(req))["data"]["links"])
print(total)' "$WORK/tracked.txt")
else
  COUNTED=$(curl -sf "$BASE/api/v1/redirect-links?limit=100" -H "x-api-key: $ADMIN_API_KEY" \
    | python3 -c 'import json,sys; print(sum(l["clickCount"] for l in json.load(sys.stdin)["data"]["items"]))')
fi
FOUND=$(curl -sf $BASE/metrics | awk '/^jood_redirects_total\{result="found"\}/ {print $2}')
TOTAL=$TOTAL RATE=$RATE DURATION=$DURATION CPU_TICKS=$((after - before)) HZ=$HZ COUNTED=$COUNTED FOUND=${FOUND:-0} NON3XX=${NON3XX:-0} python3 - <<'PY'
import os
total, dur = int(os.environ["TOTAL"]), float(os.environ["DURATION"])
cpu = int(os.environ["CPU_TICKS"]) / int(os.environ["HZ"])
print()
print("redirects: %d in %.0f s = %.0f redirects/s (wrk's Requests/sec; answers with status 400 or more: %s)" % (total, dur, float(os.environ["RATE"]), os.environ["NON3XX"]))
print("engine CPU: %.2f s = %.1f us per redirect (%.2f cores busy)" % (cpu, cpu / total * 1e6, cpu / dur))
print("clicks counted: %s of %s redirects answered (jood_redirects_total{result=\"found\"} = %s)" % (os.environ["COUNTED"], total, os.environ["FOUND"]))
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
