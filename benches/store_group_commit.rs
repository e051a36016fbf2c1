//! Durable single-message writes per second through the embedded store's group commit.
//!
//! Many concurrent writers each insert one message at a time and wait until it is fsync'd,
//! exactly like ingress requests do; the committer folds whatever is queued into one fsync.
//! Reported as messages/s (criterion's throughput), plus fsyncs made and messages per fsync.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use jood::store::embedded::{EmbeddedOptions, EmbeddedStore};
use jood::store::{MessageRecord, MessageStatus, SharedStore};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn message(id: i64) -> MessageRecord {
    MessageRecord {
        id,
        association_id: 1,
        campaign_id: None,
        recipient: "+966500000001".into(),
        country: Some("SA".into()),
        body: "Your verification code is 482901".into(),
        channel: "sms".into(),
        priority: 0,
        status: MessageStatus::Queued,
        scheduled_at: None,
        credential_id: None,
        provider: None,
        provider_message_id: None,
        error: None,
        attempts: 0,
        created_at: 1_763_700_000_000,
        updated_at: 1_763_700_000_000,
        content: None,
        callback_url: None,
        expires_at: None,
        encoding: None,
        segments: 0,
        email: None,
        fallback: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let embedded = Arc::new(EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap());
    let store: SharedStore = embedded.clone();
    let next_id = Arc::new(AtomicI64::new(1));

    let mut group = c.benchmark_group("store_group_commit");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for writers in [64usize, 512, 2048] {
        let per_writer = 20usize;
        group.throughput(Throughput::Elements((writers * per_writer) as u64));
        group.bench_with_input(BenchmarkId::new("durable_single_writes", writers), &writers, |b, &writers| {
            b.to_async(&rt).iter_custom(|iters| {
                let store = store.clone();
                let next_id = next_id.clone();
                let embedded = embedded.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let before = embedded.commit_stats();
                        let started = Instant::now();
                        let tasks: Vec<_> = (0..writers)
                            .map(|_| {
                                let store = store.clone();
                                let next_id = next_id.clone();
                                tokio::spawn(async move {
                                    for _ in 0..per_writer {
                                        let id = next_id.fetch_add(1, Ordering::Relaxed);
                                        store.insert_messages(&[message(id)]).await.unwrap();
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                        let took = started.elapsed();
                        total += took;
                        let after = embedded.commit_stats();
                        let msgs = (writers * per_writer) as f64;
                        eprintln!(
                            "writers={writers}: {:.0} durable msgs/s, {} fsyncs, {:.1} msgs/fsync",
                            msgs / took.as_secs_f64(),
                            after.groups - before.groups,
                            msgs / (after.groups - before.groups).max(1) as f64
                        );
                    }
                    total
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
