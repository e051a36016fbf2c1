#!/usr/bin/env bash
# Campaign delivery to a provider that takes many messages per request (issue 18's target:
# 100,000 messages/s with at most one provider HTTP request per 100 messages). One campaign
# of N recipients to an Infobip credential pointed at the simulator (`jood sim`, which
# answers Infobip's messages[] x destinations[] per destination); prints the delivery rate
# from the bulk answer to the campaign's completion, and the simulator's request count and
# messages per request.
#
#   load-tests/batching.sh [RECIPIENTS] [PROVIDER]     (PROVIDER: infobip | shastra | 4jawaly | unifonic | yamamah)
#   BIN=target/debug/jood load-tests/batching.sh 20000  (skip the release build; debug figures mean little)
#
# CALLGRIND=1 counts the engine's instructions per delivered message instead of timing it:
# the engine runs under `valgrind --tool=callgrind` (N defaults to 20000 then), a warm-up
# campaign of WARM recipients (default 1000) spawns the actors and opens the connections,
# the counters are zeroed, and the measured campaign is sent. Its profile is dumped twice:
# once when the bulk request is answered (ingest: validate, store the recipients) and once
# when the campaign completes (delivery: dispatch, batched provider calls, durable `sent`
# rows), each divided by the messages of that phase. Counts do not depend on the machine's
# load, unlike wall-clock figures. The profiles are kept as CALLGRIND_OUT.ingest and
# CALLGRIND_OUT.delivery (default /tmp/jood-batching-callgrind.out) for
# `callgrind_annotate --inclusive=yes FILE` and `--tree=calling`. Valgrind runs the engine
# some 50 times slower, so the two waits that depend on time are scaled for the run to take
# the native path: a batch's linger (20 ms -> 1 s, else batches go out a third short) and the
# held-back `dispatching` write (1 s -> 60 s, else most messages get a `dispatching` row that
# a native run never writes); CALLGRIND_ENV replaces those settings. Delivery is also shown
# without fjall's background threads (flush, compaction), whose count varies most.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${CALLGRIND:-}" ]; then
  N=${1:-20000}
  CALLGRIND_OUT=${CALLGRIND_OUT:-/tmp/jood-batching-callgrind.out}
  rm -f "$CALLGRIND_OUT"*
  export ${CALLGRIND_ENV:-JOOD__DISPATCH__BATCH__LINGER_MS=1000 JOOD__DISPATCH__DISPATCHING_WRITE_DELAY_MS=60000}
  # --fair-sched: threads take turns; without it how long fjall's background threads spin
  # (see below) follows the machine's load, and the other threads' counts move with it.
  ENGINE_WRAP="valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file=$CALLGRIND_OUT --dump-instr=no --collect-atstart=yes"
else
  N=${1:-200000}
fi
PROVIDER=${2:-infobip}
ENGINE_PORT=${ENGINE_PORT:-18083}
SIM_PORT=${SIM_PORT:-19093}

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/jood
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
export JOOD_MASTER_KEY=$($BIN keygen)
export JOOD_ADMIN_KEY=load-admin-$RANDOM$RANDOM

$BIN sim --addr 127.0.0.1:$SIM_PORT --settings '{"record_requests":0,"latency_ms":5,"invalid_number_suffix":"","dlr_enabled":false}' >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
${ENGINE_WRAP:-} $BIN serve --config load-tests/engine.toml --http-addr 127.0.0.1:$ENGINE_PORT --data-dir "$WORK/data" >"$WORK/engine.log" 2>&1 &
ENGINE=$!
PIDS+=($ENGINE)
for _ in $(seq 3000); do curl -sf http://127.0.0.1:$ENGINE_PORT/healthz >/dev/null && break; sleep 0.1; done

ENGINE_PORT=$ENGINE_PORT SIM_PORT=$SIM_PORT N=$N PROVIDER=$PROVIDER ENGINE_PID=$ENGINE CALLGRIND=${CALLGRIND:-} \
  CALLGRIND_OUT=${CALLGRIND_OUT:-} WARM=${WARM:-1000} python3 - <<'PY'
import glob, hmac, hashlib, json, os, subprocess, time, urllib.request

base = "http://127.0.0.1:%s" % os.environ["ENGINE_PORT"]
sim = "http://127.0.0.1:%s" % os.environ["SIM_PORT"]
admin = os.environ["JOOD_ADMIN_KEY"]
n, provider, pid = int(os.environ["N"]), os.environ["PROVIDER"], os.environ["ENGINE_PID"]
creds = {
    "infobip": (6, {"apiKey": "load"}),
    "shastra": (2, {"username": "20099446", "password": "p"}),
    "4jawaly": (5, {"appKey": "k", "appSecret": "s"}),
    "unifonic": (4, {"appSid": "load"}),
    "yamamah": (1, {"username": "966500000001", "password": "p"}),
}[provider]

def call(method, url, body=None, headers=None):
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())

created = call("POST", base + "/api/v1/associations", {"id": 1, "name": "Load"}, {"x-api-key": admin, "x-api-secret": admin})["data"]
key, secret = created["association"]["apiKey"], created["association"]["secretKey"]
auth = {"x-api-key": key, "x-api-secret": secret}
call("POST", base + "/api/v1/associations/1/credentials", {"providerId": creds[0], "senderName": "JOOD", "credentials": creds[1], "apiUrl": sim, "isDefault": True}, auth)

