//! Defects schemathesis found (`.ci/schemathesis.sh`), each kept as a test against the real
//! engine and the provider simulator over real HTTP.

mod common;

use common::{assert_error, send, TestServer};
use jood::sim::{SimConfig, SimHandle, Simulator};
use reqwest::Method;
use serde_json::json;

const PHONE_ID: &str = "106540352242922";
const WABA: &str = "755633283894125";

async fn meta_sim() -> SimHandle {
    let sim = Simulator::start("127.0.0.1:0", SimConfig::meta_whatsapp()).await.unwrap();
    let numbers = json!({"whatsapp": {"phone_numbers": {PHONE_ID: {"waba_id": WABA}}}});
    let r = reqwest::Client::new().post(format!("{}/_sim/config", sim.base_url())).json(&numbers).send().await.unwrap();
    assert_eq!(r.status(), 200);
    sim
}

/// Meta refusing a template (its 400 "Invalid parameter") is the caller's to fix: 422 with
/// Meta's reason, not a 502 as if Meta were down (found as a 5xx on `…/submit`).
#[tokio::test]
async fn a_template_meta_refuses_is_422_not_502() {
    let sim = meta_sim().await;
    let s = TestServer::start().await;
    let k = s.create_association(1, "Acme").await;
    let wa = |m: Method, p: &str| s.client.request(m, s.url(p)).header("x-api-key", &k.admin_api_key);
    let creds = json!({"phoneNumberId": PHONE_ID, "businessAccountId": WABA, "accessToken": "EAAG-token",
        "displayPhoneNumber": "+966920033773", "apiUrl": format!("{}/v23.0", sim.base_url())});
    let (status, body) = send(wa(Method::POST, "/api/v1/whatsapp-credentials/1").json(&creds)).await;
    assert_eq!(status, 200, "{body}");

    // Saved locally; Meta then refuses the same name and language twice.
    let template = json!({"name": "order_update", "language": "en", "category": "UTILITY", "bodyText": "Order {{1}} shipped"});
    let (status, first) = send(wa(Method::POST, "/api/v1/whatsapp-templates").json(&template)).await;
    assert_eq!(status, 201, "{first}");
    let id = first["data"]["id"].as_i64().unwrap();
    let (status, body) = send(wa(Method::POST, &format!("/api/v1/whatsapp-templates/{id}/submit"))).await;
    assert_eq!(status, 200, "{body}");
    // Meta's own copy is removed behind the engine's back, and a second local template of
    // the same name is submitted while Meta still has one: Meta answers 400.
    let mut again = template.clone();
    again["language"] = json!("en_US");
    let (status, second) = send(wa(Method::POST, "/api/v1/whatsapp-templates").json(&again)).await;
    assert_eq!(status, 201, "{second}");
    let id2 = second["data"]["id"].as_i64().unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/v23.0/{WABA}/message_templates", sim.base_url()))
        .bearer_auth("EAAG-token")
        .json(&json!({"name": "order_update", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let got = send(wa(Method::POST, &format!("/api/v1/whatsapp-templates/{id2}/submit"))).await;
    assert_error(&got, 422, "Meta did not take it");
    assert_eq!(got.1["code"], "unprocessable", "{}", got.1);
    // The refusal is kept on the template.
    let (_, t) = send(wa(Method::GET, &format!("/api/v1/whatsapp-templates/{id2}"))).await;
    assert!(t["data"]["statusReason"].as_str().unwrap_or_default().contains("submission failed"), "{t}");

    // Meta unreachable stays an upstream failure (502).
    drop(sim);
    let got = send(wa(Method::POST, &format!("/api/v1/whatsapp-templates/{id2}/submit"))).await;
    assert_error(&got, 502, "Meta");
}

/// Integer extremes from the client never panic (a 500): `providerId` of i64::MIN (found by
/// schemathesis), a webhook timestamp of i64::MIN, a page number whose offset overflows.
#[tokio::test]
async fn integer_extremes_are_400s_and_401s_not_500s() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "Acme").await;
    for provider_id in [i64::MIN, i64::MIN + 1, 0, i64::MAX] {
        let body = json!({"providerId": provider_id, "senderName": "Jood", "credentials": {}});
        let got = send(s.req(Method::POST, "/api/v1/associations/1/credentials", &k.api_key, &k.secret_key).json(&body)).await;
        assert_error(&got, 400, "providerId");
    }

    let body = json!({"associationId": 1, "recipient": "+966501234567", "message": "hi"}).to_string();
    for ts in [i64::MIN, i64::MAX] {
        let ts = ts.to_string();
        let req = s
            .client
            .post(s.url("/api/v1/webhook/notification"))
            .header("content-type", "application/json")
            .header("x-webhook-timestamp", &ts)
            .header("x-webhook-signature", common::sign(&k.secret_key, &ts, &body))
            .body(body.clone());
        assert_error(&send(req).await, 401, "Timestamp expired");
    }

    let login = json!({"username": common::OPERATOR, "password": common::OPERATOR_PASSWORD});
    let resp = s.client.post(s.url("/api/v1/dashboard/auth/login")).json(&login).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    for path in ["/api/v1/dashboard/logs", "/api/v1/dashboard/queue", "/api/v1/dashboard/campaigns"] {
        let got = send(s.client.get(s.url(&format!("{path}?page={}&limit=100", u64::MAX))).header("cookie", &cookie)).await;
        assert_error(&got, 400, "page is too large");
    }
    let got = send(s.client.get(s.url(&format!("/api/v1/redirect-links?page={}&limit=100", u64::MAX))).header("x-api-key", &k.admin_api_key)).await;
    assert_error(&got, 400, "page is too large");
}
