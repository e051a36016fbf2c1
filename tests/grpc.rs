//! The gRPC API (`jood.v1.Notifications`) end to end: the real server on 127.0.0.1:0, the
//! generated client, the actor tree and the provider simulator. Sends, streamed campaigns,
//! status, progress streams, authentication, errors as status codes, per-IP limits, and a
//! graceful stop that is not held up by an open watch stream.

mod common;

use common::*;
use jood::api::grpc::pb;
use jood::api::grpc::pb::notifications_client::NotificationsClient;
use jood::sim::{SimConfig, SimHandle, Simulator};
use serde_json::json;
use std::collections::HashMap;
use tonic::transport::Channel;
use tonic::{Code, Request};

type Client = NotificationsClient<Channel>;

async fn client(s: &TestServer) -> Client {
    NotificationsClient::connect(s.grpc.clone()).await.expect("gRPC connects")
}

/// A request carrying the key pair as metadata.
fn authed<T>(msg: T, key: &str, secret: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert("x-api-key", key.parse().unwrap());
    r.metadata_mut().insert("x-api-secret", secret.parse().unwrap());
    r
}

async fn setup(s: &TestServer, sim: &SimHandle) -> Keys {
    let k = s.create_association(1, "A").await;
    s.add_credential(
        1,
        &k,
        json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "AC_grpc", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true}),
    )
    .await;
    k
}

fn sms(association_id: i64, recipient: &str, message: &str) -> pb::SendNotificationRequest {
    pb::SendNotificationRequest { association_id, recipient: recipient.into(), message: message.into(), ..Default::default() }
}

