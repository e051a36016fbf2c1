#!/usr/bin/env bash
# WhatsApp template sends through the engine (issue 12, "Done when"): one bulk job of N
# recipients, each with its own parameters, through a Meta credential to the simulator's
# Graph API with an unthrottled number (no throughput or pair limit, no status webhooks), so
# what is measured is the engine: the accept (validation, rendering and the durable write of
# every message, until the 202) and the dispatch (campaign pump → association → credential
# actor → Graph API call → durable `sent`). Prints the accept time, the send rate from the 202
# to the job's `completed`, and the engine's CPU seconds (user + system from /proc) per
# message over both.
#
#   load-tests/whatsapp.sh [RECIPIENTS]        default 20000, at most 1000000
#   PROFILE=debug load-tests/whatsapp.sh 5000  the debug binary (no release build; slower)
#
# The credential is paced at `messagesPerSecond` 1000 (Meta's highest tier) unless
# RATE_LIMITED=0, which lifts it (`dispatch.rate_per_second.meta` of load-tests/engine.toml)
# to find the engine's own ceiling. SIM_LATENCY_MS (5) the simulator's answer latency;
# ENGINE_PORT and SIM_PORT (18181, 19191). Loopback only; the job is bounded by a 600 s wait.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-20000}
[ "$N" -le 1000000 ] || { echo "RECIPIENTS is at most 1000000"; exit 2; }
PROFILE=${PROFILE:-release}
RATE_LIMITED=${RATE_LIMITED:-1}
SIM_LATENCY_MS=${SIM_LATENCY_MS:-5}
ENGINE_PORT=${ENGINE_PORT:-18181}
SIM_PORT=${SIM_PORT:-19191}
PHONE_ID=106540352242922
WABA=755633283894125

if [ "$PROFILE" = release ]; then cargo build --release --quiet --bin jood; else cargo build --quiet --bin jood; fi
BIN=${CARGO_TARGET_DIR:-target}/$PROFILE/jood
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

export JOOD_MASTER_KEY=$($BIN keygen)
export JOOD_ADMIN_KEY=load-admin-$RANDOM$RANDOM
cpu_secs() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }
now() { date +%s.%N; }
api() { curl -sf -X "$1" "http://127.0.0.1:$ENGINE_PORT$2" -H "x-api-key: $JOOD_ADMIN_KEY" -H "x-api-secret: $JOOD_ADMIN_KEY" -H "Content-Type: application/json" ${3:+-d "$3"}; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin)['data']; print(d$1)"; }

$BIN sim --addr 127.0.0.1:$SIM_PORT \
  --settings "{\"record_requests\":0,\"invalid_number_suffix\":\"99999999999999999999\",\"latency_ms\":$SIM_LATENCY_MS,\"whatsapp\":{\"template_review_ms\":100,\"phone_numbers\":{\"$PHONE_ID\":{\"waba_id\":\"$WABA\"}}}}" >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
JOOD__DISPATCH__RATE_PER_SECOND__META=1000000.0 $BIN serve --config load-tests/engine.toml --http-addr 127.0.0.1:$ENGINE_PORT --data-dir "$WORK/data" >"$WORK/engine.log" 2>&1 &
PIDS+=($!); ENGINE=$!
for _ in $(seq 200); do
  curl -sf http://127.0.0.1:$ENGINE_PORT/healthz >/dev/null && curl -sf http://127.0.0.1:$SIM_PORT/_sim/stats >/dev/null && break
  sleep 0.1
done

api POST /api/v1/associations '{"id":1,"name":"Load"}' >/dev/null
rate=""; [ "$RATE_LIMITED" = 1 ] && rate=',"messagesPerSecond":1000'
api POST /api/v1/whatsapp-credentials/1 "{\"phoneNumberId\":\"$PHONE_ID\",\"businessAccountId\":\"$WABA\",\"accessToken\":\"EAAG-load\",\"displayPhoneNumber\":\"+966920033773\",\"apiUrl\":\"http://127.0.0.1:$SIM_PORT/v23.0\"$rate}" >/dev/null
TID=$(api POST /api/v1/whatsapp-templates '{"associationId":1,"name":"donation_receipt","language":"ar","category":"UTILITY","bodyText":"شكراً {{1}} على تبرعك، رقم الإيصال {{2}}","variables":["name","receipt"],"sampleValues":{"name":"أحمد","receipt":"R-1"},"submitToMeta":true}' | field "['id']")
for _ in $(seq 100); do
  [ "$(api POST /api/v1/whatsapp-templates/$TID/sync | field "['status']")" = APPROVED ] && break
  sleep 0.1
done

python3 - "$N" "$TID" >"$WORK/bulk.json" <<'EOF'
import json, sys
n, tid = int(sys.argv[1]), int(sys.argv[2])
print(json.dumps({"associationId": 1, "templateId": tid,
  "recipients": [{"phone": "+9665%08d" % (10_000_000 + i), "parameters": {"name": "متبرع %d" % i, "receipt": "R-%d" % i}} for i in range(n)]}))
EOF

echo "== $N WhatsApp template sends ($PROFILE build), credential $([ "$RATE_LIMITED" = 1 ] && echo "paced at 1000/s" || echo "unpaced"), simulator unthrottled (latency ${SIM_LATENCY_MS} ms), on $(nproc) cores"
cpu0=$(cpu_secs $ENGINE); t0=$(now)
JOB=$(curl -sf -X POST "http://127.0.0.1:$ENGINE_PORT/api/v1/whatsapp-send/bulk" -H "x-api-key: $JOOD_ADMIN_KEY" -H 'Content-Type: application/json' --data-binary @"$WORK/bulk.json" | field "['jobId']")
t1=$(now); cpu1=$(cpu_secs $ENGINE)
deadline=$(( $(date +%s) + 600 ))
while :; do
  st=$(api GET /api/v1/whatsapp-send/bulk/status/$JOB)
  [ "$(echo "$st" | field "['status']")" = completed ] && break
  [ "$(date +%s)" -lt "$deadline" ] || { echo "job not completed within 600 s: $st"; exit 1; }
  sleep 0.2
done
t2=$(now); cpu2=$(cpu_secs $ENGINE)
sent=$(echo "$st" | field "['sent']")
accepted=$(curl -s http://127.0.0.1:$SIM_PORT/_sim/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["whatsapp"]["sends"]["accepted"])')
python3 - "$N" "$t0" "$t1" "$t2" "$cpu0" "$cpu1" "$cpu2" "$sent" "$accepted" <<'EOF'
import sys
n, t0, t1, t2, c0, c1, c2 = int(sys.argv[1]), *map(float, sys.argv[2:8])
sent, accepted = sys.argv[8], sys.argv[9]
print(f"accept: {n} recipients durable in {t1-t0:.2f} s ({n/(t1-t0):,.0f}/s), engine CPU {1e6*(c1-c0)/n:.0f} us/message")
print(f"send:   {sent} sent ({accepted} accepted by the simulator) in {t2-t1:.2f} s = {n/(t2-t1):,.0f} sends/s, engine CPU {1e6*(c2-c1)/n:.0f} us/message")
print(f"total:  engine CPU {1e6*(c2-c0)/n:.0f} us per message, accept to completed {t2-t0:.2f} s")
EOF
