#!/usr/bin/env bash
# Kannel beside Jood, interleaved in one run, with the same load generator and the same sink
# (the method of the performance issue): wrk (THREADS, default 2) over CONCURRENCY
# connections for DURATION seconds, and one nginx worker answering as the provider
# (sink-nginx.conf). Each round runs Kannel with its file store (no fsync), Kannel in memory
# (no store), and Jood (`run.sh wrk`: pre-signed sends, fsync per acknowledged message), each
# on fresh state; the medians over ROUNDS are printed at the end.
#
#   load-tests/kannel.sh [DURATION_SECS] [CONCURRENCY] [ROUNDS]     defaults: 20 64 3
#   JOOD_BIN=target/release/jood load-tests/kannel.sh 20 64 1
#   SYSTEMS="kannel-file jood" load-tests/kannel.sh      (default: kannel-file kannel-memory jood)
#
# Kannel (Debian's `kannel` package, installed with apt-get when missing) takes each message
# on smsbox's `sendsms` (GET, one user, a new recipient and text per request:
# kannel-sendsms.lua) and bearerbox delivers it through its generic HTTP SMSC to the sink.
# Printed per run: accepted/s and latency percentiles (wrk), delivered/s from the first to
# the last delivery (the sink's access log), CPU per process. Loopback only; every run stops
# by itself (wrk's -d, a bounded wait for the deliveries).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-20}
CONCURRENCY=${2:-64}
ROUNDS=${3:-3}
THREADS=${THREADS:-2}
SYSTEMS=${SYSTEMS:-kannel-file kannel-memory jood}
SINK_PORT=${SINK_PORT:-19391}
SENDSMS_PORT=${SENDSMS_PORT:-13013}
[ "$DURATION" -le 600 ] || { echo "DURATION at most 600 s" >&2; exit 2; }
[ "$ROUNDS" -le 10 ] || { echo "ROUNDS at most 10" >&2; exit 2; }

for tool in wrk nginx bearerbox; do
  command -v $tool >/dev/null 2>&1 || [ -x /usr/sbin/$tool ] && continue
  pkg=$tool; [ $tool = bearerbox ] && pkg=kannel
  echo "installing $pkg with apt-get" >&2
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pkg || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pkg; }; } >/dev/null
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
BEARERBOX=$(command -v bearerbox || echo /usr/sbin/bearerbox)
SMSBOX=$(command -v smsbox || echo /usr/sbin/smsbox)
if [ -z "${JOOD_BIN:-}" ] && [[ " $SYSTEMS " == *" jood "* ]]; then
  cargo build --release --quiet --bin jood
  JOOD_BIN=${CARGO_TARGET_DIR:-target}/release/jood
fi
HZ=$(getconf CLK_TCK)
sink_kannel() { local c; c=$(grep -c ' /kannel/' "$WORK/sink.log" 2>/dev/null || true); echo "${c:-0}"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
RESULTS=$(mktemp)
PIDS=()
WORK=
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -z "$WORK" ] || rm -rf "$WORK"; }
trap 'cleanup; rm -f "$RESULTS"' EXIT

