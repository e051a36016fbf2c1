"""Schemathesis hooks for the engine's fuzz run (.ci/schemathesis.sh).

Authenticates every generated request with the scheme its operation documents, and keeps
the run on this machine:

* X-API-Key + X-API-Secret of a seeded association on association routes; the super-admin
  key (in both headers) on super-admin routes (listing and creating associations);
* the dashboard session cookie and its CSRF token (one login when this module loads);
* HMAC signing of the signed webhooks: the body is serialised here, sent as those exact
  bytes, and signed as the documented clients sign (hex HMAC-SHA256 of "timestamp.body");
* a few seeded resources (credential, templates, link, a scheduled send) that path
  parameters and body fields point at half the time, with a real phone number, so requests
  get past validation into the engine;
* every URL the engine would call or deliver to is forced onto this machine: a credential's
  apiUrl (SMS and WhatsApp) to the provider simulator, callbackUrl and statusCallbackUrl to
  a closed loopback port, so no generated value makes the engine reach another host.

Environment (set by the script): JOOD_FUZZ_BASE, JOOD_FUZZ_ADMIN_KEY, JOOD_FUZZ_ASSOC_ID,
JOOD_FUZZ_SIM, JOOD_FUZZ_API_KEY, JOOD_FUZZ_SECRET_KEY, JOOD_FUZZ_OPERATOR, JOOD_FUZZ_OPERATOR_PASSWORD.
"""

import hashlib
import hmac
import json
import os
import random
import time
import urllib.error
import urllib.request

import schemathesis

BASE = os.environ["JOOD_FUZZ_BASE"]
ADMIN_KEY = os.environ["JOOD_FUZZ_ADMIN_KEY"]
ASSOC_ID = int(os.environ["JOOD_FUZZ_ASSOC_ID"])
API_KEY = os.environ["JOOD_FUZZ_API_KEY"]
SECRET_KEY = os.environ["JOOD_FUZZ_SECRET_KEY"]
OPERATOR = os.environ["JOOD_FUZZ_OPERATOR"]
OPERATOR_PASSWORD = os.environ["JOOD_FUZZ_OPERATOR_PASSWORD"]

# The provider simulator (`jood sim`, started by the script) stands in for every provider.
SIM = os.environ["JOOD_FUZZ_SIM"]
META = SIM + "/v23.0"
# Nothing listens there: customer callbacks fail fast, on this machine.
SINK = "http://127.0.0.1:9/sink"
URL_FIELDS = ("apiUrl", "callbackUrl", "statusCallbackUrl")
SUPER_ADMIN_ONLY = {("GET", "/api/v1/associations"), ("POST", "/api/v1/associations")}
SIGNED = {"/api/v1/webhook/notification", "/api/v1/webhook/bulk"}


