//! The WhatsApp bulk send, its jobs, the message history and the stats of seed 000 over real
//! HTTP against the Graph API simulator: small batches answered per recipient, large ones a
//! durable, cancellable job with a `jobId`, every documented error; the history filtered by
//! status and recipient and paged; the stats from the counters; the per-credential
//! throughput setting; and a 10,000-recipient bulk with per-recipient parameters paced at the
//! credential's rate, where Meta's pair limit (131056) makes only the recipients concerned
//! wait.

mod common;

use common::*;
use jood::sim::{SimConfig, SimHandle, Simulator};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PHONE_ID: &str = "106540352242922";
const WABA: &str = "755633283894125";

async fn sim(throughput: u32, pair_interval_ms: u64) -> SimHandle {
    let mut config = SimConfig::meta_whatsapp();
    config.whatsapp.template_review_ms = 50;
    config.whatsapp.pair_interval_ms = pair_interval_ms;
    config.whatsapp.throughput_per_second = throughput;
    config.whatsapp.sent_delay_ms = 5;
    config.whatsapp.delivered_delay_ms = 5;
    config.whatsapp.read_delay_ms = 5;
    config.whatsapp.status_jitter_ms = 0;
    config.whatsapp.read_rate = 1.0;
    config.record_requests = 64;
    let sim = Simulator::start("127.0.0.1:0", config).await.unwrap();
    let numbers = json!({"whatsapp": {"phone_numbers": {PHONE_ID: {"waba_id": WABA}}}});
    let r = reqwest::Client::new().post(format!("{}/_sim/config", sim.base_url())).json(&numbers).send().await.unwrap();
    assert_eq!(r.status(), 200);
    sim
}

async fn server() -> TestServer {
    TestServer::start_with(|c| c.rate_limit.bulk_per_minute = 1000).await
}

fn wa(s: &TestServer, k: &Keys, method: Method, path: &str) -> reqwest::RequestBuilder {
    s.client.request(method, s.url(path)).header("x-api-key", &k.admin_api_key)
}

