# The `wrk` mode of run.sh (sourced by it once the engine, the nginx sink and the association
# are up: BIN, WORK, PIDS (sink master, engine), SECRET, DURATION, CONCURRENCY, ENGINE_PORT
# are set). See run.sh's header for what it measures.
THREADS=${THREADS:-2}
if [ -n "${CALLGRIND:-}" ]; then
  source load-tests/wrk-callgrind.sh
  return 0
fi
# Enough requests that no thread runs out at up to 50k/s (a thread that does stops).
REQUESTS=${REQUESTS:-$((DURATION * 50000))}
echo "== wrk: ${DURATION}s, $CONCURRENCY connections, $THREADS threads, $REQUESTS pre-signed requests, sink: one nginx worker answering as Twilio, on $(nproc) cores"
python3 load-tests/presign.py "$SECRET" 1 "$REQUESTS" "$WORK/requests.tsv"

SINK_MASTER=${PIDS[0]}
ENGINE=${PIDS[1]}
SINK_WORKER=$(pgrep -P "$SINK_MASTER" | head -1)
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
sink_count() { [ -f "$WORK/sink.log" ] && grep -c ' /2010-04-01/' "$WORK/sink.log" || echo 0; }

E0=$(ticks "$ENGINE"); S0=$(ticks "$SINK_WORKER"); M0=$(ticks "$SINK_MASTER")
START=$(date +%s.%N)
# wrk formats every request in init(), before its clock starts; its own CPU comes from the
# shell's `time` (user + system of the child).
TIMEFORMAT='%U %S'
{ time REQUESTS_FILE="$WORK/requests.tsv" THREADS=$THREADS wrk -t"$THREADS" -c"$CONCURRENCY" -d"${DURATION}s" --timeout 10s \
    --latency -s load-tests/presigned.lua "http://127.0.0.1:$ENGINE_PORT" >"$WORK/wrk.out"; } 2>"$WORK/wrk.time"
E_LOADED=$(ticks "$ENGINE")
cat "$WORK/wrk.out"
TOTAL=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
NON2XX=$(awk '/Non-2xx or 3xx/ {print $NF}' "$WORK/wrk.out"); NON2XX=${NON2XX:-0}
ACCEPTED=$((TOTAL - NON2XX))
# Every accepted message should reach the sink; wait (nginx writes its log at least once a
# second) until the count stops moving for 3 s, or all have arrived.
last=-1; still=0
for _ in $(seq 600); do
  c=$(sink_count)
  [ "$c" -ge "$ACCEPTED" ] && break
  if [ "$c" = "$last" ]; then still=$((still + 1)); [ $still -ge 15 ] && break; else still=0; fi
  last=$c; sleep 0.2
done
kill -USR1 "$SINK_MASTER" 2>/dev/null; sleep 1.2 # reopen the log: flushes the buffer
E1=$(ticks "$ENGINE"); S1=$(ticks "$SINK_WORKER"); M1=$(ticks "$SINK_MASTER")
# The group committer's own view: how long groups took (apply + fsync) and how big they were.
curl -s "http://127.0.0.1:$ENGINE_PORT/metrics" >"$WORK/metrics.txt" || true
END=$(date +%s.%N)
ACCEPTED=$ACCEPTED TOTAL=$TOTAL NON2XX=$NON2XX DURATION=$DURATION HZ=$HZ E0=$E0 E_LOADED=$E_LOADED E1=$E1 S0=$S0 S1=$S1 M0=$M0 M1=$M1 \
  START=$START END=$END WRK_TIME="$(cat "$WORK/wrk.time")" SINK_LOG="$WORK/sink.log" WRK_OUT="$WORK/wrk.out" python3 - <<'PY'
import os, re
e = os.environ
hz, dur = int(e["HZ"]), float(e["DURATION"])
accepted, non2xx = int(e["ACCEPTED"]), int(e["NON2XX"])
times = []
with open(e["SINK_LOG"]) as f:
    for line in f:
        parts = line.split()
        if len(parts) >= 4 and parts[3].startswith("/2010-04-01/"):
            times.append(float(parts[0]))
delivered = len(times)
print()
print("accepted:  %d in %.0f s = %.0f/s (wrk; answers other than 2xx: %d)" % (accepted, dur, accepted / dur, non2xx))
lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", open(e["WRK_OUT"]).read(), re.M))
print("latency:   p50 %s, p90 %s, p99 %s (wrk --latency, closed loop)" % (lat.get("50"), lat.get("90"), lat.get("99")))
if delivered > 1:
    span = max(times) - min(times)
    print("delivered: %d to the sink, first to last %.2f s = %.0f/s (nginx access log)%s" % (
        delivered, span, (delivered - 1) / span if span else 0, "" if delivered >= accepted else "  ** %d accepted but not delivered **" % (accepted - delivered)))
else:
    print("delivered: %d to the sink" % delivered)
cpu = lambda a, b: (int(e[b]) - int(e[a])) / hz
engine, engine_loaded = cpu("E0", "E1"), cpu("E0", "E_LOADED")
wall = float(e["END"]) - float(e["START"])
wu, ws = (float(x) for x in e["WRK_TIME"].split())
print("CPU s:     engine %.1f (%.2f cores while wrk ran), sink worker %.1f, sink master %.2f, wrk %.1f (user %.1f + sys %.1f; includes formatting the requests before its clock)" % (
    engine, engine_loaded / dur, cpu("S0", "S1"), cpu("M0", "M1"), wu + ws, wu, ws))
if delivered:
    print("engine CPU per message end to end: %.1f us (engine CPU from wrk's start to the last delivery / delivered)" % (engine / delivered * 1e6))
buckets, stats = [], {}
for line in open(os.path.join(os.path.dirname(e["SINK_LOG"]), "metrics.txt")):
    if line.startswith("jood_store_commit_duration_seconds_bucket"):
        le = re.search(r'le="([^"]+)"', line).group(1)
        buckets.append((le, float(line.split()[-1])))
    for name in ("jood_store_commit_duration_seconds_count", "jood_store_commit_duration_seconds_sum", "jood_store_commit_batch_size_sum", "jood_store_commit_batch_size_count"):
        if line.startswith(name + " ") or line.startswith(name + "{"):
            stats[name] = float(line.split()[-1])
if stats.get("jood_store_commit_duration_seconds_count"):
    n = stats["jood_store_commit_duration_seconds_count"]
    dist = ", ".join("<=%s s: %.2f%%" % (le, 100 * c / n) for le, c in buckets if le in ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.05"))
    print("group commits: %d, mean %.2f ms, %.1f writes per group; cumulative %s (engine /metrics)" % (
        n, 1000 * stats["jood_store_commit_duration_seconds_sum"] / n,
        stats.get("jood_store_commit_batch_size_sum", 0) / max(stats.get("jood_store_commit_batch_size_count", 1), 1), dist))
print("load average: %s on %d cores" % (open("/proc/loadavg").read().split()[:3], os.cpu_count()))
PY
