//! The signed webhook: every HMAC error case, replay protection, validation errors, and the
//! five documented client examples' signing schemes (Node and Python run for real; PHP, C#
//! and bash/openssl reproduced byte for byte).

mod common;

use common::*;
use serde_json::{json, Value};

const PATH: &str = "/api/v1/webhook/notification";

fn post(s: &TestServer, ts: Option<&str>, sig: Option<&str>, body: &str) -> reqwest::RequestBuilder {
    let mut r = s.client.post(s.url(PATH)).header("content-type", "application/json").body(body.to_string());
    if let Some(ts) = ts {
        r = r.header("x-webhook-timestamp", ts);
    }
    if let Some(sig) = sig {
        r = r.header("x-webhook-signature", sig);
    }
    r
}

#[tokio::test]
async fn every_signature_error_case() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let body = json!({"associationId": 1, "recipient": "+966501234567", "message": "Hello!"}).to_string();
    let now = now_ms().to_string();
    let good = sign(&k.secret_key, &now, &body);

    assert_error(&send(post(&s, Some(&now), None, &body)).await, 401, "Missing signature");
    assert_error(&send(post(&s, None, Some(&good), &body)).await, 401, "Missing signature");
    assert_error(&send(post(&s, Some(""), Some(""), &body)).await, 401, "Missing signature");
    let old = (now_ms() - 5 * 60 * 1000 - 1000).to_string();
    assert_error(&send(post(&s, Some(&old), Some(&sign(&k.secret_key, &old, &body)), &body)).await, 401, "Timestamp expired");
    let future = (now_ms() + 6 * 60 * 1000).to_string();
    assert_error(&send(post(&s, Some(&future), Some(&sign(&k.secret_key, &future, &body)), &body)).await, 401, "Timestamp expired");
    assert_error(&send(post(&s, Some("not-a-number"), Some(&good), &body)).await, 401, "Timestamp expired");
    assert_error(&send(post(&s, Some(&now), Some(&sign("wrong-secret", &now, &body)), &body)).await, 401, "Invalid signature: HMAC verification failed");
    assert_error(&send(post(&s, Some(&now), Some("zzzz"), &body)).await, 401, "Invalid signature: HMAC verification failed");
    let tampered = body.replace("Hello", "Hellp");
    assert_error(&send(post(&s, Some(&now), Some(&good), &tampered)).await, 401, "Invalid signature: HMAC verification failed");
    // Signed with the right key, but another timestamp header.
    let other_ts = (now_ms() - 1000).to_string();
    assert_error(&send(post(&s, Some(&other_ts), Some(&good), &body)).await, 401, "Invalid signature");
    // Unknown association: indistinguishable from a bad signature.
    let unknown = json!({"associationId": 999, "recipient": "+966501234567", "message": "x"}).to_string();
    assert_error(&send(post(&s, Some(&now), Some(&sign(&k.secret_key, &now, &unknown)), &unknown)).await, 401, "Invalid signature");

    // The good request passes once; the same signature again is a replay.
    let (status, resp) = send(post(&s, Some(&now), Some(&good), &body)).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["success"], true);
    assert_eq!(resp["message"], "Notification queued for sending");
    assert_eq!(resp["data"]["status"], "queued");
    let qid = resp["data"]["queueId"].as_i64().unwrap();
    assert_eq!(resp["data"]["jobId"], format!("job_{qid}"));
    assert_error(&send(post(&s, Some(&now), Some(&good), &body)).await, 401, "replay");

    // Deactivated association: 403 after a valid signature.
    send(s.admin(reqwest::Method::PUT, "/api/v1/associations/1").json(&json!({"isActive": false}))).await;
    let ts = now_ms().to_string();
    assert_error(&send(post(&s, Some(&ts), Some(&sign(&k.secret_key, &ts, &body)), &body)).await, 403, "Inactive association");

    // Rotating the secret invalidates signatures made with the old one at once.
    send(s.admin(reqwest::Method::PUT, "/api/v1/associations/1").json(&json!({"isActive": true}))).await;
    let (_, rotated) = send(s.admin(reqwest::Method::POST, "/api/v1/associations/1/rotate-keys").json(&json!({"rotateSecretKey": true}))).await;
    let new_secret = rotated["data"]["secretKey"].as_str().unwrap();
    let ts = now_ms().to_string();
    assert_error(&send(post(&s, Some(&ts), Some(&sign(&k.secret_key, &ts, &body)), &body)).await, 401, "Invalid signature");
    let ts = (now_ms() + 1).to_string();
    assert_eq!(send(post(&s, Some(&ts), Some(&sign(new_secret, &ts, &body)), &body)).await.0, 200);
    s.stop().await;
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let s = TestServer::start_with(|c| c.server.body_limit_bytes = 4096).await;
    let k = s.create_association(1, "A").await;
    let check = |body: Value, status: u16, needle: &'static str| {
        let s = &s;
        let secret = k.secret_key.clone();
        async move {
            let text = body.to_string();
            assert_error(&send(s.signed(PATH, &secret, &text)).await, status, needle);
        }
    };
    check(json!({"associationId": 1, "recipient": "12ab", "message": "x"}), 400, "recipient `12ab`").await;
    check(json!({"associationId": 1, "recipient": "+966123", "message": "x"}), 400, "recipient `+966123`").await;
    check(json!({"associationId": 1, "message": "x"}), 400, "missing field `recipient`").await;
    check(json!({"associationId": 1, "recipient": "+966501234567"}), 400, "missing field `message`").await;
    check(json!({"associationId": 1, "recipient": "+966501234567", "message": "   "}), 400, "message must not be empty").await;
    check(json!({"associationId": 1, "recipient": "+966501234567", "message": "x", "channel": "pigeon"}), 400, "channel `pigeon`").await;
    check(json!({"associationId": 1, "recipient": "+966501234567", "message": "x", "priority": "high"}), 400, "field `priority`").await;
    check(json!({"associationId": 1, "recipient": 966501234567i64, "message": "x"}), 400, "field `recipient`").await;
    check(json!({"associationId": 1, "recipient": "+966501234567", "templateCode": "otp_verify", "data": {"code": "1"}}), 404, "Template `otp_verify` not found").await;
    check(json!({"associationId": "1", "recipient": "+966501234567", "message": "x"}), 400, "associationId").await;
    check(json!({"recipient": "+966501234567", "message": "x"}), 400, "missing field `associationId`").await;
    check(json!({"associationId": 1, "recipient": "+966501234567", "message": "x".repeat(2001)}), 400, "limit is 2000").await;
    // Malformed JSON is a 400 even when signed.
    let ts = now_ms().to_string();
    let bad = "{\"associationId\": 1,";
    assert_error(&send(post(&s, Some(&ts), Some(&sign(&k.secret_key, &ts, bad)), bad)).await, 400, "malformed JSON");
    // Oversized: 413.
    let big = json!({"associationId": 1, "recipient": "+966501234567", "message": "x".repeat(5000)}).to_string();
    assert_error(&send(s.signed(PATH, &k.secret_key, &big)).await, 413, "4096 bytes");
    s.stop().await;
}