/// Credentials (with `messagesPerSecond` when given) and an approved template
/// `Hello {{1}}, receipt {{2}}` with variables `name`, `receipt`; returns (credential, template).
async fn setup(s: &TestServer, k: &Keys, sim: &SimHandle, rate: Option<u32>, webhooks: bool) -> (i64, i64) {
    let mut creds = json!({"phoneNumberId": PHONE_ID, "businessAccountId": WABA, "accessToken": "EAAG-token",
        "displayPhoneNumber": "+966920033773", "appSecret": "app-secret", "apiUrl": format!("{}/v23.0", sim.base_url())});
    if let Some(r) = rate {
        creds["messagesPerSecond"] = json!(r);
    }
    let (status, saved) = send(wa(s, k, Method::POST, "/api/v1/whatsapp-credentials/1").json(&creds)).await;
    assert_eq!(status, 200, "{saved}");
    let cred = saved["data"]["id"].as_i64().unwrap();
    if webhooks {
        let target = json!({"phoneNumberId": PHONE_ID, "url": s.url(&format!("/api/v1/callbacks/meta/{cred}")), "appSecret": "app-secret", "wabaId": WABA});
        let r = reqwest::Client::new().post(format!("{}/_sim/whatsapp/webhook", sim.base_url())).json(&target).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let template = json!({"name": "donation_receipt", "language": "ar", "category": "UTILITY", "bodyText": "Hello {{1}}, receipt {{2}}",
        "variables": ["name", "receipt"], "sampleValues": {"name": "Ahmed", "receipt": "R-1"}, "submitToMeta": true});
    let (status, created) = send(wa(s, k, Method::POST, "/api/v1/whatsapp-templates").json(&template)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_i64().unwrap();
    let started = Instant::now();
    loop {
        let (_, t) = send(wa(s, k, Method::POST, &format!("/api/v1/whatsapp-templates/{id}/sync"))).await;
        if t["data"]["status"] == "APPROVED" {
            return (cred, id);
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never approved: {t}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn phone(i: usize) -> String {
    format!("+9665{:08}", 10_000_000 + i)
}

fn entry(i: usize, receipt: &str) -> Value {
    json!({"phone": phone(i), "parameters": {"name": format!("Donor {i}"), "receipt": receipt}})
}

/// Polls the job until its status is final and the counters are settled.
async fn wait_job(s: &TestServer, k: &Keys, job: &str, secs: u64) -> Value {
    let started = Instant::now();
    loop {
        let (code, body) = send(wa(s, k, Method::GET, &format!("/api/v1/whatsapp-send/bulk/status/{job}"))).await;
        assert_eq!(code, 200, "{body}");
        let d = &body["data"];
        if d["completedAt"].is_string() {
            return d.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(secs), "job {job} never finished: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_sends_jobs_history_and_stats() {
    let sim = sim(0, 0).await;
    let s = server().await;
    let k = s.create_association(1, "A").await;
    let other = s.create_association(2, "B").await;
    let (cred, tid) = setup(&s, &k, &sim, Some(500), true).await;

    // The credential shows its throughput; out of range is refused.
    let (_, got) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-credentials/1")).await;
    assert_eq!(got["data"]["messagesPerSecond"], 500.0, "{got}");
    let bad = json!({"phoneNumberId": PHONE_ID, "businessAccountId": WABA, "accessToken": "t", "displayPhoneNumber": "+1", "messagesPerSecond": 1001});
    assert_error(&send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-credentials/1").json(&bad)).await, 400, "messagesPerSecond");

    // Documented errors of the bulk route.
    let post = |body: Value| wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/bulk").json(&body);
    assert_error(&send(post(json!({"templateId": tid, "recipients": []}))).await, 400, "at least one");
    assert_error(&send(post(json!({"templateId": 999, "recipients": [entry(1, "R")]}))).await, 404, "not found");
    assert_error(&send(post(json!({"templateId": tid, "recipients": [{"phone": "+966500000001", "params": {}}]}))).await, 400, "params");
    assert_error(&send(post(json!({"templateId": tid, "recipients": [entry(1, "R")], "credentialId": 424242}))).await, 400, "credentialId");
    assert_error(&send(post(json!({"templateId": tid, "associationId": 2, "recipients": [entry(1, "R")]}))).await, 403, "another association");
    assert_error(&send(post(json!({"recipients": [entry(1, "R")]}))).await, 400, "templateId");
    let (_, draft) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-templates").json(&json!({"name": "draft_one", "language": "en", "category": "UTILITY", "bodyText": "Hi"}))).await;
    let draft = draft["data"]["id"].as_i64().unwrap();
    assert_error(&send(post(json!({"templateId": draft, "recipients": [entry(1, "R")]}))).await, 400, "only APPROVED");
    assert_error(&send(wa(&s, &other, Method::POST, "/api/v1/whatsapp-send/bulk").json(&json!({"templateId": tid, "recipients": [entry(1, "R")]}))).await, 404, "not found");
    assert_eq!(sim.stats()["whatsapp"]["sends"]["accepted"].as_u64().unwrap_or(0), 0, "nothing was sent");

    // Small batch: each recipient's result, in order; bad entries named, the rest sent.
    let small = json!({"templateId": tid, "credentialId": cred, "recipients": [entry(1, "R-1"), {"phone": "12", "parameters": {}},
        {"phone": phone(2), "parameters": {"name": "x"}}]});
    let (status, done) = send(post(small)).await;
    assert_eq!(status, 200, "{done}");
    let d = &done["data"];
    assert_eq!((d["total"].as_u64(), d["sent"].as_u64(), d["failed"].as_u64()), (Some(3), Some(1), Some(2)), "{d}");
    assert!(d["results"][0]["metaMessageId"].as_str().is_some_and(|m| m.starts_with("wamid.")), "{d}");
    assert_eq!((d["results"][1]["index"].as_u64(), d["results"][1]["success"].as_bool()), (Some(1), Some(false)));
    assert!(d["results"][2]["error"].as_str().unwrap().contains("parameters.receipt is required"), "{d}");

    // Over 50: a job. 60 recipients, one exact repeat removed, one invalid reported.
    let mut recipients: Vec<Value> = (100..160).map(|i| entry(i, &format!("R-{i}"))).collect();
    recipients.push(entry(100, "R-100"));
    recipients.push(json!({"phone": "not a number", "parameters": {}}));
    let (status, job) = send(post(json!({"templateId": tid, "recipients": recipients}))).await;
    assert_eq!(status, 202, "{job}");
    let j = &job["data"];
    let job_id = j["jobId"].as_str().unwrap().to_owned();
    assert!(job_id.starts_with("wa_bulk_"), "{j}");
    assert_eq!((j["status"].as_str(), j["total"].as_u64(), j["duplicatesRemoved"].as_u64()), (Some("processing"), Some(60), Some(1)), "{j}");
    assert_eq!((j["invalidRecipients"]["count"].as_u64(), j["invalidRecipients"]["items"][0]["index"].as_u64()), (Some(1), Some(61)), "{j}");
    assert!(j["startedAt"].is_string());
    let done = wait_job(&s, &k, &job_id, 30).await;
    assert_eq!((done["status"].as_str(), done["sent"].as_u64(), done["failed"].as_u64()), (Some("completed"), Some(60), Some(0)), "{done}");
    // A job is the caller's own, and is a WhatsApp job.
    assert_error(&send(wa(&s, &other, Method::GET, &format!("/api/v1/whatsapp-send/bulk/status/{job_id}"))).await, 404, "not found");
    assert_error(&send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-send/bulk/status/wa_bulk_12345")).await, 404, "not found");
    assert_error(&send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-send/bulk/status/nonsense")).await, 404, "not found");
    assert_error(&send(wa(&s, &k, Method::DELETE, &format!("/api/v1/whatsapp-send/bulk/{job_id}"))).await, 409, "already");

    // Every message of the job was rendered with its own parameters.
    let (_, page) = send(wa(&s, &k, Method::GET, &format!("/api/v1/whatsapp-messages?recipient={}", &phone(123)[1..]))).await;
    let items = page["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["content"], "Hello Donor 123, receipt R-123");
    assert_eq!(items[0]["jobId"], job_id.as_str());

    // History: the statuses come back by webhook (sent → delivered → read).
    let started = Instant::now();
    loop {
        let (code, page) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?status=READ&limit=10")).await;
        assert_eq!(code, 200, "{page}");
        if page["data"]["total"] == 61 {
            let items = page["data"]["items"].as_array().unwrap();
            assert_eq!(items.len(), 10);
            assert!(items.iter().all(|m| m["status"] == "READ" && m["deliveryStatus"] == "read"), "{page}");
            let ids: Vec<i64> = items.iter().map(|m| m["id"].as_i64().unwrap()).collect();
            assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not all read: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, sent_only) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?status=sent")).await;
    assert_eq!(sent_only["data"]["total"], 0, "{sent_only}");
    let (_, all) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?limit=50&offset=50")).await;
    assert_eq!((all["data"]["total"].as_u64(), all["data"]["items"].as_array().unwrap().len()), (Some(61), 11), "{all}");
    // Partial recipient: the first digits, `+` optional.
    let (_, part) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?recipient=%2B96651000011&limit=5")).await;
    assert_eq!((part["data"]["total"].as_u64(), part["data"]["items"].as_array().unwrap().len()), (Some(10), 5), "{part}");
    let (_, part) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?recipient=96651000011&status=FAILED")).await;
    assert_eq!(part["data"]["total"], 0);
    // Without `+`, a fragment anywhere in the number (an infix match), paged like the rest.
    let (_, part) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?recipient=00012&limit=4&offset=8")).await;
    assert_eq!((part["data"]["total"].as_u64(), part["data"]["totalLimited"].as_bool()), (Some(10), Some(false)), "{part}");
    let items = part["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{part}");
    assert!(items.iter().all(|m| m["recipient"].as_str().unwrap().contains("00012")), "{part}");
    let (_, part) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?recipient=0159")).await;
    assert_eq!(part["data"]["total"], 1, "{part}");
    assert_eq!(part["data"]["items"][0]["content"], "Hello Donor 159, receipt R-159");
    // Anchored with `+`, the same digits match no number's start.
    let (_, part) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?recipient=%2B00012")).await;
    assert_eq!(part["data"]["total"], 0, "{part}");
    // The super-admin names the association; errors.
    let (code, admin) = send(s.client.get(s.url("/api/v1/whatsapp-messages?associationId=1&limit=1")).header("x-api-key", ADMIN_KEY)).await;
    assert_eq!((code, admin["data"]["total"].as_u64()), (200, Some(61)), "{admin}");
    assert_error(&send(s.client.get(s.url("/api/v1/whatsapp-messages")).header("x-api-key", ADMIN_KEY)).await, 400, "associationId is required");
    assert_error(&send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?status=LOST")).await, 400, "status");
    assert_error(&send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?limit=0")).await, 400, "limit");
    assert_error(&send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?limit=many")).await, 400, "limit");
    assert_error(&send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?recipient=abc")).await, 400, "recipient");
    assert_error(&send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-messages?associationId=2")).await, 403, "another association");
    assert_error(&send(s.client.get(s.url("/api/v1/whatsapp-messages"))).await, 401, "");
    let (_, none) = send(wa(&s, &other, Method::GET, "/api/v1/whatsapp-messages")).await;
    assert_eq!(none["data"]["total"], 0);

    // Stats: from the counters.
    let (code, stats) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-stats?days=7")).await;
    assert_eq!(code, 200, "{stats}");
    assert_eq!(stats["data"], json!({"total": 61, "sent": 61, "delivered": 61, "read": 61, "failed": 0, "templates": 2, "period": 7}));
    let (_, default) = send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-stats")).await;
    assert_eq!(default["data"]["period"], 30);
    assert_error(&send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-stats?days=0")).await, 400, "days");
    assert_error(&send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-stats?days=400")).await, 400, "days");
    assert_error(&send(wa(&s, &k, Method::GET, "/api/v1/whatsapp-stats?associationId=9")).await, 403, "another association");
    let (code, missing) = send(s.client.get(s.url("/api/v1/whatsapp-stats?associationId=9")).header("x-api-key", ADMIN_KEY)).await;
    assert_eq!(code, 404, "{missing}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_job_is_cancelled_through_the_campaign_machinery() {
    let sim = sim(0, 0).await;
    let s = server().await;
    let k = s.create_association(1, "A").await;
    // 2 messages a second: the job is still running when it is cancelled.
    let (_, tid) = setup(&s, &k, &sim, Some(2), false).await;
    let recipients: Vec<Value> = (0..100).map(|i| entry(i, "R")).collect();
    let (status, job) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/bulk").json(&json!({"templateId": tid, "recipients": recipients}))).await;
    assert_eq!(status, 202, "{job}");
    let job_id = job["data"]["jobId"].as_str().unwrap().to_owned();
    let (status, cancelled) = send(wa(&s, &k, Method::DELETE, &format!("/api/v1/whatsapp-send/bulk/{job_id}"))).await;
    assert_eq!((status, cancelled["data"]["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
    let d = wait_job(&s, &k, &job_id, 30).await;
    assert_eq!(d["status"], "cancelled");
    let (sent, cancelled) = (d["sent"].as_u64().unwrap(), d["cancelled"].as_u64().unwrap());
    assert!(cancelled > 0 && sent + cancelled + d["failed"].as_u64().unwrap() == 100, "{d}");
    let accepted = sim.stats()["whatsapp"]["sends"]["accepted"].as_u64().unwrap_or(0);
    assert_eq!(accepted, sent, "what Meta accepted is what the job counts as sent");
    assert_error(&send(wa(&s, &k, Method::DELETE, &format!("/api/v1/whatsapp-send/bulk/{job_id}"))).await, 409, "already");
    s.stop().await;
}

/// 10,000 entries with their own parameters through a number the simulator limits to 300
/// messages/s, with the credential set to 250/s; 100 donors appear twice (two receipts)
/// 1,000 entries apart, about 4 s at that pace: inside Meta's ~6 s pair interval. The number's
/// limit is never hit (the engine keeps the configured pace), every message is sent, and
/// the pair-limit refusals are retried for those recipients only: no other message needed a
/// second call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_recipients_at_the_configured_pace_with_pair_limit_retries() {
    let sim = sim(300, 6_000).await;
    let s = server().await;
    let k = s.create_association(1, "A").await;
    let (_, tid) = setup(&s, &k, &sim, Some(250), false).await;
    let mut recipients: Vec<Value> = (0..9_900).map(|i| entry(i, &format!("R-{i}"))).collect();
    for j in 0..100 {
        // The second receipt of donor 1000 + j, 1,000 entries after the first.
        recipients.insert(2_000 + j * 10 + 1, entry(1_000 + j, &format!("R-second-{j}")));
    }
    assert_eq!(recipients.len(), 10_000);
    let (status, job) = send(wa(&s, &k, Method::POST, "/api/v1/whatsapp-send/bulk").json(&json!({"templateId": tid, "recipients": recipients}))).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!((job["data"]["total"].as_u64(), job["data"]["duplicatesRemoved"].as_u64()), (Some(10_000), Some(0)), "{job}");
    let job_id = job["data"]["jobId"].as_str().unwrap().to_owned();
    let d = wait_job(&s, &k, &job_id, 600).await;
    assert_eq!((d["status"].as_str(), d["sent"].as_u64(), d["failed"].as_u64()), (Some("completed"), Some(10_000), Some(0)), "{d}");

    let stats = sim.stats();
    let sends = &stats["whatsapp"]["sends"];
    assert_eq!(sends["accepted"].as_u64(), Some(10_000), "{stats}");
    assert_eq!(sends["refused"]["130429"].as_u64(), Some(0), "the number's throughput was never exceeded: {stats}");
    let pair = sends["refused"]["131056"].as_u64().unwrap_or(0);
    assert!(pair >= 1, "the repeated donors met the pair limit: {stats}");

    // Only the second receipts were called more than once; each ended sent.
    let campaign = jood::whatsapp::bulk::parse_job_id(&job_id).unwrap();
    let mut after = None;
    let (mut retried, mut seen) = (Vec::new(), 0);
    loop {
        let ids = s.store.list_campaign_messages(campaign, after, 1000).await.unwrap();
        let Some(last) = ids.last().copied() else { break };
        after = Some(last);
        for id in ids {
            let m = s.store.get_message(id).await.unwrap().unwrap();
            seen += 1;
            assert_eq!(m.status.as_str(), "sent", "{m:?}");
            let attempts = s.store.list_attempts(id).await.unwrap();
            if attempts.len() > 1 {
                assert!(m.body.contains("R-second-"), "only a repeated donor waits: {m:?} {attempts:?}");
                assert!(attempts.iter().rev().skip(1).all(|a| a.result == "deferred"), "{attempts:?}");
                retried.push(id);
            }
            if m.recipient == phone(77) {
                assert_eq!(m.body, "Hello Donor 77, receipt R-77");
            }
        }
    }
    assert_eq!(seen, 10_000);
    assert!(!retried.is_empty() && retried.len() as u64 <= pair, "{} retried, {pair} refusals", retried.len());
    s.stop().await;
}

/// WhatsApp template writes are compare-and-set on a version, like every management write:
/// a write from a stale read is refused with nothing written, a deleted template is not
/// brought back by a racing write, and a new row never replaces an existing one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_writes_are_compare_and_set() {
    use jood::store::StoreError;
    let sim = sim(0, 0).await;
    let s = server().await;
    let k = s.create_association(1, "A").await;
    let (_, tid) = setup(&s, &k, &sim, None, false).await;
    let read = s.store.get_wa_template(tid).await.unwrap().unwrap();
    assert!(read.version >= 2, "created, submitted, synced: {}", read.version);
    // Someone else writes first (an update through the API)...
    let (status, _) = send(wa(&s, &k, Method::PUT, &format!("/api/v1/whatsapp-templates/{tid}")).json(&json!({"footerText": "Jood"}))).await;
    assert_eq!(status, 200);
    // ...so a write from the earlier read is refused, and the update stands.
    let mut stale = read.clone();
    stale.footer_text = Some("lost update".into());
    assert!(matches!(s.store.put_wa_template(&stale).await, Err(StoreError::VersionMismatch(_))));
    let now = s.store.get_wa_template(tid).await.unwrap().unwrap();
    assert_eq!((now.footer_text.as_deref(), now.version), (Some("Jood"), read.version + 1));
    // A new row with a taken id is a conflict.
    let fresh = jood::store::WaTemplateRecord { version: 0, ..now.clone() };
    assert!(matches!(s.store.put_wa_template(&fresh).await, Err(StoreError::Conflict(_))));
    // Deleted: a racing write from before the delete does not bring it back.
    let (status, _) = send(wa(&s, &k, Method::DELETE, &format!("/api/v1/whatsapp-templates/{tid}"))).await;
    assert_eq!(status, 200);
    assert!(matches!(s.store.put_wa_template(&now).await, Err(StoreError::VersionMismatch(_))));
    assert!(s.store.get_wa_template(tid).await.unwrap().is_none());
    s.stop().await;
}
