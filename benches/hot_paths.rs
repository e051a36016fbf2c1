//! Per-request CPU costs on the accept path: HMAC verification, request parsing, phone
//! number validation, template rendering, the routing decision. Each reports operations per second.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use jood::domain::Channel;
use jood::store::{AllocationRecord, CredentialRecord, RoutingType};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_paths");
    g.throughput(Throughput::Elements(1));
    let body = br#"{"associationId":1,"recipient":"+966501234567","message":"Your verification code is 482901"}"#;
    let secret = b"jn_sec_0123456789abcdefghijklmnopqrstuv";
    let sig_hex = jood::auth::webhook::sign(secret, "1763700000000", body);
    let sig: [u8; 32] = hex::decode(&sig_hex).unwrap().try_into().unwrap();

    g.bench_function("hmac_verify_raw_body", |b| {
        b.iter(|| assert!(jood::auth::webhook::verify(black_box(secret), "1763700000000", black_box(body), None, &sig)))
    });
    g.bench_function("parse_json_body", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(body)).unwrap();
            black_box(v)
        })
    });
    let template = "Hello {{name}}, your order {{order}} ships on {{date}}. Reply STOP to opt out, {{name}}.";
    let vars: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(r#"{"name":"Amal","order":"A-10482","date":"21 Nov"}"#).unwrap();
    g.bench_function("template_render", |b| b.iter(|| jood::domain::template::render(black_box(template), &[&vars])));
    g.bench_function("phone_normalise", |b| b.iter(|| jood::domain::phone::normalise(black_box("+966501234567")).unwrap()));

    let creds: Vec<CredentialRecord> = (1..=6)
        .map(|i| CredentialRecord {
            association_id: 1,
            id: i,
            provider_id: 1 + i % 7,
            sender_name: "S".into(),
            credentials_sealed: vec![],
            api_url: None,
            is_default: i == 1,
            created_at: 0,
            updated_at: 0,
            version: 0,
        })
        .collect();
    let allocs: Vec<AllocationRecord> = (1..=10)
        .map(|i| AllocationRecord {
            association_id: 1,
            id: i,
            credential_id: 1 + i % 6,
            routing_type: if i % 3 == 0 { RoutingType::Exclude } else { RoutingType::Include },
            country_code: Some(["SA", "AE", "EG", "KW", "US"][i as usize % 5].into()),
            country_name: None,
            excluded_countries: vec!["SA".into()],
            priority: i as i32,
            created_at: 0,
            updated_at: 0,
            version: 0,
        })
        .collect();
    g.bench_function("routing_decision", |b| {
        b.iter(|| jood::dispatch::routing::route(black_box(Some("AE")), Channel::Sms, &creds, &allocs))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