def cpu_secs():
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def bulk(name, count):
    body = json.dumps({"associationId": 1, "campaignName": name, "message": "Your weekly offer: code JOOD2026",
                       "recipients": ["+96650%07d" % i for i in range(count)]}, separators=(",", ":")).encode()
    ts = str(int(time.time() * 1000))
    sig = hmac.new(secret.encode(), (ts + ".").encode() + body, hashlib.sha256).hexdigest()
    return call("POST", base + "/api/v1/webhook/bulk", body, {"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig})["data"]

def progress(campaign):
    return call("GET", base + "/api/v1/campaigns/%d" % campaign, None, auth)["data"]

def wait_completed(campaign, poll):
    while True:
        c = progress(campaign)
        if c["status"] == "completed":
            return c
        time.sleep(poll)

grind = os.environ["CALLGRIND"]
if grind:
    out = os.environ["CALLGRIND_OUT"]
    def counts(path):
        # (all threads, fjall's background threads): its flush/compaction workers (the
        # worker pool and the threads flume's channels start, flume being fjall's alone) at
        # times spin in flume's send/recv, from 3,000 to 600,000 instructions per message for
        # the same binary, so the rest (dispatch, providers, the committer) is shown apart.
        total = next(int(l.split()[1]) for l in open(path) if l.startswith(("summary:", "totals:")))
        annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", path], capture_output=True, text=True).stdout
        background = sum(int(l.split()[0].replace(",", "")) for l in annotated.splitlines()
                         if "std::sys::backtrace::__rust_begin_short_backtrace" in l
                         and ("/src/worker_pool.rs:" in l and "fjall-" in l or "flume-" in l and "/src/lib.rs:" in l))
        return total, background
    def dump(tag):
        # Each dump holds what was counted since the previous one (or the zeroing).
        before = set(glob.glob(out + ".*"))
        subprocess.run(["callgrind_control", "-d", tag, pid], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            new = [f for f in set(glob.glob(out + ".*")) - before if not f.endswith((".ingest", ".delivery"))]
            if new:
                time.sleep(1)  # written in full
                os.replace(new[0], out + "." + tag)
                return counts(out + "." + tag)
            time.sleep(0.1)
        raise SystemExit("no callgrind dump appeared")
    warm = int(os.environ["WARM"])
    wait_completed(bulk("Warm-up", warm)["campaignId"], 0.5)
    time.sleep(2)  # the warm-up's last status commit and upkeep settle
    subprocess.run(["callgrind_control", "-z", pid], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    res = bulk("Batched", n)
    campaign = res["campaignId"]
    at_answer = progress(campaign)
    ingest_ir = dump("ingest")
    c = wait_completed(campaign, 1.0)  # polled slowly: each poll costs the engine too
    time.sleep(2)  # the status writer's last commit
    delivery_ir = dump("delivery")
    early = at_answer["sent"] + at_answer["failed"]
    st = call("GET", sim + "/_sim/stats")["providers"][provider]
    print("callgrind, campaign of %d after a warm-up of %d: sent %d, failed %d; %d already done when the bulk request was answered" % (n, warm, c["sent"], c["failed"], early))
    print("provider requests: %d for %d messages (warm-up included)" % (st["received"], st["items"]))
    (ingest_ir, ingest_bg), (delivery_ir, delivery_bg) = ingest_ir, delivery_ir
    delivered = max(1, c["sent"] - early)
    print("engine instructions, ingest (bulk request to its answer): %.0f per recipient (%d; fjall background threads %.0f of them)" % (ingest_ir / n, ingest_ir, ingest_bg / n))
    print("engine instructions, delivery (answer to completion): %.0f per delivered message (%d over %d; fjall background threads %.0f of them)" % (delivery_ir / delivered, delivery_ir, delivered, delivery_bg / delivered))
    print("engine instructions, delivery without fjall's background threads: %.0f per delivered message" % ((delivery_ir - delivery_bg) / delivered))
    print("engine instructions, end to end: %.0f per delivered message; profiles: %s.ingest, %s.delivery" % ((ingest_ir + delivery_ir) / max(1, c["sent"]), out, out))
    raise SystemExit(0)

t0, c0 = time.time(), cpu_secs()
res = bulk("Batched", n)
t1 = time.time()
campaign = res["campaignId"]
print("bulk accepted durably: %d recipients in %.2f s" % (res["totalRecipients"], t1 - t0))
c = wait_completed(campaign, 0.05)
t2, c2 = time.time(), cpu_secs()
st = call("GET", sim + "/_sim/stats")["providers"][provider]
print("campaign delivered: sent %d, failed %d in %.2f s after the bulk answer = %.0f messages/s" % (c["sent"], c["failed"], t2 - t1, c["sent"] / (t2 - t1)))
print("provider requests: %d for %d messages = %.1f messages per request (largest %d)" % (st["received"], st["items"], st["items"] / max(1, st["received"]), st["max_items"]))
print("engine CPU from the bulk request to completion: %.1f s (%.1f us per message)" % (c2 - c0, (c2 - c0) * 1e6 / max(1, c["sent"])))
PY
