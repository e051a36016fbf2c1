# CALLGRIND=N of `run.sh wrk` (sourced by wrk-mode.sh): instructions the engine executes per
# message, end to end (accept, durable write, dispatch, provider call, durable `sent`).
ENGINE=${PIDS[1]}
WARM=500
sink_count() { [ -f "$WORK/sink.log" ] && grep -c ' /2010-04-01/' "$WORK/sink.log" || echo 0; }
wait_delivered() {
  local want=$1
  for _ in $(seq 1200); do
    kill -USR1 "${PIDS[0]}" 2>/dev/null
    [ "$(sink_count)" -ge "$want" ] && return 0
    sleep 0.5
  done
  echo "only $(sink_count) of $want delivered" >&2
}
send() { # COUNT FILE: every request of the file, each once, then wrk is stopped
  python3 load-tests/presign.py "$SECRET" 1 "$1" "$2"
  local done_dir="$2.done"
  rm -rf "$done_dir"; mkdir -p "$done_dir"
  # `-d` is only an upper bound: wrk's main thread sleeps all of it whatever its threads do,
  # so once the thread has had every request answered (presigned.lua writes thread-0) it is
  # ended with SIGINT, on which it prints its figures.
  REQUESTS_FILE="$2" THREADS=1 WRK_DONE_DIR="$done_dir" wrk -t1 -c"$CONCURRENCY" -d600s --timeout 60s --latency \
    -s load-tests/presigned.lua "http://127.0.0.1:$ENGINE_PORT" >"$2.wrk" &
  local wrk_pid=$!
  for _ in $(seq 6000); do
    [ -f "$done_dir/thread-0" ] && break
    kill -0 "$wrk_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -INT "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" || true
  grep -E "requests in|Non-2xx" "$2.wrk" || true
}
echo "== callgrind: $WARM warm-up requests, then $CALLGRIND measured, $CONCURRENCY connections"
send "$WARM" "$WORK/warm.tsv"
wait_delivered "$WARM"
sleep 2 # the held-back writes and upkeep of the warm-up settle
callgrind_control -z "$ENGINE" >/dev/null
send "$CALLGRIND" "$WORK/measured.tsv"
wait_delivered "$((WARM + CALLGRIND))"
sleep 1.5 # the status writer's last commit
callgrind_control -d "$ENGINE" >/dev/null
sleep 1
LAST=$(ls -t "$CALLGRIND_OUT"* | head -1)
IR=$(awk '/^(summary|totals):/ {print $2; exit}' "$LAST")
python3 -c "print('engine instructions per message: %.0f (%d over $CALLGRIND messages; profile: $LAST)' % ($IR / $CALLGRIND, $IR))"
# The profile of every thread is in that file: callgrind_annotate --inclusive=yes FILE | head -60
cp "$LAST" "$CALLGRIND_OUT.measured" 2>/dev/null || true
