#!/usr/bin/env bash
# A million-recipient campaign on loopback: how fast /api/v1/webhook/bulk accepts recipients
# durably, the engine's peak RSS while the campaign is in flight, and the dispatch latency
# (accepted -> sent to the provider) of single OTP sends made while it runs.
#
#   load-tests/campaign.sh [RECIPIENTS] [OBSERVE_SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
OBSERVE=${2:-30}
ENGINE_PORT=${ENGINE_PORT:-18082}
SIM_PORT=${SIM_PORT:-19092}

cargo build --release --quiet
BIN=target/release/jood
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
export JOOD_MASTER_KEY=$($BIN keygen)
export JOOD_ADMIN_KEY=load-admin-$RANDOM$RANDOM

$BIN sim --addr 127.0.0.1:$SIM_PORT --settings '{"record_requests":0,"latency_ms":5,"invalid_number_suffix":""}' >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
$BIN serve --config load-tests/engine.toml --http-addr 127.0.0.1:$ENGINE_PORT --data-dir "$WORK/data" >"$WORK/engine.log" 2>&1 &
ENGINE=$!
PIDS+=($ENGINE)
for _ in $(seq 100); do curl -sf http://127.0.0.1:$ENGINE_PORT/healthz >/dev/null && break; sleep 0.1; done

ENGINE_PORT=$ENGINE_PORT SIM_PORT=$SIM_PORT N=$N OBSERVE=$OBSERVE ENGINE_PID=$ENGINE WORK=$WORK python3 - <<'PY'
import hmac, hashlib, json, os, time, urllib.request, threading

base = "http://127.0.0.1:%s" % os.environ["ENGINE_PORT"]
admin = os.environ["JOOD_ADMIN_KEY"]
n, observe, pid = int(os.environ["N"]), int(os.environ["OBSERVE"]), os.environ["ENGINE_PID"]

def call(method, path, body=None, headers=None):
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method, headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())

created = call("POST", "/api/v1/associations", {"id": 1, "name": "Load"}, {"x-api-key": admin, "x-api-secret": admin})["data"]
key, secret = created["association"]["apiKey"], created["association"]["secretKey"]
auth = {"x-api-key": key, "x-api-secret": secret}
call("POST", "/api/v1/associations/1/credentials", {"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "ACload", "authToken": "t"},
     "apiUrl": "http://127.0.0.1:%s" % os.environ["SIM_PORT"], "isDefault": True}, auth)

def signed(path, body):
    ts = str(int(time.time() * 1000))
    sig = hmac.new(secret.encode(), (ts + ".").encode() + body, hashlib.sha256).hexdigest()
    return call("POST", path, body, {"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig})

def rss_mb(field):
    for line in open("/proc/%s/status" % pid):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0

recipients = [{"phone": "+96650%07d" % i, "variables": {"name": "User%d" % i}} for i in range(n)]
body = json.dumps({"associationId": 1, "campaignName": "Million", "message": "Hello {{name}}, your offer code is {{code}}",
                   "data": {"code": "JOOD2026"}, "recipients": recipients}, separators=(",", ":")).encode()
del recipients
print("bulk body: %.1f MB, %d recipients" % (len(body) / 1e6, n))
t0 = time.time()
res = signed("/api/v1/webhook/bulk", body)
took = time.time() - t0
print("bulk accepted durably: %d recipients in %.2f s = %.0f recipients/s (status %s)" % (res["data"]["totalRecipients"], took, res["data"]["totalRecipients"] / took, res["data"]["status"]))
campaign = res["data"]["campaignId"]

# OTPs while the campaign runs: accepted -> sent to the provider, from the attempt record.
lat = []
t_end = time.time() + observe
i = 0
while time.time() < t_end:
    body = json.dumps({"associationId": 1, "recipient": "+96655%07d" % i, "message": "OTP %06d" % i}, separators=(",", ":")).encode()
    qid = signed("/api/v1/webhook/notification", body)["data"]["queueId"]
    for _ in range(200):
        d = call("GET", "/api/v1/notifications/%d" % qid, None, auth)["data"]
        if d["status"] in ("sent", "failed"):
            break
        time.sleep(0.01)
    if d["attempts"]:
        from datetime import datetime
        at = datetime.strptime(d["attempts"][0]["at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        created = datetime.strptime(d["createdAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
        lat.append((at - created).total_seconds() * 1000)
    i += 1
    time.sleep(0.2)
c = call("GET", "/api/v1/campaigns/%d" % campaign, None, auth)["data"]
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(round((len(lat) - 1) * p)))]
print("OTP dispatch latency during the campaign (%d sends): p50 %.0f ms, p99 %.0f ms, max %.0f ms" % (len(lat), pct(0.5), pct(0.99), lat[-1]))
print("campaign after %ds: status %s, sent %d of %d" % (observe, c["status"], c["sent"], c["totalRecipients"]))
print("engine RSS now %.0f MB, peak (VmHWM) %.0f MB" % (rss_mb("VmRSS"), rss_mb("VmHWM")))
PY
