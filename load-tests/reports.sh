#!/usr/bin/env bash
# The return path under load (issue 11, "Done when"): signed single sends offered at RATE
# msg/s for DURATION seconds through `jood loadgen` (open loop), the provider simulator
# accepting them and, in the second run, sending every message's delivery report back to the
# engine's callback receiver at the same rate. Each run starts a fresh simulator and engine on
# loopback. Prints, per run: what was accepted and delivered to the simulator, the engine's CPU
# seconds per message (user + system over the send window and the report drain), and for the
# run with reports the reports applied and the sent→delivered latency p50/p99 from the
# engine's own histogram (`jood_delivery_sent_to_delivered_seconds`, which includes the
# simulator's DLR_DELAY_MS before it reports).
#
#   load-tests/reports.sh [DURATION_SECS] [RATE]          defaults: 60 s, 10000 msg/s
#   PROVIDER=twilio RUNS=reports load-tests/reports.sh 30 5000
#
# PROVIDER: infobip (default; one unsigned JSON report per message, i.e. reports at the send
# rate) or twilio (two signed form reports per message: `sent`, then `delivered`).
# RUNS: both (default: without reports, then with), plain, or reports.
# DLR_BATCH (100): Infobip reports falling due together go back in one `results[]` POST of at
# most DLR_BATCH, after a linger of DLR_LINGER_MS (20), as Infobip batches them; DLR_BATCH=1
# posts each report on its own (Twilio reports are always one per POST, as Twilio sends them).
# CONCURRENCY (256) generator connections; DLR_DELAY_MS (50) and DLR_JITTER_MS (0) the
# simulator's wait before it reports; SIM_LATENCY_MS (5) its answer latency; ENGINE_PORT and
# SIM_PORT (18180, 19190). Bounded: DURATION at most 600 s, RATE at most 50000, each drain
# at most 120 s. Loopback only.
# CALLBACKS (1): in the run with reports, the association's statusCallbackUrl points at a local
# nginx sink (one worker, answering 204; installed from Debian when missing) on SINK_PORT
# (19290), so every status change also becomes a signed customer callback; the summary
# counts the callbacks delivered and the sink's requests. CALLBACKS=0 leaves them out.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-60}
RATE=${2:-10000}
[ "$DURATION" -le 600 ] || { echo "DURATION is at most 600 s"; exit 2; }
[ "$RATE" -le 50000 ] || { echo "RATE is at most 50000 msg/s"; exit 2; }
PROVIDER=${PROVIDER:-infobip}
RUNS=${RUNS:-both}
CONCURRENCY=${CONCURRENCY:-256}
export DLR_DELAY_MS=${DLR_DELAY_MS:-50}
DLR_JITTER_MS=${DLR_JITTER_MS:-0}
SIM_LATENCY_MS=${SIM_LATENCY_MS:-5}
DLR_BATCH=${DLR_BATCH:-100}
DLR_LINGER_MS=${DLR_LINGER_MS:-20}
ENGINE_PORT=${ENGINE_PORT:-18180}
SIM_PORT=${SIM_PORT:-19190}
CALLBACKS=${CALLBACKS:-1}
SINK_PORT=${SINK_PORT:-19290}

# JOOD_BIN names a binary built already (nothing is built then).
if [ -n "${JOOD_BIN:-}" ]; then
  [ -x "$JOOD_BIN" ] || { echo "JOOD_BIN=$JOOD_BIN is not an executable file" >&2; exit 1; }
  BIN=$JOOD_BIN
else
  cargo build --release --quiet --bin jood
  BIN=${CARGO_TARGET_DIR:-target}/release/jood
fi
WORK=$(mktemp -d)
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap 'stop_all; rm -rf "$WORK"' EXIT

