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
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
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
$BIN serve --config load-tests/engine.toml --http-addr 127.0.0.1:$ENGINE_PORT --data-dir "$WORK/data" >"$WORK/engine.log" 2>&1 &
ENGINE=$!
PIDS+=($ENGINE)
for _ in $(seq 100); do curl -sf http://127.0.0.1:$ENGINE_PORT/healthz >/dev/null && break; sleep 0.1; done

ENGINE_PORT=$ENGINE_PORT SIM_PORT=$SIM_PORT N=$N PROVIDER=$PROVIDER ENGINE_PID=$ENGINE python3 - <<'PY'
import hmac, hashlib, json, os, time, urllib.request

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

body = json.dumps({"associationId": 1, "campaignName": "Batched", "message": "Your weekly offer: code JOOD2026",
                   "recipients": ["+96650%07d" % i for i in range(n)]}, separators=(",", ":")).encode()
ts = str(int(time.time() * 1000))
sig = hmac.new(secret.encode(), (ts + ".").encode() + body, hashlib.sha256).hexdigest()
t0, c0 = time.time(), cpu_secs()
res = call("POST", base + "/api/v1/webhook/bulk", body, {"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig})
t1 = time.time()
campaign = res["data"]["campaignId"]
print("bulk accepted durably: %d recipients in %.2f s" % (res["data"]["totalRecipients"], t1 - t0))
while True:
    c = call("GET", base + "/api/v1/campaigns/%d" % campaign, None, auth)["data"]
    if c["status"] == "completed":
        break
    time.sleep(0.05)
t2, c2 = time.time(), cpu_secs()
st = call("GET", sim + "/_sim/stats")["providers"][provider]
print("campaign delivered: sent %d, failed %d in %.2f s after the bulk answer = %.0f messages/s" % (c["sent"], c["failed"], t2 - t1, c["sent"] / (t2 - t1)))
print("provider requests: %d for %d messages = %.1f messages per request (largest %d)" % (st["received"], st["items"], st["items"] / max(1, st["received"]), st["max_items"]))
print("engine CPU from the bulk request to completion: %.1f s (%.1f us per message)" % (c2 - c0, (c2 - c0) * 1e6 / max(1, c["sent"])))
PY