def _login():
    req = urllib.request.Request(
        BASE + "/api/v1/dashboard/auth/login",
        data=json.dumps({"username": OPERATOR, "password": OPERATOR_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as resp:
        body = json.load(resp)
        cookie = resp.headers["Set-Cookie"].split(";", 1)[0]
    return cookie, body["data"]["csrfToken"]


SESSION_COOKIE, CSRF = _login()


def _call(method, path, body=None, headers=None):
    req = urllib.request.Request(BASE + path, data=None if body is None else json.dumps(body).encode(), method=method)
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req) as resp:
            return json.load(resp)["data"]
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"seeding {method} {path}: {e.code} {e.read()[:300]!r}") from None


def _signed(path, body):
    raw = json.dumps(body, separators=(",", ":")).encode()
    ts = str(int(time.time() * 1000))
    sig = hmac.new(SECRET_KEY.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    req = urllib.request.Request(BASE + path, data=raw, method="POST")
    for k, v in {"Content-Type": "application/json", "X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig}.items():
        req.add_header(k, v)
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)["data"]


def _seed():
    """Resources the generated requests can find by id: an SMS credential (at the sink), a
    template, a redirect link, WhatsApp credentials and a template, a scheduled send."""
    keys = {"X-API-Key": API_KEY, "X-API-Secret": SECRET_KEY}
    providers = _call("GET", "/api/v1/providers", headers=keys)
    sms = next(p for p in providers if "sms" in p["channels"])
    cred = _call("POST", f"/api/v1/associations/{ASSOC_ID}/credentials", {
        "providerId": sms["id"], "senderName": "Jood", "credentials": {f: "fuzz" for f in sms["fields"]}, "apiUrl": SIM, "isDefault": True,
    }, keys)
    _call("POST", "/api/v1/templates", {"code": "welcome", "content": "Hello {{name}}"}, keys)
    link = _call("POST", "/api/v1/redirect-links", {"targetUrl": "https://example.com/offer", "name": "offer"}, keys)
    _call("POST", f"/api/v1/whatsapp-credentials/{ASSOC_ID}", {
        "phoneNumberId": "1000", "businessAccountId": "2000", "accessToken": "fuzz-token", "displayPhoneNumber": "+966500000000", "apiUrl": META,
    }, keys)
    wa = _call("POST", "/api/v1/whatsapp-templates", {"name": "order_update", "language": "en", "category": "UTILITY", "bodyText": "Order {{1}} is on its way"}, keys)
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    queued = _signed("/api/v1/webhook/notification", {"associationId": ASSOC_ID, "recipient": "+966501234567", "message": "Later", "scheduledAt": later})
    return {
        "credential_id": cred["id"],
        "code": link["code"],
        "template_code": "welcome",
        "link_id": link["id"],
        "wa_template_id": wa["id"],
        "notification_id": queued["queueId"],
    }


SEEDED = _seed()
# Deterministic (one worker, fixed order): which requests get a known value.
RNG = random.Random(20261201)
PHONE = "+966501234567"


def _known(case, path):
    """Half the time, path parameters point at a seeded resource and phone numbers are real."""
    params = case.path_parameters or {}
    if RNG.random() < 0.5:
        if "credential_id" in params and path.startswith("/api/v1/associations/"):
            params["id"] = ASSOC_ID
            params["credential_id"] = SEEDED["credential_id"]
        elif path == "/r/{code}":
            params["code"] = SEEDED["code"]
        elif path.startswith("/api/v1/templates/{code}"):
            params["code"] = SEEDED["template_code"]
        elif path.startswith("/api/v1/redirect-links/{id}"):
            params["id"] = SEEDED["link_id"]
        elif path.startswith("/api/v1/whatsapp-templates/{id}"):
            params["id"] = SEEDED["wa_template_id"]
        elif path.startswith("/api/v1/notifications/{id}") or path.startswith("/api/v1/dashboard/queue/{id}"):
            params["id"] = SEEDED["notification_id"]
    body = case.body
    if isinstance(body, dict) and RNG.random() < 0.5:
        for field in ("recipient", "phoneNumber"):
            if isinstance(body.get(field), str):
                body[field] = PHONE
        if isinstance(body.get("recipients"), list):
            body["recipients"] = [PHONE if isinstance(r, str) else r for r in body["recipients"]]
        if "templateCode" in body and isinstance(body["templateCode"], str):
            body["templateCode"] = SEEDED["template_code"]
        if "templateId" in body and isinstance(body["templateId"], int):
            body["templateId"] = SEEDED["wa_template_id"]
        if "credentialId" in body and isinstance(body["credentialId"], int):
            body["credentialId"] = SEEDED["credential_id"]


def _force_urls(body):
    """Every URL field the engine would call: the sink (present ones and, for credentials,
    absent ones too, since an absent apiUrl means the provider's real host)."""
    if isinstance(body, dict):
        for k in URL_FIELDS:
            if k in body:
                body[k] = SINK
        for v in body.values():
            if isinstance(v, (dict, list)):
                _force_urls(v)
    elif isinstance(body, list):
        for v in body:
            _force_urls(v)


def _scope(case):
    """Point associationId (body, query) at the seeded association where one is given."""
    if isinstance(case.body, dict) and isinstance(case.body.get("associationId"), int):
        case.body["associationId"] = ASSOC_ID
    if case.query and isinstance(case.query.get("associationId"), int):
        case.query["associationId"] = ASSOC_ID


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    method = case.method.upper()
    headers = case.headers if case.headers is not None else {}
    case.headers = headers
    body_present = not isinstance(case.body, type(None)) and case.body.__class__.__name__ != "NotSet"
    if body_present:
        _force_urls(case.body)
        if "/credentials" in path and method in ("POST",) and isinstance(case.body, dict):
            case.body["apiUrl"] = SIM
        if path.startswith("/api/v1/whatsapp-credentials") and isinstance(case.body, dict):
            case.body["apiUrl"] = META
        if path.endswith("/credentials/{credential_id}") and isinstance(case.body, dict) and "apiUrl" in case.body:
            case.body["apiUrl"] = SIM
    _scope(case)
    _known(case, path)
    # The run's own association is never deactivated nor its keys rotated (other ids are
    # fuzzed as generated: they are another association's, or none).
    own = bool(case.path_parameters) and str(case.path_parameters.get("id")) == str(ASSOC_ID) and path.startswith("/api/v1/associations/{id}")
    if own and path.endswith("/rotate-keys"):
        case.path_parameters["id"] = ASSOC_ID + 1
    if own and path == "/api/v1/associations/{id}" and isinstance(case.body, dict) and case.body.get("isActive") is False:
        case.body["isActive"] = True
    # The run's own operator is never renamed, re-passworded, disabled or deleted.
    if case.path_parameters and str(case.path_parameters.get("username", "")).strip().lower() == OPERATOR:
        case.path_parameters["username"] = OPERATOR + "-other"
    # POST /dashboard/operators saves (creates or replaces) an operator: not this one.
    if path == "/api/v1/dashboard/operators" and isinstance(case.body, dict) and str(case.body.get("username", "")).strip().lower() == OPERATOR:
        case.body["username"] = OPERATOR + "-new"

    if path in SIGNED:
        if isinstance(case.body, dict) and isinstance(case.body.get("associationId"), int):
            case.body["associationId"] = ASSOC_ID
        if isinstance(case.body, (dict, list, str, int, float, bool)):
            raw = json.dumps(case.body, separators=(",", ":"), ensure_ascii=False).encode()
            case.body = raw
        elif isinstance(case.body, bytes):
            raw = case.body
        else:
            raw = b""
        ts = str(int(time.time() * 1000))
        headers["X-Webhook-Timestamp"] = ts
        headers["X-Webhook-Signature"] = hmac.new(SECRET_KEY.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        headers["Content-Type"] = "application/json"
        return
    if path.startswith("/api/v1/dashboard/"):
        if path in ("/api/v1/dashboard/auth/login", "/api/v1/dashboard/auth/logout"):
            return  # public; logging out the run's own session would end it
        headers["Cookie"] = SESSION_COOKIE
        if method != "GET":
            headers["X-CSRF-Token"] = CSRF
        return
    if path.startswith("/api/v1/callbacks/") or not path.startswith("/api/v1/") or path == "/api/v1/openapi.json":
        return  # provider-signed or public
    if (method, path) in SUPER_ADMIN_ONLY:
        headers["X-API-Key"] = ADMIN_KEY
        headers["X-API-Secret"] = ADMIN_KEY
        return
    if method == "GET" and case.path_parameters and "id" in case.path_parameters and path.startswith("/api/v1/associations/"):
        case.path_parameters["id"] = ASSOC_ID
    # Reads of the seeded association (writes keep their generated id: a rotation or a
    # deactivation of the run's own association would lock the rest of the run out).
    if path.startswith("/api/v1/whatsapp-credentials/"):
        case.path_parameters["id"] = ASSOC_ID
    headers["X-API-Key"] = API_KEY
    headers["X-API-Secret"] = SECRET_KEY