export JOOD_MASTER_KEY=$($BIN keygen)
export JOOD_ADMIN_KEY=load-admin-$RANDOM$RANDOM
cpu_secs() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat" 2>/dev/null || echo 0; }
sim_json() { curl -s http://127.0.0.1:$SIM_PORT/_sim/stats; }
metrics() { curl -s http://127.0.0.1:$ENGINE_PORT/metrics; }

# start_sink DIR: an nginx answering 204 to every POST, logging one line per request.
start_sink() {
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { apt-get install -y -qq nginx >/dev/null; }
  local nginx; nginx=$(command -v nginx || echo /usr/sbin/nginx)
  mkdir -p "$1/sink"
  cat >"$1/sink/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $1/sink/nginx.pid;
error_log $1/sink/error.log warn;
events { worker_connections 4096; }
http {
  access_log $1/sink/access.log;
  client_body_temp_path $1/sink;
  server { listen 127.0.0.1:$SINK_PORT; location / { return 204; } }
}
CONF
  "$nginx" -c "$1/sink/nginx.conf" -p "$1/sink" >/dev/null 2>&1 &
  PIDS+=($!)
}
api() { curl -sf -X "$1" "http://127.0.0.1:$ENGINE_PORT$2" -H "x-api-key: $3" -H "x-api-secret: $4" -H 'Content-Type: application/json' -d "$5"; }

# run_once LABEL REPORTS(0|1)
run_once() {
  local label=$1 reports=$2 dir="$WORK/$1"
  mkdir -p "$dir"
  local dlr=false public=""
  if [ "$reports" = 1 ]; then dlr=true; public="http://127.0.0.1:$ENGINE_PORT"; fi
  $BIN sim --addr 127.0.0.1:$SIM_PORT \
    --settings "{\"record_requests\":0,\"latency_ms\":$SIM_LATENCY_MS,\"dlr_enabled\":$dlr,\"dlr_delay_ms\":$DLR_DELAY_MS,\"dlr_jitter_ms\":$DLR_JITTER_MS,\"dlr_batch_max\":$DLR_BATCH,\"dlr_batch_linger_ms\":$DLR_LINGER_MS}" >"$dir/sim.log" 2>&1 &
  PIDS+=($!); local sim_pid=$!
  local with_callbacks=0
  if [ "$reports" = 1 ] && [ "$CALLBACKS" = 1 ]; then with_callbacks=1; start_sink "$dir"; fi
  JOOD__CALLBACKS__ALLOW_PRIVATE_TARGETS=true JOOD__SERVER__PUBLIC_URL=$public "${ENGINE_BIN:-$BIN}" serve --config load-tests/engine.toml --http-addr 127.0.0.1:$ENGINE_PORT --data-dir "$dir/data" >"$dir/engine.log" 2>&1 &
  PIDS+=($!); local engine_pid=$!
  for _ in $(seq 100); do
    curl -sf http://127.0.0.1:$ENGINE_PORT/healthz >/dev/null && curl -sf http://127.0.0.1:$SIM_PORT/_sim/stats >/dev/null && break
    sleep 0.1
  done
  local created key secret cred
  created=$(api POST /api/v1/associations "$JOOD_ADMIN_KEY" "$JOOD_ADMIN_KEY" '{"id":1,"name":"Load"}')
  key=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["association"]["apiKey"])')
  secret=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["association"]["secretKey"])')
  if [ "$PROVIDER" = twilio ]; then
    cred="{\"providerId\":7,\"senderName\":\"JOOD\",\"credentials\":{\"accountSid\":\"ACload\",\"authToken\":\"tw-load\"},\"apiUrl\":\"http://127.0.0.1:$SIM_PORT\",\"isDefault\":true}"
  else
    cred="{\"providerId\":6,\"senderName\":\"JOOD\",\"credentials\":{\"apiKey\":\"IBload\"},\"apiUrl\":\"http://127.0.0.1:$SIM_PORT\",\"isDefault\":true}"
  fi
  api POST /api/v1/associations/1/credentials "$key" "$secret" "$cred" >/dev/null
  if [ "$with_callbacks" = 1 ]; then
    api PUT /api/v1/associations/1 "$JOOD_ADMIN_KEY" "$JOOD_ADMIN_KEY" "{\"statusCallbackUrl\":\"http://127.0.0.1:$SINK_PORT/status\"}" >/dev/null
  fi

  echo "== $label: $RATE msg/s offered for ${DURATION}s via $PROVIDER, reports $([ "$reports" = 1 ] && echo "on (after ${DLR_DELAY_MS} ms, Infobip's batched up to $DLR_BATCH per POST)" || echo off), callbacks $([ "$with_callbacks" = 1 ] && echo "to nginx :$SINK_PORT" || echo off), on $(nproc) cores"
  local accepted0 cpu0 sim_cpu0 started
  accepted0=$(sim_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["accepted"])')
  cpu0=$(cpu_secs "$engine_pid"); sim_cpu0=$(cpu_secs "$sim_pid"); started=$(date +%s.%N)
  $BIN loadgen --url http://127.0.0.1:$ENGINE_PORT --association-id 1 --secret "$secret" \
    --concurrency "$CONCURRENCY" --duration-secs "$DURATION" --rate "$RATE" --sim-url http://127.0.0.1:$SIM_PORT --drain-secs 60 | sed 's/^/   /'
  # Let the reports still waiting in the simulator come in (bounded).
  for _ in $(seq 240); do
    [ "$(sim_json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("dlr",{}).get("pending",0))')" = 0 ] && break
    sleep 0.5
  done
  # And the customer callbacks still in the outbox (bounded).
  if [ "$with_callbacks" = 1 ]; then
    for _ in $(seq 240); do
      [ "$(metrics | awk '/^jood_callbacks_outbox_depth /{print $2}')" = 0 ] && break
      sleep 0.5
    done
  fi
  sleep 1
  local cpu1 sim_cpu1 wall
  cpu1=$(cpu_secs "$engine_pid"); sim_cpu1=$(cpu_secs "$sim_pid"); wall=$(python3 -c "print(round($(date +%s.%N)-$started,1))")
  sim_json >"$dir/sim.json"; metrics >"$dir/metrics.txt"
  local sink_requests=0
  [ -f "$dir/sink/access.log" ] && sink_requests=$(wc -l <"$dir/sink/access.log")
  python3 - "$dir/sim.json" "$dir/metrics.txt" "$accepted0" "$cpu0" "$cpu1" "$sim_cpu0" "$sim_cpu1" "$wall" "$label" "$WORK/summary.txt" "$sink_requests" <<'EOF'
import json, re, sys
sim = json.load(open(sys.argv[1])); text = open(sys.argv[2]).read()
accepted0, cpu0, cpu1, scpu0, scpu1, wall, label, summary, sink = sys.argv[3:]
msgs = sim["total"]["accepted"] - int(accepted0)
cpu = float(cpu1) - float(cpu0); scpu = float(scpu1) - float(scpu0)
def total(name, **labels):
    s = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                s += float(line.rsplit(" ", 1)[1])
    return s
reports = total("jood_delivery_reports_total")
lines = [f"{label}: {msgs} messages delivered to the simulator in {wall} s; engine CPU {cpu:.1f} s = {cpu * 1e6 / max(msgs, 1):.0f} us/message; simulator CPU {scpu:.1f} s"]
if reports:
    dlr = sim.get("dlr", {})
    lines.append(f"  reports: {int(reports)} received by the engine ({int(total('jood_delivery_reports_unknown_total'))} unknown), simulator posted {dlr.get('reports')} in {dlr.get('posted')} POSTs, refused {dlr.get('refused')} lost {dlr.get('lost')}; "
                 f"delivered {int(total('jood_messages_finished_total', status='delivered'))}")
    buckets = {}
    for m in re.finditer(r'^jood_delivery_sent_to_delivered_seconds_bucket\{[^}]*le="([^"]+)"\} (\S+)$', text, re.M):
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        buckets[le] = buckets.get(le, 0) + float(m.group(2))
    edges = sorted(buckets)
    n = buckets.get(float("inf"), 0)
    def q(p):
        want, lo, below = p * n, 0.0, 0.0
        for le in edges:
            c = buckets[le]
            if c >= want:
                if le == float("inf"):
                    return f">{lo}"
                return f"{(lo + (le - lo) * (want - below) / max(c - below, 1)) * 1000:.0f} ms"
            lo, below = le, c
        return "?"
    if n:
        delay = __import__("os").environ.get("DLR_DELAY_MS", "?")
        lines.append(f"  sent->delivered latency ({int(n)} samples, including the simulator's {delay} ms wait): p50 {q(0.5)}, p99 {q(0.99)} (interpolated within histogram buckets)")
callbacks = total("jood_callbacks_total", result="delivered")
if callbacks or int(sink):
    lines.append(f"  customer callbacks: {int(callbacks)} delivered ({int(total('jood_callbacks_total', result='pending'))} retried, {int(total('jood_callbacks_total', result='failed'))} given up); the sink logged {sink} requests")
print("\n".join(lines))
open(summary, "a").write("\n".join(lines) + "\n")
EOF
  stop_all
}

case "$RUNS" in
  both) run_once without-reports 0; run_once with-reports 1 ;;
  plain) run_once without-reports 0 ;;
  reports) run_once with-reports 1 ;;
  *) echo "RUNS is both, plain or reports"; exit 2 ;;
esac
echo "== summary ($PROVIDER, ${DURATION}s at $RATE msg/s offered, DLR delay ${DLR_DELAY_MS} ms)"
cat "$WORK/summary.txt"