async fn accepted(s: &TestServer, out: &str) -> i64 {
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("client printed: {out}"));
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["body"]["data"]["status"], "queued", "{v}");
    let id = v["body"]["data"]["queueId"].as_i64().unwrap();
    let _ = s;
    id
}

/// The bytes .NET's `JsonSerializer.Serialize` writes for our compact body.
fn csharp_json(compact: &str) -> String {
    let mut out = String::new();
    for c in compact.chars() {
        if !c.is_ascii() || matches!(c, '+' | '<' | '>' | '&' | '\'' | '`') {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn run_client(cmd: &str, script: &str, port: u16, secret: &str, message: &str) -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(script);
    let out = std::process::Command::new(cmd)
        .arg(path)
        .env("SECRET_KEY", secret)
        .env("ASSOCIATION_ID", "1")
        .env("RECIPIENT", "+966501234567")
        .env("MESSAGE", message)
        .env("PORT", port.to_string())
        .output()
        .ok()?;
    assert!(out.status.success(), "{cmd} failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_client_examples_are_accepted() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let port: u16 = s.base.rsplit(':').next().unwrap().parse().unwrap();
    // Arabic and Hebrew text: Node signs raw UTF-8; Python, PHP and C# escape it as \uXXXX.
    let text = "رمز التحقق 482901 — קוד אימות";

    // Node.js (real interpreter): signs and sends JSON.stringify(body).
    match run_client("node", "node_example.js", port, &k.secret_key, text) {
        Some(out) => {
            accepted(&s, &out).await;
        }
        None => eprintln!("node not installed: Node example reproduced below instead"),
    }
    // Python (real interpreter): signs compact separators, sends requests' spaced ones.
    match run_client("python3", "python_example.py", port, &k.secret_key, text) {
        Some(out) => {
            let id = accepted(&s, &out).await;
            let (_, n) = send(s.req(reqwest::Method::GET, &format!("/api/v1/notifications/{id}"), &k.api_key, &k.secret_key)).await;
            assert_eq!(n["data"]["message"], text, "text arrives intact");
        }
        None => eprintln!("python3 not installed: Python example reproduced below instead"),
    }

    let body = |msg: &str| format!(r#"{{"associationId":1,"recipient":"+966501234567","message":"{msg}"}}"#);
    let escaped = jood::auth::webhook::escape_non_ascii(&body(text));
    let cases: Vec<(&str, String, String)> = vec![
        // Node: raw UTF-8, compact.
        ("node", body(text), body(text)),
        // Python requests: signs compact + \u escapes, sends spaced + \u escapes.
        (
            "python",
            escaped.clone(),
            escaped.replace("\":", "\": ").replace(",\"", ", \""),
        ),
        // PHP json_encode: \u escapes and escaped slashes, signed and sent identically.
        (
            "php",
            jood::auth::webhook::escape_non_ascii(&body("see https://jood.sa/x — تم")).replace('/', "\\/"),
            jood::auth::webhook::escape_non_ascii(&body("see https://jood.sa/x — تم")).replace('/', "\\/"),
        ),
        // C# System.Text.Json (default encoder): escapes HTML-sensitive characters such as
        // '+' and every non-ASCII character as uppercase \uXXXX; signed and sent identically.
        ("csharp", csharp_json(&body(text)), String::new()),
    ];
    for (name, signed, sent) in cases {
        let sent = if sent.is_empty() { signed.clone() } else { sent };
        let ts = now_ms().to_string();
        let (status, resp) = send(post(&s, Some(&ts), Some(&sign(&k.secret_key, &ts, &signed)), &sent)).await;
        assert_eq!(status, 200, "{name}: {resp}\nsigned: {signed}\nsent: {sent}");
    }

    // bash + openssl, exactly as documented.
    let bash = format!(
        r#"TIMESTAMP=$(date +%s%3N)
BODY='{{"associationId":1,"recipient":"+966501234567","message":"Hello!"}}'
SECRET="{secret}"
PAYLOAD="${{TIMESTAMP}}.${{BODY}}"
SIGNATURE=$(echo -n "$PAYLOAD" | openssl dgst -sha256 -hmac "$SECRET" | awk '{{print $2}}')
curl -s -X POST "{base}/api/v1/webhook/notification" \
-H "Content-Type: application/json" \
-H "X-Webhook-Timestamp: $TIMESTAMP" \
-H "X-Webhook-Signature: $SIGNATURE" \
-d "$BODY""#,
        secret = k.secret_key,
        base = s.base
    );
    let out = std::process::Command::new("bash").arg("-c").arg(&bash).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("bash example: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(v["success"], true, "{v}");
    s.stop().await;
}
