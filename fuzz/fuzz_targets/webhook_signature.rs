//! The webhook signature check (`auth::webhook`): junk headers never panic, a signature made
//! with the secret always verifies (raw body, and its compact and ASCII-escaped forms when the
//! body is JSON), and a signature with any bit flipped never does.
#![no_main]

use jood::auth::webhook::{check_headers, escape_non_ascii, sign, verify, SignedRequest, MAX_SKEW_MS};
use libfuzzer_sys::fuzz_target;

/// Splits the input at the first two 0xff bytes: secret, timestamp text, body.
fn parts(data: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let mut it = data.splitn(3, |b| *b == 0xff);
    (it.next().unwrap_or_default(), it.next().unwrap_or_default(), it.next().unwrap_or_default())
}

fuzz_target!(|data: &[u8]| {
    let (secret, ts, body) = parts(data);
    let ts = String::from_utf8_lossy(ts);
    let now = 1_750_000_000_000;
    // Arbitrary header values: no panic, and only well-formed ones get through.
    let sig_text = String::from_utf8_lossy(body);
    let req = SignedRequest { signature: Some(&sig_text), timestamp: Some(&ts), body };
    if let Ok((ts_ms, _)) = check_headers(&req, now, MAX_SKEW_MS) {
        assert!((now - ts_ms).abs() <= MAX_SKEW_MS);
    }

    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let good = sign(secret, &ts, body);
    let mut raw = [0u8; 32];
    hex::decode_to_slice(&good, &mut raw).unwrap();
    assert!(verify(secret, &ts, body, parsed.as_ref(), &raw), "own signature over the raw body");
    let mut flipped = raw;
    flipped[body.len() % 32] ^= 1 << (secret.len() % 8);
    assert!(!verify(secret, &ts, body, parsed.as_ref(), &flipped), "a flipped bit verifies");

    if let Some(value) = &parsed {
        // A client that signed the compact or the ASCII-escaped form is accepted too ...
        let compact = serde_json::to_string(value).unwrap();
        let mut r = [0u8; 32];
        hex::decode_to_slice(sign(secret, &ts, compact.as_bytes()), &mut r).unwrap();
        assert!(verify(secret, &ts, body, parsed.as_ref(), &r), "compact form");
        let escaped = escape_non_ascii(&compact);
        assert!(escaped.is_ascii());
        // ... and the escaped text is the same JSON as the compact one. (Not compared with
        // `value` itself: serde_json without `float_roundtrip` may re-read a printed float as
        // its neighbour, e.g. 1.0000000000202457e20; found by this target.)
        let back: serde_json::Value = serde_json::from_str(&escaped).expect("escaped JSON parses");
        let again: serde_json::Value = serde_json::from_str(&compact).expect("compact JSON parses");
        assert_eq!(back, again);
        hex::decode_to_slice(sign(secret, &ts, escaped.as_bytes()), &mut r).unwrap();
        assert!(verify(secret, &ts, body, parsed.as_ref(), &r), "escaped form");
    }
});