async fn wait_sent(c: &mut Client, k: &Keys, id: i64) -> pb::Notification {
    let started = std::time::Instant::now();
    loop {
        let n = c.get_notification(authed(pb::GetNotificationRequest { id }, &k.api_key, &k.secret_key)).await.unwrap().into_inner();
        if n.status == pb::NotificationStatus::Sent as i32 {
            return n;
        }
        assert!(started.elapsed().as_secs() < 20, "notification {id} not sent: {n:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_get_a_notification_with_errors_as_status_codes() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap();
    let s = TestServer::start().await;
    let k = setup(&s, &sim).await;
    let other = s.create_association(2, "B").await;
    let mut c = client(&s).await;

    let r = c.send_notification(authed(sms(1, "+966501234567", "hello over gRPC"), &k.api_key, &k.secret_key)).await.unwrap().into_inner();
    assert_eq!(r.status, pb::NotificationStatus::Queued as i32);
    let n = wait_sent(&mut c, &k, r.queue_id).await;
    assert_eq!((n.recipient.as_str(), n.message.as_str(), n.association_id), ("+966501234567", "hello over gRPC", 1));
    assert_eq!(n.attempts.len(), 1, "{n:?}");
    assert_eq!((n.attempts[0].provider.as_str(), n.attempts[0].result.as_str()), ("twilio", "sent"));
    assert!(!n.provider_message_id.is_empty());

    // The super-admin key in both fields sends for any association, and reads any message.
    let r = c.send_notification(authed(sms(1, "+966501234568", "as admin"), ADMIN_KEY, ADMIN_KEY)).await.unwrap().into_inner();
    c.get_notification(authed(pb::GetNotificationRequest { id: r.queue_id }, ADMIN_KEY, ADMIN_KEY)).await.unwrap();

    let code = |r: Result<tonic::Response<pb::SendNotificationResponse>, tonic::Status>| {
        let st = r.unwrap_err();
        (st.code(), st.message().to_string())
    };
    let (got, msg) = code(c.send_notification(authed(sms(1, "+966501234567", "x"), &k.api_key, "wrong")).await);
    assert_eq!((got, msg.as_str()), (Code::Unauthenticated, "Invalid API key"));
    let (got, _) = code(c.send_notification(Request::new(sms(1, "+966501234567", "x"))).await);
    assert_eq!(got, Code::Unauthenticated);
    let (got, msg) = code(c.send_notification(authed(sms(1, "+966501234567", "x"), &other.api_key, &other.secret_key)).await);
    assert_eq!(got, Code::PermissionDenied, "{msg}");
    let (got, msg) = code(c.send_notification(authed(sms(1, "12", "x"), &k.api_key, &k.secret_key)).await);
    assert!(got == Code::InvalidArgument && msg.starts_with("Invalid request: recipient `12`"), "{got:?} {msg}");
    let (got, msg) = code(c.send_notification(authed(sms(1, "+966501234567", " "), &k.api_key, &k.secret_key)).await);
    assert!(got == Code::InvalidArgument && msg.contains("message must not be empty"), "{msg}");
    let bad_channel = pb::SendNotificationRequest { channel: 9, ..sms(1, "+966501234567", "x") };
    let (got, msg) = code(c.send_notification(authed(bad_channel, &k.api_key, &k.secret_key)).await);
    assert!(got == Code::InvalidArgument && msg.contains("channel: 9"), "{msg}");
    let (got, msg) = code(c.send_notification(authed(sms(77, "+966501234567", "x"), ADMIN_KEY, ADMIN_KEY)).await);
    assert_eq!(got, Code::NotFound, "{msg}");

    // Another association's message is not found; so is an unknown id.
    let st = c.get_notification(authed(pb::GetNotificationRequest { id: n.id }, &other.api_key, &other.secret_key)).await.unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
    let st = c.get_notification(authed(pb::GetNotificationRequest { id: 42 }, &k.api_key, &k.secret_key)).await.unwrap_err();
    assert_eq!((st.code(), st.message()), (Code::NotFound, "Notification 42 not found"));

    // A scheduled send is stored as scheduled.
    let later = pb::SendNotificationRequest {
        scheduled_at: Some(prost_types::Timestamp { seconds: now_ms() / 1000 + 3600, nanos: 0 }),
        ..sms(1, "+966501234569", "later")
    };
    let r = c.send_notification(authed(later, &k.api_key, &k.secret_key)).await.unwrap().into_inner();
    assert_eq!(r.status, pb::NotificationStatus::Scheduled as i32);
    s.stop().await;
}

fn recipient(phone: &str, vars: &[(&str, &str)]) -> pb::BulkRecipient {
    pb::BulkRecipient { phone: phone.into(), variables: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
}

fn settings(message: &str) -> pb::BulkSettings {
    pb::BulkSettings {
        association_id: 1,
        message: message.into(),
        name: "gRPC campaign".into(),
        data: HashMap::from([("shop".to_string(), "Jood".to_string())]),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_campaign_is_created_and_watched_to_completion() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap();
    let s = TestServer::start().await;
    let k = setup(&s, &sim).await;
    let mut c = client(&s).await;

    // 3 chunks of 11 (+2 invalid in the second, +1 without variables in the third): 31
    // distinct valid numbers; +966501234000 comes 4 times (twice in the first chunk, once in
    // each other): 3 duplicates.
    let mut chunks = Vec::new();
    for chunk in 0..3 {
        let mut rs: Vec<pb::BulkRecipient> =
            (0..10).map(|i| recipient(&format!("+9665012340{}{}", chunk, i), &[("name", &format!("N{chunk}{i}"))])).collect();
        rs.push(recipient("+966501234000", &[]));
        if chunk == 1 {
            rs.push(recipient("not-a-number", &[]));
            rs.push(recipient("", &[]));
        }
        if chunk == 2 {
            rs.push(recipient("+966501239999", &[]));
        }
        chunks.push(pb::SendBulkChunk { settings: (chunk == 0).then(|| settings("Hi {{name}}, from {{shop}}")), recipients: rs });
    }
    let resp = c.send_bulk(authed(tokio_stream::iter(chunks), &k.api_key, &k.secret_key)).await.unwrap().into_inner();
    assert_eq!(resp.total_recipients, 31, "{resp:?}");
    assert_eq!(resp.invalid_count, 2, "{resp:?}");
    assert_eq!(resp.duplicates_removed, 3, "{resp:?}");
    assert_eq!(resp.invalid.iter().map(|i| i.index).collect::<Vec<_>>(), vec![22, 23], "{resp:?}");
    assert_eq!(resp.invalid[0].recipient, "not-a-number");

    // Watch until completed: snapshots only grow, the last one is final.
    let mut stream = c
        .watch_campaign(authed(pb::WatchCampaignRequest { campaign_id: resp.campaign_id, min_interval_ms: 100, ..Default::default() }, &k.api_key, &k.secret_key))
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while let Some(p) = stream.message().await.unwrap() {
        seen.push(p);
    }
    let last = seen.last().expect("at least one snapshot");
    assert_eq!(last.status, pb::CampaignStatus::Completed as i32, "{seen:?}");
    assert_eq!((last.sent, last.failed, last.total_recipients), (31, 0, 31), "{last:?}");
    assert!(seen.windows(2).all(|w| w[0].sent <= w[1].sent), "{seen:?}");

    // Personalised from the recipient's variables, then the settings' data.
    let ids = s.store.list_campaign_messages(resp.campaign_id, None, 100).await.unwrap();
    let bodies: Vec<String> = futures::future::join_all(ids.iter().map(|id| s.store.get_message(*id)))
        .await
        .into_iter()
        .map(|m| m.unwrap().unwrap().body)
        .collect();
    assert!(bodies.contains(&"Hi N12, from Jood".to_string()), "{bodies:?}");
    // A placeholder without a value stays as written (documented).
    assert!(bodies.contains(&"Hi {{name}}, from Jood".to_string()), "{bodies:?}");

    // Another association cannot watch it.
    let other = s.create_association(2, "B").await;
    let st = c
        .watch_campaign(authed(pb::WatchCampaignRequest { campaign_id: resp.campaign_id, min_interval_ms: 0, ..Default::default() }, &other.api_key, &other.secret_key))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_streams_are_invalid_arguments() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let mut c = client(&s).await;
    let run = |chunks: Vec<pb::SendBulkChunk>| {
        let mut c = c.clone();
        let (key, secret) = (k.api_key.clone(), k.secret_key.clone());
        async move { c.send_bulk(authed(tokio_stream::iter(chunks), &key, &secret)).await.unwrap_err() }
    };
    let st = run(vec![]).await;
    assert!(st.code() == Code::InvalidArgument && st.message().contains("first chunk"), "{st:?}");
    let st = run(vec![pb::SendBulkChunk { settings: None, recipients: vec![recipient("+966501234567", &[])] }]).await;
    assert!(st.code() == Code::InvalidArgument && st.message().contains("must carry `settings`"), "{st:?}");
    let second = pb::SendBulkChunk { settings: Some(settings("x")), recipients: vec![] };
    let st = run(vec![pb::SendBulkChunk { settings: Some(settings("x")), recipients: vec![recipient("+966501234567", &[])] }, second]).await;
    assert!(st.code() == Code::InvalidArgument && st.message().contains("chunk 2: only the first chunk"), "{st:?}");
    let st = run(vec![pb::SendBulkChunk { settings: Some(settings("x")), recipients: vec![] }]).await;
    assert!(st.code() == Code::InvalidArgument && st.message().contains("at least one"), "{st:?}");
    let st = run(vec![pb::SendBulkChunk { settings: Some(settings("x")), recipients: vec![recipient("nope", &[])] }]).await;
    assert!(st.code() == Code::InvalidArgument && st.message().contains("all 1 recipients are invalid"), "{st:?}");
    let st = c
        .watch_campaign(authed(pb::WatchCampaignRequest { campaign_id: 5, min_interval_ms: 0, ..Default::default() }, &k.api_key, &k.secret_key))
        .await
        .unwrap_err();
    assert_eq!((st.code(), st.message()), (Code::NotFound, "Campaign 5 not found"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_share_the_per_ip_limits_and_answer_resource_exhausted() {
    let s = TestServer::start_with(|c| {
        c.rate_limit.notification_per_minute = 2;
        c.rate_limit.bulk_per_minute = 1;
    })
    .await;
    let k = s.create_association(1, "A").await;
    let mut c = client(&s).await;
    // One HTTP send and one gRPC send use up the allowance of this address.
    s.send_sms(1, &k.secret_key, "+966501234567", "over HTTP").await;
    c.send_notification(authed(sms(1, "+966501234567", "over gRPC"), &k.api_key, &k.secret_key)).await.unwrap();
    let st = c.send_notification(authed(sms(1, "+966501234567", "one too many"), &k.api_key, &k.secret_key)).await.unwrap_err();
    assert_eq!(st.code(), Code::ResourceExhausted, "{st:?}");
    let retry: u64 = st.metadata().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Reads are not limited.
    c.get_notification(authed(pb::GetNotificationRequest { id: 1 }, &k.api_key, &k.secret_key)).await.unwrap_err();
    let body = reqwest::get(s.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(body.contains(r#"jood_http_rate_limited_total{route_class="notification",api="grpc"}"#), "{body}");
    assert!(body.contains(r#"jood_grpc_requests_total{method="SendNotification",code="resource_exhausted"}"#), "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_ends_watch_streams_with_unavailable() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let mut c = client(&s).await;
    let later = pb::BulkSettings { scheduled_at: Some(prost_types::Timestamp { seconds: now_ms() / 1000 + 3600, nanos: 0 }), ..settings("later") };
    let chunk = pb::SendBulkChunk { settings: Some(later), recipients: vec![recipient("+966501234567", &[])] };
    let resp = c.send_bulk(authed(tokio_stream::iter(vec![chunk]), &k.api_key, &k.secret_key)).await.unwrap().into_inner();
    assert_eq!(resp.status, pb::CampaignStatus::Scheduled as i32);
    let mut stream = c
        .watch_campaign(authed(pb::WatchCampaignRequest { campaign_id: resp.campaign_id, min_interval_ms: 0, ..Default::default() }, &k.api_key, &k.secret_key))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.status, pb::CampaignStatus::Scheduled as i32);
    // The scheduled campaign would keep the stream open for an hour: stopping must not wait.
    let stop = tokio::spawn(s.stop());
    let st = stream.message().await.unwrap_err();
    assert_eq!(st.code(), Code::Unavailable, "{st:?}");
    stop.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_with_the_final_counts_of_a_cancelled_campaign() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    let mut c = client(&s).await;
    let later = pb::BulkSettings { scheduled_at: Some(prost_types::Timestamp { seconds: now_ms() / 1000 + 3600, nanos: 0 }), ..settings("later") };
    let recipients = (0..3).map(|i| recipient(&format!("+96650123456{i}"), &[])).collect();
    let chunk = pb::SendBulkChunk { settings: Some(later), recipients };
    let resp = c.send_bulk(authed(tokio_stream::iter(vec![chunk]), &k.api_key, &k.secret_key)).await.unwrap().into_inner();
    let mut stream = c
        .watch_campaign(authed(pb::WatchCampaignRequest { campaign_id: resp.campaign_id, min_interval_ms: 100, ..Default::default() }, &k.api_key, &k.secret_key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().status, pb::CampaignStatus::Scheduled as i32);
    let (status, body) = send(s.req(reqwest::Method::DELETE, &format!("/api/v1/campaigns/{}", resp.campaign_id), &k.api_key, &k.secret_key)).await;
    assert_eq!(status, 200, "{body}");
    let mut last = None;
    while let Some(p) = stream.message().await.unwrap() {
        last = Some(p);
    }
    let last = last.expect("snapshots after the cancel");
    assert_eq!((last.status, last.sent, last.cancelled), (pb::CampaignStatus::Cancelled as i32, 0, 3), "{last:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_and_records_carry_the_sms_encoding_and_segments() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap();
    let s = TestServer::start().await;
    let k = setup(&s, &sim).await;
    let mut c = client(&s).await;

    // 80 Arabic letters: UCS-2, over 70, so two parts of at most 67.
    let arabic = "مرحبا".repeat(16);
    let r = c.send_notification(authed(sms(1, "+966501234567", &arabic), &k.api_key, &k.secret_key)).await.unwrap().into_inner();
    assert_eq!((r.encoding, r.segments, r.smart_encoding_applied), (pb::SmsEncoding::Ucs2 as i32, 2, false), "{r:?}");
    let n = wait_sent(&mut c, &k, r.queue_id).await;
    assert_eq!((n.encoding, n.segments), (pb::SmsEncoding::Ucs2 as i32, 2), "{n:?}");
    // GSM-7 with extension characters (two septets each): 158 + 2×2 = 162 septets, two parts.
    let gsm = format!("{}{{}}", "a".repeat(158));
    let r = c.send_notification(authed(sms(1, "+966501234568", &gsm), &k.api_key, &k.secret_key)).await.unwrap().into_inner();
    assert_eq!((r.encoding, r.segments), (pb::SmsEncoding::Gsm7 as i32, 2), "{r:?}");
    let n = wait_sent(&mut c, &k, r.queue_id).await;
    assert_eq!((n.encoding, n.segments), (pb::SmsEncoding::Gsm7 as i32, 2), "{n:?}");
    let r = c.send_notification(authed(sms(1, "+966501234569", "short"), &k.api_key, &k.secret_key)).await.unwrap().into_inner();
    assert_eq!((r.encoding, r.segments), (pb::SmsEncoding::Gsm7 as i32, 1), "{r:?}");

    // A bulk answers with the parts of all its messages: 3 × 2 (UCS-2, 80 letters).
    let rs = (0..3).map(|i| pb::BulkRecipient { phone: format!("+96650123450{i}"), ..Default::default() }).collect();
    let chunk = pb::SendBulkChunk { settings: Some(pb::BulkSettings { association_id: 1, message: arabic.clone(), ..Default::default() }), recipients: rs };
    let resp = c.send_bulk(authed(tokio_stream::iter(vec![chunk]), &k.api_key, &k.secret_key)).await.unwrap().into_inner();
    assert_eq!((resp.total_recipients, resp.segments), (3, 6), "{resp:?}");
    s.stop().await;
}
