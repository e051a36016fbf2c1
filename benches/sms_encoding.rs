//! SMS encoding detection plus segment counting per message (`domain::sms::analyse`), the
//! cost every SMS send pays at ingress: GSM-7 texts (plain, with extension characters,
//! 1,530 characters), UCS-2 texts (Arabic, emoji) and mixed scripts; and smart encoding of a
//! text with curly quotes. Typical lengths must stay well under a microsecond.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use jood::domain::sms;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sms_encoding");
    g.throughput(Throughput::Elements(1));
    let long_gsm = "a".repeat(1530);
    let texts: [(&str, &str); 7] = [
        ("gsm_otp", "Your verification code is 482901. Do not share it with anyone."),
        ("gsm_extension", "Total: 25€ [incl. VAT] {ref ~ A|B} ^ see \\help"),
        ("gsm_latin1", "Ça coute 5£ à Zürich: ¿Qué tal? Grüße aus München, Åse & Øyvind"),
        ("ucs2_arabic", "رمز التحقق الخاص بك هو 482901. لا تشارك هذا الرمز مع أي شخص"),
        ("ucs2_emoji", "Your order shipped 🚚📦 — track it here 😀👍"),
        ("mixed_scripts", "Hello أحمد, your code is 482901 (valid 5 min)"),
        ("gsm_1530_chars", long_gsm.as_str()),
    ];
    for (name, text) in texts {
        g.bench_function(name, |b| b.iter(|| black_box(sms::analyse(black_box(text)))));
    }
    let curly = "It\u{2019}s ready \u{2014} \u{201C}see you soon\u{201D}\u{2026}";
    g.bench_function("smart_encode_curly_quotes", |b| b.iter(|| black_box(sms::smart_encode(black_box(curly)))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
