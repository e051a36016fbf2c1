//! Inputs that must be refused however they are hidden (issue 16, defect 6): invalid UTF-8
//! and lone surrogates inside JSON fields no request type names (400, the envelope), a gRPC
//! request whose protobuf does not decode (INVALID_ARGUMENT, not INTERNAL), and a gRPC
//! `scheduled_at` so far ahead it could never fire (INVALID_ARGUMENT).

mod common;

use common::*;
use jood::api::grpc::pb;
use jood::api::grpc::pb::notifications_client::NotificationsClient;
use serde_json::Value;
use tonic::{Code, Request};

/// A signed webhook request over raw bytes (the helper takes text; these bodies are not).
fn signed_bytes(s: &TestServer, secret: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    let ts = now_ms().to_string();
    let sig = jood::auth::webhook::sign(secret.as_bytes(), &ts, &body);
    s.client
        .post(s.url("/api/v1/webhook/notification"))
        .header("content-type", "application/json")
        .header("x-webhook-timestamp", &ts)
        .header("x-webhook-signature", sig)
        .body(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_with_invalid_text_are_refused_with_400() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let known = r#"{"associationId":1,"recipient":"+966501234567","message":"hi","#;
    let mut bodies: Vec<(Vec<u8>, &str)> = vec![
        (format!(r#"{known}"extra":"\ud800"}}"#).into_bytes(), "lone surrogate"),
        (format!(r#"{known}"extra":{{"deep":["\udfff"]}}}}"#).into_bytes(), "lone surrogate"),
        (format!(r#"{known}"extra":"\ud83d\u0041"}}"#).into_bytes(), "lone surrogate"),
    ];
    let mut bad_utf8 = format!(r#"{known}"extra":""#).into_bytes();
    bad_utf8.extend_from_slice(b"\xc3\x28\"}");
    bodies.push((bad_utf8, "invalid UTF-8"));
    for (body, needle) in bodies {
        let shown = String::from_utf8_lossy(&body).to_string();
        let got = send(signed_bytes(&s, &k.secret_key, body)).await;
        assert_error(&got, 400, needle);
        assert!(got.1["error"].as_str().unwrap().starts_with("Invalid request"), "{shown}: {}", got.1);
    }
    // The unauthenticated login parses the same way.
    let resp = s
        .client
        .post(s.url("/api/v1/dashboard/auth/login"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"username":"{OPERATOR}","password":"{OPERATOR_PASSWORD}","x":"\udc00"}}"#))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_error(&(status, body), 400, "lone surrogate");
    // A valid pair in an unknown field is still accepted: the check is not over-eager.
    let ok = format!(r#"{known}"extra":"\ud83d\ude00"}}"#);
    let (status, body) = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &ok)).await;
    assert_eq!(status, 200, "{body}");
    s.stop().await;
}

/// A unary gRPC call whose message is `payload`, framed by hand (uncompressed, 4-byte length).
async fn raw_unary(grpc: &str, method: &str, payload: &[u8]) -> (String, String) {
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    let client = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let resp = client
        .post(format!("{grpc}/jood.v1.Notifications/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(frame)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // An error before the handler runs is a trailers-only answer: the status is in the headers.
    let h = resp.headers();
    let code = h.get("grpc-status").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let message = h.get("grpc-message").map(|v| urlencoding::decode(v.to_str().unwrap()).unwrap().to_string()).unwrap_or_default();
    (code, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_protobuf_is_invalid_argument() {
    let s = TestServer::start().await;
    let invalid = (Code::InvalidArgument as i32).to_string();
    // Wire type 7 does not exist; a length running past the end; a truncated varint.
    for payload in [&[0x0f_u8][..], &[0x12, 0x7f, 0x41], &[0x08, 0xff, 0xff]] {
        for method in ["SendNotification", "GetNotification", "WatchCampaign"] {
            let (code, message) = raw_unary(&s.grpc, method, payload).await;
            assert_eq!(code, invalid, "{method} {payload:?}: {message}");
            assert!(message.contains("malformed protobuf"), "{method}: {message}");
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_at_that_could_never_fire_is_refused() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let mut c = NotificationsClient::connect(s.grpc.clone()).await.unwrap();
    for seconds in [i64::MAX, i64::MAX / 1000, 253_402_300_800] {
        let mut r = Request::new(pb::SendNotificationRequest {
            association_id: 1,
            recipient: "+966501234567".into(),
            message: "later".into(),
            scheduled_at: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            ..Default::default()
        });
        r.metadata_mut().insert("x-api-key", k.api_key.parse().unwrap());
        r.metadata_mut().insert("x-api-secret", k.secret_key.parse().unwrap());
        let st = c.send_notification(r).await.unwrap_err();
        assert_eq!(st.code(), Code::InvalidArgument, "{seconds}: {st:?}");
        assert!(st.message().contains("366 days"), "{st:?}");
    }
    let mut stream_req = Request::new(tokio_stream::iter(vec![pb::SendBulkChunk {
        settings: Some(pb::BulkSettings {
            association_id: 1,
            message: "later".into(),
            name: "far".into(),
            scheduled_at: Some(prost_types::Timestamp { seconds: i64::MAX, nanos: 999_999_999 }),
            ..Default::default()
        }),
        recipients: vec![pb::BulkRecipient { phone: "+966501234567".into(), ..Default::default() }],
    }]));
    stream_req.metadata_mut().insert("x-api-key", k.api_key.parse().unwrap());
    stream_req.metadata_mut().insert("x-api-secret", k.secret_key.parse().unwrap());
    let st = c.send_bulk(stream_req).await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("366 days"), "{st:?}");
    // Nothing was stored for any of them.
    assert!(s.store.list_messages(Some(1), None, 10).await.unwrap().is_empty());
    assert!(s.store.list_campaigns(1, None, 10).await.unwrap().is_empty());
    s.stop().await;
}