# kannel_run file|memory: one measured run of Kannel, its figures appended to RESULTS.
kannel_run() {
  local store=$1
  WORK=$(mktemp -d); PIDS=()
  mkdir -p "$WORK/nginx-body" "$WORK/nginx-proxy"
  sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$SINK_PORT#g" load-tests/sink-nginx.conf >"$WORK/nginx.conf"
  "$NGINX" -c "$WORK/nginx.conf" -p "$WORK" >"$WORK/nginx.out" 2>&1 &
  PIDS+=($!)
  local store_conf=""
  [ "$store" = file ] && store_conf="store-type = file
store-location = \"$WORK/kannel.store\""
  cat >"$WORK/kannel.conf" <<EOF
group = core
admin-port = 13000
admin-password = load
admin-allow-ip = "127.0.0.1"
smsbox-port = 13001
box-allow-ip = "127.0.0.1"
log-file = "$WORK/bearerbox.log"
log-level = 3
dlr-storage = internal
$store_conf

group = smsc
smsc = http
smsc-id = sink
system-type = generic
send-url = "http://127.0.0.1:$SINK_PORT/kannel/send?to=%P&text=%b"
status-success-regex = "Accepted"
port = 13015
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = $SENDSMS_PORT
log-file = "$WORK/smsbox.log"
log-level = 3

group = sendsms-user
username = load
password = load
max-messages = 1
default-sender = JOOD
EOF
  "$BEARERBOX" -v ${KANNEL_VERBOSE:-3} "$WORK/kannel.conf" >"$WORK/bearerbox.out" 2>&1 &
  local bearer=$!; PIDS+=($bearer)
  sleep 1
  "$SMSBOX" -v ${KANNEL_VERBOSE:-3} "$WORK/kannel.conf" >"$WORK/smsbox.out" 2>&1 &
  local smsbox=$!; PIDS+=($smsbox)
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$SENDSMS_PORT/" && break
    sleep 0.1
  done
  # One message first: the SMSC is connected and the path works end to end.
  curl -s -o /dev/null "http://127.0.0.1:$SENDSMS_PORT/cgi-bin/sendsms?username=load&password=load&from=JOOD&to=%2B966500000001&text=warm"
  for _ in $(seq 100); do
    kill -USR1 "${PIDS[0]}" 2>/dev/null
    [ "$(sink_kannel)" -ge 1 ] && break
    sleep 0.1
  done
  local warm; warm=$(sink_kannel)
  [ "$warm" -ge 1 ] || { echo "kannel ($store): the warm-up message never reached the sink" >&2; for f in bearerbox.log smsbox.log smsbox.out sink.log; do tail -n 5 "$WORK/$f" >&2; done; cleanup; return 1; }
  local b0 s0 b_loaded s_loaded b1 s1 start
  b0=$(ticks $bearer); s0=$(ticks $smsbox); start=$(date +%s.%N)
  echo "== Kannel ($store store): wrk ${DURATION}s, $CONCURRENCY connections, $THREADS threads"
  wrk -t"$THREADS" -c"$CONCURRENCY" -d"${DURATION}s" --timeout 10s --latency -s load-tests/kannel-sendsms.lua \
    "http://127.0.0.1:$SENDSMS_PORT" >"$WORK/wrk.out"
  b_loaded=$(ticks $bearer); s_loaded=$(ticks $smsbox)
  local total non2xx accepted
  total=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
  non2xx=$(awk '/Non-2xx or 3xx/ {print $NF}' "$WORK/wrk.out"); non2xx=${non2xx:-0}
  accepted=$((total - non2xx))
  # Wait for the deliveries (the count still for 3 s, or all there; at most 120 s).
  local last=-1 still=0 c
  for _ in $(seq 600); do
    kill -USR1 "${PIDS[0]}" 2>/dev/null
    c=$(sink_kannel)
    [ "$c" -ge $((accepted + warm)) ] && break
    if [ "$c" = "$last" ]; then still=$((still + 1)); [ $still -ge 15 ] && break; else still=0; fi
    last=$c; sleep 0.2
  done
  kill -USR1 "${PIDS[0]}" 2>/dev/null; sleep 1.2
  b1=$(ticks $bearer); s1=$(ticks $smsbox)
  LABEL="kannel-$store" ACCEPTED=$accepted NON2XX=$non2xx DURATION=$DURATION HZ=$HZ B0=$b0 BL=$b_loaded B1=$b1 S0=$s0 SL=$s_loaded S1=$s1 \
    WARM=$warm SINK_LOG="$WORK/sink.log" WRK_OUT="$WORK/wrk.out" RESULTS="$RESULTS" python3 - <<'PY'
import os, re
e = os.environ
hz, dur = int(e["HZ"]), float(e["DURATION"])
accepted = int(e["ACCEPTED"])
times = sorted(float(l.split()[0]) for l in open(e["SINK_LOG"]) if " /kannel/" in l)[int(e["WARM"]):]
lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", open(e["WRK_OUT"]).read(), re.M))
span = (times[-1] - times[0]) if len(times) > 1 else 0
delivered_rate = (len(times) - 1) / span if span else 0
cpu = lambda a, b: (int(e[b]) - int(e[a])) / hz
print("accepted:  %d in %.0f s = %.0f/s (wrk; answers other than 2xx: %s)" % (accepted, dur, accepted / dur, e["NON2XX"]))
print("latency:   p50 %s, p90 %s, p99 %s" % (lat.get("50"), lat.get("90"), lat.get("99")))
print("delivered: %d to the sink, first to last %.2f s = %.0f/s%s" % (len(times), span, delivered_rate,
      "" if len(times) >= accepted else "  ** %d accepted but not delivered **" % (accepted - len(times))))
print("CPU:       bearerbox %.2f cores, smsbox %.2f cores while wrk ran; %.1f s + %.1f s to the last delivery" % (
      cpu("B0", "BL") / dur, cpu("S0", "SL") / dur, cpu("B0", "B1"), cpu("S0", "S1")))
with open(e["RESULTS"], "a") as f:
    f.write("%s\t%.0f\t%.0f\t%s\t%.2f+%.2f\n" % (e["LABEL"], accepted / dur, delivered_rate, lat.get("99"), cpu("B0", "BL") / dur, cpu("S0", "SL") / dur))
PY
  cleanup; WORK=
}

