//! Operations: the metric families on `/metrics` after a send, `/readyz`, a real Prometheus
//! server scraping the engine and answering a query with its data, and JSON logs from the
//! binary.

mod common;
#[path = "common/redis_server.rs"]
mod redis_server;

use common::*;
use jood::sim::{SimConfig, Simulator};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Whether the exposition has a sample of `family` carrying every `labels` pair.
fn has_series(body: &str, family: &str, labels: &[(&str, &str)]) -> bool {
    body.lines().filter(|l| !l.starts_with('#')).any(|l| {
        let name_end = l.find(['{', ' ']).unwrap_or(l.len());
        &l[..name_end] == family && labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_cover_the_main_families_after_a_send() {
    let sim = Simulator::start("127.0.0.1:0", SimConfig::default()).await.unwrap();
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    s.add_credential(1, &k, json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "ACmetrics", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true}))
        .await;
    let id = s.send_sms(1, &k.secret_key, "+966501234567", "metrics").await;
    assert_eq!(s.wait_terminal(&k, id, 20).await["status"], "sent");
    // Invented methods must not mint series: each would be a new label value.
    for verb in ["FROB", "GRAB"] {
        let method = reqwest::Method::from_bytes(verb.as_bytes()).unwrap();
        let (status, _) = send(s.client.request(method, s.url("/api/v1/providers"))).await;
        assert_eq!(status, 405, "{verb}");
    }

    let resp = reqwest::get(s.url("/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let body = resp.text().await.unwrap();
    let route = ("route", "/api/v1/webhook/notification");
    for (family, labels) in [
        ("jood_http_requests_total", vec![route, ("method", "POST"), ("status", "200")]),
        ("jood_http_request_duration_seconds_bucket", vec![route]),
        ("jood_http_requests_total", vec![("route", "/api/v1/providers"), ("method", "OTHER"), ("status", "405")]),
        ("jood_ingress_messages_accepted_total", vec![("channel", "sms")]),
        ("jood_dispatch_messages_total", vec![("status", "sent"), ("channel", "sms"), ("provider", "twilio")]),
        ("jood_provider_call_duration_seconds_bucket", vec![("provider", "twilio"), ("outcome", "sent")]),
        ("jood_credential_calls_in_flight", vec![("provider", "twilio")]),
        ("jood_credential_circuit_open", vec![("provider", "twilio")]),
        ("jood_store_commit_duration_seconds_bucket", vec![]),
        ("jood_store_commit_batch_size_bucket", vec![]),
        ("jood_dispatch_messages_in_memory", vec![]),
        ("jood_schedule_backlog", vec![]),
        ("jood_schedule_overdue_seconds", vec![]),
    ] {
        assert!(has_series(&body, family, &labels), "no {family} {labels:?} in:\n{body}");
    }
    // Every family is described, and no label carries a raw id or an error text.
    assert!(body.contains("# HELP jood_dispatch_messages_total"), "{body}");
    assert!(!body.contains(&id.to_string()), "a message id leaked into a label");
    assert!(!body.contains("FROB") && !body.contains("GRAB"), "a client's method became a label");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_checks_the_store_and_redis() {
    let s = TestServer::start().await;
    let (status, body) = send(s.client.get(s.url("/readyz"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({"status": "ready", "store": "ok", "redis": "not_configured"}));

    // Redis configured but nowhere to be found: live, not ready.
    let no_redis = TestServer::start_with(|c| {
        c.redis.url = "redis://127.0.0.1:1/0".into();
        c.redis.timeout_ms = 100;
    })
    .await;
    let got = send(no_redis.client.get(no_redis.url("/readyz"))).await;
    assert_error(&got, 503, "not ready: redis unreachable");
    assert_eq!(got.1["code"], "unavailable");
    let (status, _) = send(no_redis.client.get(no_redis.url("/healthz"))).await;
    assert_eq!(status, 200);
    no_redis.stop().await;

    // A real Redis: ready while it answers, not ready once it is gone.
    if let Some(mut redis) = redis_server::RedisServer::start("readyz_checks_the_store_and_redis (redis part)") {
        let with_redis = TestServer::start_with(|c| {
            c.redis.url = redis.url();
            c.redis.timeout_ms = 200;
        })
        .await;
        let (status, body) = send(with_redis.client.get(with_redis.url("/readyz"))).await;
        assert_eq!((status, &body["data"]["redis"]), (200, &json!("up")), "{body}");
        redis.kill();
        assert_error(&send(with_redis.client.get(with_redis.url("/readyz"))).await, 503, "not ready: redis unreachable");
        with_redis.stop().await;
    }

    // A store that no longer takes writes.
    s.store.close().await.unwrap();
    let got = send(s.client.get(s.url("/readyz"))).await;
    assert_error(&got, 503, "not ready: store not writable");
}

/// A free loopback port (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the Prometheus child even when an assertion fails.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_engine() {
    let Ok(prometheus) = which("prometheus") else {
        eprintln!("SKIPPED: no `prometheus` binary on PATH (apt-get install -y prometheus)");
        return;
    };
    let s = TestServer::start().await;
    let k = s.create_association(1, "A").await;
    s.send_sms(1, &k.secret_key, "+966501234567", "scraped").await;

    let dir = tempfile::tempdir().unwrap();
    let target = s.base.trim_start_matches("http://");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: jood\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n"),
    )
    .unwrap();
    let web = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _child = Child(
        std::process::Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address={web}"))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    );

    // Poll the query API until the series shows up (Prometheus starts, then scrapes each second).
    let query = format!("http://{web}/api/v1/query?query=jood_http_requests_total");
    let started = Instant::now();
    let series = loop {
        if let Ok(resp) = reqwest::get(&query).await {
            if let Ok(v) = resp.json::<Value>().await {
                let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
                if result.iter().any(|r| r["metric"]["route"] == "/api/v1/webhook/notification") {
                    break result;
                }
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
            panic!("Prometheus had no jood_http_requests_total from the engine after 30 s; its log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let sent = series.iter().find(|r| r["metric"]["route"] == "/api/v1/webhook/notification").unwrap();
    assert_eq!(sent["metric"]["job"], "jood", "{sent}");
    assert_eq!(sent["metric"]["instance"], target, "{sent}");
    assert_eq!(sent["metric"]["status"], "200", "{sent}");
    let value: f64 = sent["value"][1].as_str().unwrap().parse().unwrap();
    assert!(value >= 1.0, "{sent}");
    s.stop().await;
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).ok_or(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_json_lines_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut engine = EngineProcess::spawn_with_env(&data, &[], &[("JOOD__LOG__FORMAT", "json")]);
    let (status, _) = send(reqwest::Client::new().get(format!("{}/api/v1/associations", engine.base)).header("x-api-key", "nope").header("x-api-secret", "nope")).await;
    assert_eq!(status, 401);
    assert!(engine.terminate(Duration::from_secs(30)).success());
    let log = std::fs::read_to_string(&engine.log).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{log}");
    let mut messages = Vec::new();
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string() && v["fields"]["message"].is_string(), "{line}");
        messages.push(v["fields"]["message"].as_str().unwrap().to_string());
    }
    assert!(messages.iter().any(|m| m.starts_with("jood ready: listening on http://")), "{messages:?}");
    assert!(messages.iter().any(|m| m == "store flushed; bye"), "{messages:?}");
}
