//! Where a delivery status shows, end to end over real HTTP and gRPC with the simulator:
//! dashboard logs (the `delivered`/`undelivered` filters, the status columns) and stats
//! (`totalDelivered`, `deliveryRate`, by provider, today) from the simulator's own reports
//! flowing back; campaign progress (`GET /api/v1/campaigns/:id`, the dashboard list,
//! `WatchCampaign`) counting reports that arrive after the campaign completed;
//! `GetNotification`'s timeline; the Prometheus series of the return path.

mod common;

use common::*;
use jood::api::grpc::pb;
use jood::api::grpc::pb::notifications_client::NotificationsClient;
use jood::sim::{SimConfig, Simulator};
use reqwest::Method;
use serde_json::{json, Value};
use tonic::Request;

/// A free loopback port, so the engine's `server.public_url` can name it before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A session cookie and CSRF token of the configured super operator.
async fn dashboard(s: &TestServer) -> (String, String) {
    let resp = s.client.post(s.url("/api/v1/dashboard/auth/login")).json(&json!({"username": OPERATOR, "password": OPERATOR_PASSWORD})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    (cookie, body["data"]["csrfToken"].as_str().unwrap().to_string())
}

async fn dash_get(s: &TestServer, session: &(String, String), path: &str) -> Value {
    let rb = s.client.get(s.url(&format!("/api/v1/dashboard{path}"))).header("cookie", &session.0).header("x-csrf-token", &session.1);
    let (status, body) = send(rb).await;
    assert_eq!(status, 200, "{path}: {body}");
    body["data"].clone()
}

async fn notification(s: &TestServer, k: &Keys, id: i64) -> Value {
    let (status, body) = send(s.req(Method::GET, &format!("/api/v1/notifications/{id}"), &k.api_key, &k.secret_key)).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// Polls a notification until `want` (or 20 s pass).
async fn wait_status(s: &TestServer, k: &Keys, id: i64, want: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let n = notification(s, k, id).await;
        if n["status"] == want {
            return n;
        }
        assert!(started.elapsed().as_secs() < 20, "notification {id} is not {want}: {n}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn campaign(s: &TestServer, k: &Keys, id: i64) -> Value {
    let (status, body) = send(s.req(Method::GET, &format!("/api/v1/campaigns/{id}"), &k.api_key, &k.secret_key)).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn authed<T>(msg: T, k: &Keys) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert("x-api-key", k.api_key.parse().unwrap());
    r.metadata_mut().insert("x-api-secret", k.secret_key.parse().unwrap());
    r
}

/// Six messages delivered and three undelivered by the simulator's Twilio reports: the logs'
/// filters list them with their totals from counters, and the stats count them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_logs_and_stats_show_what_the_reports_said() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig { dlr_delay_ms: 10, dlr_jitter_ms: 10, dlr_duplicate_rate: 0.3, ..SimConfig::default() }).await.unwrap();
    let port = free_port();
    let s = TestServer::start_with(move |c| {
        c.dispatch.route_refresh_ms = 1;
        c.server.http_addr = format!("127.0.0.1:{port}");
        c.server.public_url = format!("http://127.0.0.1:{port}");
    })
    .await;
    let k = s.create_association(1, "A").await;
    let twilio = json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "AC_views", "authToken": "tw-token"}, "apiUrl": sim.base_url(), "isDefault": true});
    s.add_credential(1, &k, twilio).await;
    let mut delivered = Vec::new();
    for i in 0..6 {
        delivered.push(s.send_sms(1, &k.secret_key, "+966501234567", &format!("delivered {i}")).await);
    }
    for id in &delivered {
        wait_status(&s, &k, *id, "delivered").await;
    }
    sim.set_config(SimConfig { dlr_delay_ms: 10, dlr_undelivered_rate: 1.0, ..SimConfig::default() }).unwrap();
    let mut undelivered = Vec::new();
    for i in 0..3 {
        undelivered.push(s.send_sms(1, &k.secret_key, "+966501234568", &format!("undelivered {i}")).await);
    }
    for id in &undelivered {
        wait_status(&s, &k, *id, "undelivered").await;
    }

    let session = dashboard(&s).await;
    let page = dash_get(&s, &session, "/logs?status=delivered&limit=50").await;
    assert_eq!(page["total"], 6, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 6, "{page}");
    assert!(items.iter().all(|i| i["deliveryStatus"] == "delivered" && i["status"] == "success" && i["provider"] == "twilio"), "{page}");
    assert!(items.iter().all(|i| i["sentAt"].is_string()), "{page}");
    let page = dash_get(&s, &session, "/logs?status=undelivered&limit=50").await;
    assert_eq!(page["total"], 3, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.iter().map(|i| i["id"].as_i64().unwrap()).collect::<Vec<_>>(), undelivered.iter().rev().copied().collect::<Vec<_>>());
    assert!(items.iter().all(|i| i["deliveryStatus"] == "undelivered" && i["status"] == "failed"), "{page}");
    assert!(items.iter().all(|i| i["error"] == "30003: Unreachable destination handset"), "{page}");
    // The documented filters agree with the status column and with each other.
    assert_eq!(dash_get(&s, &session, "/logs?status=success").await["total"], 6);
    assert_eq!(dash_get(&s, &session, "/logs?status=failed").await["total"], 3);
    assert_eq!(dash_get(&s, &session, "/logs?status=pending").await["total"], 0);
    assert_eq!(dash_get(&s, &session, "/logs?status=read").await["total"], 0);
    assert_eq!(dash_get(&s, &session, "/logs").await["total"], 9);
    let (status, body) = send(s.client.get(s.url("/api/v1/dashboard/logs?status=bogus")).header("cookie", &session.0)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("delivered, undelivered"), "{body}");

    for scope in ["", "?associationId=1"] {
        let st = dash_get(&s, &session, &format!("/stats{scope}")).await;
        assert_eq!((st["totalSent"].as_i64(), st["totalFailed"].as_i64()), (Some(9), Some(0)), "{st}");
        assert_eq!((st["totalDelivered"].as_i64(), st["totalUndelivered"].as_i64(), st["totalRead"].as_i64()), (Some(6), Some(3), Some(0)), "{st}");
        assert_eq!(st["deliveryRate"], 66.67, "{st}");
        assert_eq!(st["successRate"], 100.0, "{st}");
        // One SMS segment each: the billed parts are counted beside the outcomes.
        assert_eq!(st["byProvider"]["twilio"], json!({"sent": 9, "failed": 0, "delivered": 6, "undelivered": 3, "segments": 9}), "{st}");
        assert_eq!((st["totalSegments"].as_i64(), st["todaySegments"].as_i64()), (Some(9), Some(9)), "{st}");
        // Everything happened today.
        assert_eq!((st["todayDelivered"].as_i64(), st["todayUndelivered"].as_i64()), (Some(6), Some(3)), "{st}");
        assert_eq!(st["todayDeliveryRate"], 66.67, "{st}");
        assert_eq!(st["todayByProvider"], st["byProvider"], "{st}");
    }

    // Prometheus: the reports by provider and status, the latency histogram, the report-driven ends.
    let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for series in [
        r#"jood_delivery_reports_total{provider="twilio",status="delivered"}"#,
        r#"jood_delivery_reports_total{provider="twilio",status="undelivered"}"#,
        r#"jood_delivery_sent_to_delivered_seconds_bucket{provider="twilio""#,
        r#"jood_messages_finished_total{status="delivered",channel="sms",provider="twilio"}"#,
        r#"jood_messages_finished_total{status="undelivered",channel="sms",provider="twilio"}"#,
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
    s.stop().await;
}