jood_run() {
  local out; out=$(mktemp)
  JOOD_BIN=$JOOD_BIN THREADS=$THREADS SINK_PORT=$SINK_PORT load-tests/run.sh wrk "$DURATION" "$CONCURRENCY" | tee "$out"
  OUT=$out RESULTS="$RESULTS" DURATION=$DURATION python3 - <<'PY'
import os, re
e = os.environ
s = open(e["OUT"]).read()
acc = re.search(r"^accepted:.*= (\d+)/s", s, re.M)
dl = re.search(r"^delivered:.*= (\d+)/s", s, re.M)
p99 = re.search(r"^latency:.*p99 (\S+)", s, re.M)
cores = re.search(r"\(([\d.]+) cores while wrk ran\)", s)
with open(e["RESULTS"], "a") as f:
    f.write("jood\t%s\t%s\t%s\t%s\n" % (acc.group(1) if acc else 0, dl.group(1) if dl else 0, p99.group(1) if p99 else "?", cores.group(1) if cores else "?"))
PY
  rm -f "$out"
}

for round in $(seq "$ROUNDS"); do
  echo "######## round $round of $ROUNDS"
  for system in $SYSTEMS; do
    case $system in
      kannel-file) kannel_run file ;;
      kannel-memory) kannel_run memory ;;
      jood) jood_run ;;
      *) echo "unknown system $system" >&2; exit 2 ;;
    esac
  done
done

echo
echo "== medians over $ROUNDS rounds (accepted/s, delivered/s first to last, p99 accept latency, cores while loaded)"
RESULTS="$RESULTS" python3 - <<'PY'
import os, statistics
rows = {}
for line in open(os.environ["RESULTS"]):
    label, acc, dl, p99, cores = line.rstrip("\n").split("\t")
    rows.setdefault(label, []).append((float(acc), float(dl), p99, cores))
def ms(v):
    v = v.strip()
    for unit, k in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * k
    return float("nan")
base = None
for label in ("kannel-file", "kannel-memory", "jood"):
    if label not in rows:
        continue
    r = rows[label]
    acc = statistics.median(x[0] for x in r); dl = statistics.median(x[1] for x in r)
    p99 = statistics.median(ms(x[2]) for x in r)
    if label == "kannel-file":
        base = (acc, dl)
    ratio = " (%.2fx / %.2fx Kannel's file store)" % (acc / base[0], dl / base[1]) if base and label != "kannel-file" and base[0] and base[1] else ""
    print("%-14s accepted %6.0f/s  delivered %6.0f/s  p99 %5.1f ms  cores %s%s" % (label, acc, dl, p99, ", ".join(x[3] for x in r), ratio))
PY
