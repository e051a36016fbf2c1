//! The JSON body parsers (`ingress::json`) with the real request types: never a panic, a
//! body they accept is one serde_json accepts as a value, and it is valid UTF-8 without a
//! lone surrogate anywhere (the rule an unknown field must keep too).
#![no_main]

use jood::ingress::json::{check_text, parse, parse_borrowed};
use jood::ingress::signed::{BulkBody, NotificationRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let accepted = [
        parse::<NotificationRequest>(data).is_ok(),
        parse_borrowed::<BulkBody<'_>>(data).is_ok(),
        parse::<serde_json::Map<String, serde_json::Value>>(data).is_ok(),
    ];
    if accepted.iter().any(|a| *a) {
        assert!(check_text(data).is_ok());
        let text = std::str::from_utf8(data).expect("accepted bodies are UTF-8");
        let v: serde_json::Value = serde_json::from_str(text).expect("accepted bodies are JSON");
        assert!(v.is_object());
    }
    // serde_json itself refuses a lone surrogate wherever it decodes one; check_text must
    // agree on every string it decodes (it may refuse more: the skipped ones).
    if serde_json::from_slice::<serde_json::Value>(data).is_ok() {
        let _ = check_text(data).expect("a body serde_json fully decodes passes check_text");
    }
});
