//! The in-process accept path of `POST /api/v1/webhook/notification`, without HTTP: header
//! and HMAC checks, the association lookup, replay protection, parsing and validation
//! (E.164), id assignment and the durable group-committed write, for many concurrent
//! requests, each uniquely signed. Reported as accepted messages per second.
//!
//! The messages are scheduled 300 days ahead so that dispatch does not run in the background and
//! blur the figure; a scheduled message costs the same write (a schedule index row in place
//! of the unfinished-index row).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use jood::app::{App, Secrets};
use jood::auth::MasterKey;
use jood::config::Config;
use jood::directory::NewAssociation;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (app, secret) = rt.block_on(async {
        let mut config = Config::default();
        config.store.data_dir = dir.path().to_path_buf();
        config.server.http_addr = "127.0.0.1:0".into();
        config.server.grpc_addr = String::new();
        let master = MasterKey::parse(&MasterKey::generate_hex()).unwrap();
        let app = App::build(config, Secrets { master, admin: None, operator: None }).await.unwrap();
        let created = app
            .directory()
            .create_association(NewAssociation { id: 1, name: "Bench".into(), allowed_domains: vec![] })
            .await
            .unwrap();
        (Arc::new(app), created.secret_key)
    });
    let counter = Arc::new(AtomicU64::new(0));

    let mut group = c.benchmark_group("accept_path");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for concurrency in [64usize, 512] {
        let per_task = 20usize;
        group.throughput(Throughput::Elements((concurrency * per_task) as u64));
        group.bench_with_input(BenchmarkId::new("signed_notification", concurrency), &concurrency, |b, &concurrency| {
            b.to_async(&rt).iter_custom(|iters| {
                let (app, secret, counter) = (app.clone(), secret.clone(), counter.clone());
                async move {
                    let started = Instant::now();
                    for _ in 0..iters {
                        let tasks: Vec<_> = (0..concurrency)
                            .map(|_| {
                                let (app, secret, counter) = (app.clone(), secret.clone(), counter.clone());
                                tokio::spawn(async move {
                                    for _ in 0..per_task {
                                        accept_one(&app, &secret, counter.fetch_add(1, Ordering::Relaxed)).await;
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    }
                    started.elapsed()
                }
            })
        });
    }
    group.finish();
}

async fn accept_one(app: &App, secret: &str, n: u64) {
    // Within the 366 days a send may be scheduled ahead (`domain::time::schedule_at`).
    let at = jood::domain::Timestamp(jood::domain::now_ms() + 300 * 24 * 3_600_000).to_iso();
    let body = format!(
        r#"{{"associationId":1,"recipient":"+96650{:06}{}","message":"Your code is {n}","scheduledAt":"{at}"}}"#,
        n % 1_000_000,
        1 + n % 9
    );
    let ts = jood::domain::now_ms().to_string();
    let sig = jood::auth::webhook::sign(secret.as_bytes(), &ts, body.as_bytes());
    let w = app.webhook();
    let verified = w.verify(Some(&sig), Some(&ts), body.as_bytes(), None).await.expect("verified");
    w.check_replay(&verified).await.expect("first use");
    w.notification(&verified, body.as_bytes()).await.expect("accepted");
}

criterion_group!(benches, bench);
criterion_main!(benches);