fn infobip_report(pid: &str, group: i64, name: &str) -> Value {
    json!({"messageId": pid, "to": "966501234567", "doneAt": "2026-03-01T09:00:04.000+0000",
           "status": {"groupId": group, "groupName": "X", "id": 5, "name": name},
           "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error", "permanent": false}})
}

/// A campaign completes before any report (the simulator sends none); the reports POSTed
/// afterwards still count in its progress on HTTP, the dashboard and a gRPC watch that
/// follows them, and GetNotification shows the new status with its timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_progress_counts_reports_that_arrive_after_it_completed() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig { dlr_enabled: false, ..SimConfig::default() }).await.unwrap();
    let s = TestServer::start_with(|c| c.dispatch.route_refresh_ms = 1).await;
    let k = s.create_association(1, "A").await;
    let infobip = json!({"providerId": 6, "senderName": "JOOD", "credentials": {"apiKey": "ib-key"}, "apiUrl": sim.base_url(), "isDefault": true});
    let cred = s.add_credential(1, &k, infobip).await;
    let recipients: Vec<String> = (1..=4).map(|i| format!("+96650123456{i}")).collect();
    let body = json!({"associationId": 1, "message": "campaign", "recipients": recipients}).to_string();
    let (status, resp) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &body)).await;
    assert_eq!(status, 200, "{resp}");
    let id = resp["data"]["campaignId"].as_i64().unwrap();
    let started = std::time::Instant::now();
    let done = loop {
        let c = campaign(&s, &k, id).await;
        if c["status"] == "completed" {
            break c;
        }
        assert!(started.elapsed().as_secs() < 20, "campaign not completed: {c}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!((done["sent"].as_u64(), done["delivered"].as_u64(), done["undelivered"].as_u64(), done["read"].as_u64()), (Some(4), Some(0), Some(0), Some(0)), "{done}");

    // A watch that follows the reports: its first snapshot is the completed campaign.
    let mut grpc = NotificationsClient::connect(s.grpc.clone()).await.unwrap();
    let watch = pb::WatchCampaignRequest { campaign_id: id, min_interval_ms: 100, reports_idle_ms: 60_000 };
    let mut stream = grpc.watch_campaign(authed(watch, &k)).await.unwrap().into_inner();
    let first = stream.message().await.unwrap().expect("a first snapshot");
    assert_eq!((first.status, first.sent, first.delivered, first.undelivered), (pb::CampaignStatus::Completed as i32, 4, 0, 0), "{first:?}");

    let ids = s.store.list_campaign_messages(id, None, 10).await.unwrap();
    let mut pids = Vec::new();
    for m in &ids {
        pids.push(s.store.get_message(*m).await.unwrap().unwrap().provider_message_id.expect("provider id"));
    }
    let batch = json!({"results": [
        infobip_report(&pids[0], 3, "DELIVERED_TO_HANDSET"), infobip_report(&pids[1], 3, "DELIVERED_TO_HANDSET"),
        infobip_report(&pids[2], 3, "DELIVERED_TO_HANDSET"), infobip_report(&pids[3], 2, "UNDELIVERABLE_NOT_DELIVERED"),
        // A repeat changes nothing, in the campaign's counters too.
        infobip_report(&pids[0], 3, "DELIVERED_TO_HANDSET"),
    ]});
    let (status, body) = send(s.client.post(s.url(&format!("/api/v1/callbacks/infobip/{cred}"))).json(&batch)).await;
    assert_eq!((status, &body["data"]), (200, &json!({"changed": 4, "unchanged": 1, "unknown": 0, "parked": 0})), "{body}");

    // The watch sees the reports and ends once every sent message has an outcome.
    let mut last = first;
    while let Some(p) = stream.message().await.unwrap() {
        assert!(p.delivered >= last.delivered && p.undelivered >= last.undelivered, "{p:?} after {last:?}");
        last = p;
    }
    assert_eq!((last.sent, last.delivered, last.undelivered, last.failed), (4, 3, 1, 0), "{last:?}");

    let c = campaign(&s, &k, id).await;
    assert_eq!((c["status"].as_str(), c["sent"].as_u64(), c["delivered"].as_u64(), c["undelivered"].as_u64()), (Some("completed"), Some(4), Some(3), Some(1)), "{c}");
    let session = dashboard(&s).await;
    let list = dash_get(&s, &session, "/campaigns").await;
    let item = &list["items"][0];
    assert_eq!((item["id"].as_i64(), item["delivered"].as_u64(), item["undelivered"].as_u64()), (Some(id), Some(3), Some(1)), "{list}");

    // GetNotification: the reported status and the whole timeline.
    let n = grpc.get_notification(authed(pb::GetNotificationRequest { id: ids[0] }, &k)).await.unwrap().into_inner();
    assert_eq!(n.status, pb::NotificationStatus::Delivered as i32, "{n:?}");
    let kinds: Vec<(&str, i32, &str)> = n.timeline.iter().map(|e| (e.event.as_str(), e.status, e.source.as_str())).collect();
    use pb::NotificationStatus as S;
    assert_eq!(kinds.first(), Some(&("accepted", S::Queued as i32, "engine")), "{n:?}");
    assert!(kinds.contains(&("attempt", S::Unspecified as i32, "infobip")), "{n:?}");
    assert!(kinds.contains(&("status", S::Sent as i32, "engine")), "{n:?}");
    let last_event = n.timeline.last().unwrap();
    assert_eq!((last_event.event.as_str(), last_event.status, last_event.source.as_str()), ("status", S::Delivered as i32, "infobip"), "{n:?}");
    assert_eq!(last_event.provider_status, "DELIVERED_TO_HANDSET");
    assert_eq!(last_event.at.as_ref().map(|t| t.seconds), Some(1_772_355_604), "{n:?}");
    let n = grpc.get_notification(authed(pb::GetNotificationRequest { id: ids[3] }, &k)).await.unwrap().into_inner();
    assert_eq!(n.status, pb::NotificationStatus::Undelivered as i32, "{n:?}");
    s.stop().await;
}
