//! Dashboard queries over a large store: fills an embedded store with JOOD_BENCH_MESSAGES
//! messages (default 10,000,000) across 100 associations, starts the real engine on it, logs
//! in, and times `GET /api/v1/dashboard/stats` and the first and 100th pages of `logs`
//! (global, one association, with a status filter, with a search) through HTTP.
//!
//!   cargo bench --bench dashboard_queries
//!   JOOD_BENCH_MESSAGES=1000000 cargo bench --bench dashboard_queries

use jood::app::{App, Secrets};
use jood::auth::{AdminKey, MasterKey};
use jood::store::embedded::{EmbeddedOptions, EmbeddedStore};
use jood::store::{MessageRecord, MessageStatus, Store};
use std::time::{Duration, Instant};

const ASSOCIATIONS: i64 = 100;

fn message(id: i64, i: u64) -> MessageRecord {
    MessageRecord {
        id,
        association_id: 1 + (i as i64 % ASSOCIATIONS),
        campaign_id: None,
        recipient: format!("+96650{:07}", i % 10_000_000),
        country: Some("SA".into()),
        body: format!("Your verification code is {:06}", i % 1_000_000),
        channel: "sms".into(),
        priority: 0,
        status: if i % 10 == 0 { MessageStatus::Failed } else { MessageStatus::Sent },
        scheduled_at: None,
        credential_id: Some(1),
        provider: Some("twilio".into()),
        provider_message_id: Some(format!("SM{i:032x}")),
        error: None,
        attempts: 1,
        created_at: 1_763_700_000_000 + i as i64,
        updated_at: 1_763_700_000_000 + i as i64,
        content: None,
        callback_url: None,
        expires_at: None,
        encoding: None,
        segments: 0,
        email: None,
        fallback: Vec::new(),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and a ten-million-message fill has no place in a test run.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("dashboard_queries: run with `cargo bench --bench dashboard_queries`");
        return;
    }
    let total: u64 = std::env::var("JOOD_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let started = Instant::now();
        {
            let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
            let ids = jood::domain::IdGenerator::new(0);
            let mut written = 0u64;
            while written < total {
                let n = 20_000.min(total - written);
                let block = ids.next_block(n);
                let msgs: Vec<MessageRecord> = block.iter().enumerate().map(|(k, id)| message(*id, written + k as u64)).collect();
                store.insert_messages(&msgs).await.unwrap();
                written += n;
                if written % 1_000_000 == 0 {
                    eprintln!("filled {written} messages ({:.0}/s)", written as f64 / started.elapsed().as_secs_f64());
                }
            }
            store.close().await.unwrap();
        }
        eprintln!("filled {total} messages in {:.1}s", started.elapsed().as_secs_f64());

        let mut config = jood::config::Config::default();
        config.server.http_addr = "127.0.0.1:0".into();
        config.server.grpc_addr = "127.0.0.1:0".into();
        config.store.data_dir = dir.path().to_path_buf();
        config.log.level = "warn".into();
        let secrets = Secrets {
            master: MasterKey::parse(&"33".repeat(32)).unwrap(),
            admin: Some(AdminKey::new("bench-admin")),
            operator: Some(("bench".into(), "bench-password".into())),
        };
        let app = App::build(config, secrets).await.unwrap();
        let base = format!("http://{}", app.http_addr());
        let client = reqwest::Client::new();
        let resp = client.post(format!("{base}/api/v1/dashboard/auth/login")).json(&serde_json::json!({"username": "bench", "password": "bench-password"})).send().await.unwrap();
        let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();

        println!("| query ({total} messages, {ASSOCIATIONS} associations) | mean | max | total in answer |");
        println!("|---|---|---|---|");
        for (label, path) in [
            ("stats (all associations)", "/stats"),
            ("stats (one association)", "/stats?associationId=7"),
            ("logs page 1 (all)", "/logs?page=1&limit=20"),
            ("logs page 100 (all)", "/logs?page=100&limit=20"),
            ("logs page 1 (one association)", "/logs?page=1&limit=20&associationId=7"),
            ("logs page 100 (one association)", "/logs?page=100&limit=20&associationId=7"),
            ("logs page 100, status=failed (one association)", "/logs?page=100&limit=20&status=failed&associationId=7"),
            ("logs search by phone (bounded scan)", "/logs?search=9665000123&associationId=7"),
        ] {
            let mut times = Vec::new();
            let mut total_field = serde_json::Value::Null;
            for _ in 0..20 {
                let t0 = Instant::now();
                let v: serde_json::Value = client.get(format!("{base}/api/v1/dashboard{path}")).header("cookie", &cookie).send().await.unwrap().json().await.unwrap();
                times.push(t0.elapsed());
                assert_eq!(v["success"], true, "{path}: {v}");
                total_field = v["data"]["total"].clone();
                if total_field.is_null() {
                    total_field = v["data"]["totalSent"].clone();
                }
            }
            let mean = times.iter().sum::<Duration>() / times.len() as u32;
            let max = times.iter().max().unwrap();
            println!("| {label} | {:.2} ms | {:.2} ms | {total_field} |", mean.as_secs_f64() * 1000.0, max.as_secs_f64() * 1000.0);
        }
        app.shutdown_token().cancel();
        app.run_until_stopped().await.unwrap();
    });
}
